package platforms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The platforms whose viewer counts Beffroi reads.
const (
	YouTube  = "youtube"
	Twitch   = "twitch"
	Facebook = "facebook"
)

// The real APIs; Endpoints overrides them (the tests' fakes).
const (
	DefaultYouTubeURL  = "https://www.googleapis.com/youtube/v3"
	DefaultTwitchURL   = "https://api.twitch.tv/helix"
	DefaultFacebookURL = "https://graph.facebook.com/v21.0"
)

// Credentials say which live video to read and with what right. They are secrets (except
// Platform and ID): stored, never shown.
type Credentials struct {
	Platform string `json:"platform"`
	// ID is the YouTube video ID of the broadcast, the Twitch channel's login, or the
	// Facebook live video's ID.
	ID string `json:"id"`
	// APIKey is a YouTube Data API key (or Token, an OAuth access token).
	APIKey string `json:"api_key,omitempty"`
	// Token is an OAuth access token: YouTube (instead of an API key), Twitch (app or user
	// token, with ClientID), Facebook (a page or user access token).
	Token string `json:"token,omitempty"`
	// ClientID is the Twitch application's client ID.
	ClientID string `json:"client_id,omitempty"`
}

// Validate says what is missing, naming the field.
func (c Credentials) Validate() error {
	if strings.TrimSpace(c.ID) == "" {
		return fmt.Errorf("%s: id is required (%s)", c.Platform, idHelp(c.Platform))
	}
	if strings.ContainsAny(c.ID, "/?#&% ") {
		return fmt.Errorf("%s: id %q is not a valid %s", c.Platform, c.ID, idHelp(c.Platform))
	}
	switch c.Platform {
	case YouTube:
		if c.APIKey == "" && c.Token == "" {
			return errors.New("youtube: an api_key or an OAuth token is required")
		}
	case Twitch:
		if c.ClientID == "" || c.Token == "" {
			return errors.New("twitch: client_id and token are both required")
		}
	case Facebook:
		if c.Token == "" {
			return errors.New("facebook: an access token is required")
		}
	default:
		return fmt.Errorf("platform must be %q, %q or %q (got %q)", YouTube, Twitch, Facebook, c.Platform)
	}
	return nil
}

func idHelp(platform string) string {
	switch platform {
	case YouTube:
		return "the broadcast's video ID, as in youtube.com/watch?v=<id>"
	case Twitch:
		return "the channel's login, as in twitch.tv/<login>"
	case Facebook:
		return "the live video's ID"
	}
	return "ID"
}

// Endpoints are the APIs' base URLs; an empty one is the real API.
type Endpoints struct {
	YouTube, Twitch, Facebook string
}

// Kind says what went wrong, so the poller knows when to try again and the console what
// to tell the operator.
type Kind string

// The kinds of failure.
const (
	// RateLimited: the platform asked us to slow down (429, a quota, Facebook's
	// throttling codes); Error.RetryAfter says when to come back, when the platform said.
	RateLimited Kind = "rate_limited"
	// Unauthorized: the token or key is invalid or expired.
	Unauthorized Kind = "token_expired"
	// NotFound: no such video or channel (a wrong ID).
	NotFound Kind = "not_found"
	// Failed: anything else (a 500, the network, a body that is not the documented JSON).
	Failed Kind = "error"
)

// Error is a failed read of a viewer count. Its text holds no secret.
type Error struct {
	Kind       Kind
	RetryAfter time.Duration // zero: the platform did not say
	Msg        string
}

func (e *Error) Error() string { return e.Msg }

// ErrOffline is returned when the platform answers that the broadcast is not live (Twitch's
// empty data, a YouTube video without concurrent viewers).
var ErrOffline = errors.New("the platform says the broadcast is not live")

