// Package platformstest is a local stand-in for the three platforms' viewer-count APIs
// (YouTube Data API v3 videos.list, Twitch Helix streams, Facebook Graph live videos),
// serving the documented JSON shapes and error answers, for tests: nothing reaches the
// internet.
package platformstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beffroi/beffroi/outputs/platforms"
)

// Failure is what a fake platform answers instead of a count.
type Failure string

// The failures a fake can be told to answer, each in the platform's documented shape.
const (
	None        Failure = ""
	RateLimit   Failure = "429"     // 429 with Retry-After (Twitch: Ratelimit-Reset too)
	Quota       Failure = "quota"   // YouTube: 403 quotaExceeded; Facebook: code 4; Twitch: 429
	Expired     Failure = "expired" // YouTube 401 authError, Twitch 401, Facebook code 190
	ServerError Failure = "500"
	Offline     Failure = "offline" // not live: YouTube without concurrentViewers, Twitch empty data
)

// Fake serves the three APIs on 127.0.0.1. The credentials it accepts are the ones in
// Credentials; others get the platform's 401.
type Fake struct {
	*httptest.Server

	mu       sync.Mutex
	viewers  map[string]int
	failures map[string]Failure
	requests map[string]int
	// RetryAfter is the Retry-After (seconds) of the 429s.
	RetryAfter int
}

// The credentials the fake accepts.
const (
	YouTubeKey     = "fake-youtube-api-key"
	YouTubeVideo   = "dQw4w9WgXcQ"
	TwitchClientID = "fake-twitch-client"
	TwitchToken    = "fake-twitch-token"
	TwitchLogin    = "villedarras"
	FacebookToken  = "fake-facebook-token"
	FacebookVideo  = "10158000000000001"
)

// Credentials returns credentials the fake accepts for platform.
func Credentials(platform string) platforms.Credentials {
	switch platform {
	case platforms.YouTube:
		return platforms.Credentials{Platform: platform, ID: YouTubeVideo, APIKey: YouTubeKey}
	case platforms.Twitch:
		return platforms.Credentials{Platform: platform, ID: TwitchLogin, ClientID: TwitchClientID, Token: TwitchToken}
	case platforms.Facebook:
		return platforms.Credentials{Platform: platform, ID: FacebookVideo, Token: FacebookToken}
	}
	return platforms.Credentials{Platform: platform}
}

// New starts a fake; it is closed when the test ends (t.Cleanup by the caller: Close).
func New() *Fake {
	f := &Fake{viewers: map[string]int{}, failures: map[string]Failure{}, requests: map[string]int{}, RetryAfter: 1}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /youtube/v3/videos", f.youtube)
	mux.HandleFunc("GET /helix/streams", f.twitch)
	mux.HandleFunc("GET /graph/{id}", f.facebook)
	f.Server = httptest.NewServer(mux)
	return f
}

// Endpoints are the fake's base URLs.
func (f *Fake) Endpoints() platforms.Endpoints {
	return platforms.Endpoints{YouTube: f.URL + "/youtube/v3", Twitch: f.URL + "/helix", Facebook: f.URL + "/graph"}
}

// SetViewers sets a platform's live count.
func (f *Fake) SetViewers(platform string, n int) {
	f.mu.Lock()
	f.viewers[platform] = n
	f.mu.Unlock()
}

// Fail makes a platform answer failure (None: counts again).
func (f *Fake) Fail(platform string, failure Failure) {
	f.mu.Lock()
	f.failures[platform] = failure
	f.mu.Unlock()
}

// Requests returns how many requests a platform got.
func (f *Fake) Requests(platform string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[platform]
}

func (f *Fake) take(platform string) (int, Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[platform]++
	return f.viewers[platform], f.failures[platform]
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func youtubeError(code int, reason, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"code": code, "message": msg,
		"errors": []map[string]any{{"message": msg, "domain": "youtube.quota", "reason": reason}}}}
}

func (f *Fake) youtube(w http.ResponseWriter, r *http.Request) {
	n, fail := f.take(platforms.YouTube)
	q := r.URL.Query()
	authed := q.Get("key") == YouTubeKey || r.Header.Get("Authorization") == "Bearer "+YouTubeKey
	switch {
	case fail == Expired || !authed:
		writeJSON(w, http.StatusUnauthorized, youtubeError(401, "authError", "Request had invalid authentication credentials."))
		return
	case fail == Quota:
		writeJSON(w, http.StatusForbidden, youtubeError(403, "quotaExceeded", "The request cannot be completed because you have exceeded your quota."))
		return
	case fail == RateLimit:
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		writeJSON(w, http.StatusTooManyRequests, youtubeError(429, "rateLimitExceeded", "Too many requests."))
		return
	case fail == ServerError:
		writeJSON(w, http.StatusInternalServerError, youtubeError(500, "backendError", "Backend Error"))
		return
	case q.Get("part") != "liveStreamingDetails":
		writeJSON(w, http.StatusBadRequest, youtubeError(400, "invalidPart", "part"))
		return
	}
	items := []any{}
	if q.Get("id") == YouTubeVideo {
		details := map[string]any{"actualStartTime": time.Now().UTC().Format(time.RFC3339)}
		if fail != Offline {
			details["concurrentViewers"] = strconv.Itoa(n) // a string, as documented
		}
		items = append(items, map[string]any{"kind": "youtube#video", "id": YouTubeVideo, "liveStreamingDetails": details})
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "youtube#videoListResponse", "items": items,
		"pageInfo": map[string]int{"totalResults": len(items), "resultsPerPage": len(items)}})
}

func (f *Fake) twitch(w http.ResponseWriter, r *http.Request) {
	n, fail := f.take(platforms.Twitch)
	authed := r.Header.Get("Client-Id") == TwitchClientID && r.Header.Get("Authorization") == "Bearer "+TwitchToken
	switch {
	case fail == Expired || !authed:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "Unauthorized", "status": 401, "message": "Invalid OAuth token"})
		return
	case fail == RateLimit || fail == Quota:
		w.Header().Set("Ratelimit-Limit", "800")
		w.Header().Set("Ratelimit-Remaining", "0")
		w.Header().Set("Ratelimit-Reset", strconv.FormatInt(time.Now().Add(time.Duration(f.RetryAfter)*time.Second).Unix(), 10))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "Too Many Requests", "status": 429, "message": "Too Many Requests"})
		return
	case fail == ServerError:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "Internal Server Error", "status": 500, "message": ""})
		return
	}
	data := []any{}
	if login := r.URL.Query().Get("user_login"); fail != Offline && strings.EqualFold(login, TwitchLogin) {
		data = append(data, map[string]any{"id": "40952121085", "user_login": TwitchLogin, "type": "live",
			"viewer_count": n, "started_at": time.Now().UTC().Format(time.RFC3339)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "pagination": map[string]any{}})
}

func fbError(code int, typ, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code, "fbtrace_id": "AbCdEf"}}
}

func (f *Fake) facebook(w http.ResponseWriter, r *http.Request) {
	n, fail := f.take(platforms.Facebook)
	authed := r.Header.Get("Authorization") == "Bearer "+FacebookToken || r.URL.Query().Get("access_token") == FacebookToken
	switch {
	case fail == Expired || !authed:
		writeJSON(w, http.StatusBadRequest, fbError(190, "OAuthException", "Error validating access token: Session has expired."))
		return
	case fail == Quota:
		writeJSON(w, http.StatusForbidden, fbError(4, "OAuthException", "Application request limit reached"))
		return
	case fail == RateLimit:
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		writeJSON(w, http.StatusBadRequest, fbError(32, "OAuthException", "Page request limit reached"))
		return
	case fail == ServerError:
		writeJSON(w, http.StatusInternalServerError, fbError(2, "OAuthException", "An unexpected error has occurred."))
		return
	case r.PathValue("id") != FacebookVideo:
		writeJSON(w, http.StatusBadRequest, fbError(100, "GraphMethodException", fmt.Sprintf("Object with ID '%s' does not exist", r.PathValue("id"))))
		return
	}
	status := "LIVE"
	if fail == Offline {
		status = "SCHEDULED_UNPUBLISHED"
	}
	writeJSON(w, http.StatusOK, map[string]any{"live_views": n, "status": status, "id": FacebookVideo})
}