// Client reads viewer counts. The zero value uses http.DefaultClient and the real APIs.
type Client struct {
	HTTP      *http.Client
	Endpoints Endpoints
	// Now is the clock for Twitch's Ratelimit-Reset and YouTube's quota day (nil: time.Now).
	Now func() time.Time
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func orDefault(u, def string) string {
	if u == "" {
		return def
	}
	return strings.TrimRight(u, "/")
}

// maxBody bounds what is read of an answer: the documented ones are a few hundred bytes.
const maxBody = 64 << 10

// Viewers returns the live viewer count of the broadcast cred names.
func (c *Client) Viewers(ctx context.Context, cred Credentials) (int, error) {
	switch cred.Platform {
	case YouTube:
		return c.youtube(ctx, cred)
	case Twitch:
		return c.twitch(ctx, cred)
	case Facebook:
		return c.facebook(ctx, cred)
	}
	return 0, &Error{Kind: Failed, Msg: fmt.Sprintf("unknown platform %q", cred.Platform)}
}

// answer is what is kept of a platform's response once its body is read and closed.
type answer struct {
	StatusCode int
	Status     string
	Header     http.Header
}

// get sends a GET of u with the headers hdr and returns the status, headers and body. A
// transport error's text leaves the URL out: it may hold a key.
func (c *Client) get(ctx context.Context, platform, u string, hdr map[string]string) (answer, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return answer{}, nil, &Error{Kind: Failed, Msg: platform + ": the API's base URL is not a URL"}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return answer{}, nil, &Error{Kind: Failed, Msg: fmt.Sprintf("%s: %v", platform, err)}
	}
	defer func() { _ = resp.Body.Close() }()
	a := answer{StatusCode: resp.StatusCode, Status: resp.Status, Header: resp.Header}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return a, nil, &Error{Kind: Failed, Msg: fmt.Sprintf("%s: reading the answer: %v", platform, err)}
	}
	return a, body, nil
}

// retryAfter reads a Retry-After header (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// youtube: GET videos?part=liveStreamingDetails&id=<id>. concurrentViewers is a string of
// digits in the documented answer; it is absent once the broadcast has ended or before it
// starts.
func (c *Client) youtube(ctx context.Context, cred Credentials) (int, error) {
	q := url.Values{"part": {"liveStreamingDetails"}, "id": {cred.ID}}
	if cred.APIKey != "" {
		q.Set("key", cred.APIKey)
	}
	hdr := map[string]string{}
	if cred.APIKey == "" {
		hdr["Authorization"] = "Bearer " + cred.Token
	}
	resp, body, err := c.get(ctx, YouTube, orDefault(c.Endpoints.YouTube, DefaultYouTubeURL)+"/videos?"+q.Encode(), hdr)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Errors  []struct {
					Reason string `json:"reason"`
				} `json:"errors"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		reason := ""
		if len(e.Error.Errors) > 0 {
			reason = e.Error.Errors[0].Reason
		}
		msg := fmt.Sprintf("youtube: %s", resp.Status)
		if reason != "" {
			msg += " (" + reason + ")"
		}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests || reason == "quotaExceeded" || reason == "rateLimitExceeded" ||
			reason == "dailyLimitExceeded" || reason == "userRateLimitExceeded":
			ra := retryAfter(resp.Header, c.now())
			if ra == 0 && (reason == "quotaExceeded" || reason == "dailyLimitExceeded") {
				ra = untilPacificMidnight(c.now())
			}
			return 0, &Error{Kind: RateLimited, RetryAfter: ra, Msg: msg}
		case resp.StatusCode == http.StatusUnauthorized || reason == "keyInvalid" || reason == "authError" || reason == "keyExpired":
			return 0, &Error{Kind: Unauthorized, Msg: msg}
		case resp.StatusCode == http.StatusNotFound:
			return 0, &Error{Kind: NotFound, Msg: msg}
		}
		return 0, &Error{Kind: Failed, Msg: msg}
	}
	var v struct {
		Items []struct {
			LiveStreamingDetails struct {
				ConcurrentViewers json.Number `json:"concurrentViewers"`
			} `json:"liveStreamingDetails"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, &Error{Kind: Failed, Msg: "youtube: the answer is not the documented JSON: " + err.Error()}
	}
	if len(v.Items) == 0 {
		return 0, &Error{Kind: NotFound, Msg: fmt.Sprintf("youtube: no video %q (check the video ID)", cred.ID)}
	}
	cv := v.Items[0].LiveStreamingDetails.ConcurrentViewers
	if cv == "" {
		return 0, ErrOffline
	}
	n, err := strconv.Atoi(string(cv))
	if err != nil || n < 0 {
		return 0, &Error{Kind: Failed, Msg: fmt.Sprintf("youtube: concurrentViewers %q is not a count", cv)}
	}
	return n, nil
}

// untilPacificMidnight is how long YouTube's daily quota stays spent: it resets at midnight,
// Pacific time. (A fixed UTC-8 is close enough when the zone database is missing; the
// summer hour only makes the wait an hour longer.)
func untilPacificMidnight(now time.Time) time.Duration {
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		loc = time.FixedZone("PST", -8*3600)
	}
	t := now.In(loc)
	next := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
	return next.Sub(now)
}

// twitch: GET streams?user_login=<login> with Client-Id and a Bearer token. An empty data
// array means the channel is offline.
func (c *Client) twitch(ctx context.Context, cred Credentials) (int, error) {
	q := url.Values{"user_login": {cred.ID}}
	resp, body, err := c.get(ctx, Twitch, orDefault(c.Endpoints.Twitch, DefaultTwitchURL)+"/streams?"+q.Encode(),
		map[string]string{"Client-Id": cred.ClientID, "Authorization": "Bearer " + cred.Token})
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		msg := fmt.Sprintf("twitch: %s", resp.Status)
		if e.Message != "" {
			msg += ": " + e.Message
		}
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			ra := retryAfter(resp.Header, c.now())
			if reset, err := strconv.ParseInt(resp.Header.Get("Ratelimit-Reset"), 10, 64); err == nil {
				if d := time.Unix(reset, 0).Sub(c.now()); d > ra {
					ra = d
				}
			}
			return 0, &Error{Kind: RateLimited, RetryAfter: ra, Msg: msg}
		case http.StatusUnauthorized:
			return 0, &Error{Kind: Unauthorized, Msg: msg}
		case http.StatusNotFound:
			return 0, &Error{Kind: NotFound, Msg: msg}
		}
		return 0, &Error{Kind: Failed, Msg: msg}
	}
	var v struct {
		Data []struct {
			ViewerCount *int `json:"viewer_count"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, &Error{Kind: Failed, Msg: "twitch: the answer is not the documented JSON: " + err.Error()}
	}
	if len(v.Data) == 0 {
		return 0, ErrOffline
	}
	if v.Data[0].ViewerCount == nil || *v.Data[0].ViewerCount < 0 {
		return 0, &Error{Kind: Failed, Msg: "twitch: the stream has no viewer_count"}
	}
	return *v.Data[0].ViewerCount, nil
}

// facebook: GET /<live video id>?fields=live_views with an access token. Errors come as
// {"error":{"code":N,...}}: 190 is an invalid or expired token; 4, 17, 32 and 613 are the
// rate limits.
func (c *Client) facebook(ctx context.Context, cred Credentials) (int, error) {
	q := url.Values{"fields": {"live_views,status"}}
	resp, body, err := c.get(ctx, Facebook, orDefault(c.Endpoints.Facebook, DefaultFacebookURL)+"/"+url.PathEscape(cred.ID)+"?"+q.Encode(),
		map[string]string{"Authorization": "Bearer " + cred.Token})
	if err != nil {
		return 0, err
	}
	var v struct {
		LiveViews *int   `json:"live_views"`
		Status    string `json:"status"`
		Error     *struct {
			Code    int    `json:"code"`
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	jerr := json.Unmarshal(body, &v)
	if v.Error != nil || resp.StatusCode != http.StatusOK {
		code := 0
		msg := fmt.Sprintf("facebook: %s", resp.Status)
		if v.Error != nil {
			code = v.Error.Code
			msg += fmt.Sprintf(" (code %d)", code)
		}
		switch {
		case code == 4 || code == 17 || code == 32 || code == 613 || resp.StatusCode == http.StatusTooManyRequests:
			return 0, &Error{Kind: RateLimited, RetryAfter: retryAfter(resp.Header, c.now()), Msg: msg}
		case code == 190 || code == 102 || resp.StatusCode == http.StatusUnauthorized:
			return 0, &Error{Kind: Unauthorized, Msg: msg}
		case code == 100 || code == 803 || resp.StatusCode == http.StatusNotFound:
			return 0, &Error{Kind: NotFound, Msg: msg}
		}
		return 0, &Error{Kind: Failed, Msg: msg}
	}
	if jerr != nil {
		return 0, &Error{Kind: Failed, Msg: "facebook: the answer is not the documented JSON: " + jerr.Error()}
	}
	if v.Status != "" && v.Status != "LIVE" {
		return 0, ErrOffline
	}
	if v.LiveViews == nil || *v.LiveViews < 0 {
		return 0, &Error{Kind: Failed, Msg: "facebook: the answer has no live_views"}
	}
	return *v.LiveViews, nil
}
