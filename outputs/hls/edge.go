package hls

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Serving through caching edges (nginx proxy_cache, Varnish, a CDN: deploy/edges).
//
// An edge shares one copy of each response among its viewers, so the URLs it caches must be
// the same for every viewer: no session token in them. The shipped edge configurations mark
// the requests they forward with EdgeHeader; the multivariant playlist (never cached: it is
// no-store) then writes its media playlist URLs without the player's token, and hands the
// token in an EXT-X-SESSION-DATA tag instead (SessionDataID), where the watch page reads it
// for its beacons. Those viewers are counted by their beacons alone (deduplicated with any
// playlist request carrying the same token: one token, one viewer). A player reaching the
// origin directly keeps its token in its media playlist URLs and is counted exactly, by its
// playlist requests, as before. Nothing else changes with the header: a client that sends it
// to the origin itself only loses its own playlist-based count.

// EdgeHeader is the request header an edge sets on the requests it forwards to the origin.
const EdgeHeader = "X-Beffroi-Edge"

// SessionDataID is the DATA-ID of the EXT-X-SESSION-DATA tag that carries a player's session
// token in the multivariant playlist.
const SessionDataID = "fr.beffroi.session"

// fromEdge reports whether r was forwarded by a caching edge.
func fromEdge(r *http.Request) bool { return r.Header.Get(EdgeHeader) != "" }

// sessionData returns the multivariant playlist's tag carrying token.
func sessionData(token string) string {
	return `#EXT-X-SESSION-DATA:DATA-ID="` + SessionDataID + `",VALUE="` + token + "\"\n"
}

// goneError answers a request for a part or segment that is not in the live window: gone
// from it for good (a player far behind), or never made (names carry the muxer's random
// prefix; players ask only for what a playlist announced, and a preload hint is waited for,
// not refused). Either way the answer holds: an edge may keep it a moment, so that a crowd
// of players behind costs the origin one request per name, not one per player.
func goneError(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", cacheGone)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte("not found (gone from the live window, or never made)\n"))
}

// cacheGone is the Cache-Control of goneError.
const cacheGone = "public, max-age=2"

// Blocking playlist responses (a request with _HLS_msn, and _HLS_part) are the playlist as it
// was when the part asked for was made: every later request with the same parameters may get
// that same answer, so an edge keeps it for several target durations and serves it to each
// viewer asking for that part (one origin request per part and edge, not one per viewer).
// The plain playlist (no parameter) changes with every part and keeps cachePlaylist (1 s).
const blockingTargets = 6

//nolint:gochecknoglobals // read-only values, one per target duration, shared to save an allocation per request
var blockingCache sync.Map // time.Duration -> []string

// blockingCacheControl returns the Cache-Control of a blocking response of a playlist of
// target duration target.
func blockingCacheControl(target time.Duration) []string {
	if v, ok := blockingCache.Load(target); ok {
		return v.([]string)
	}
	secs := max(int64(blockingTargets*target/time.Second), blockingTargets)
	h := []string{"public, max-age=" + strconv.FormatInt(secs, 10)}
	blockingCache.Store(target, h)
	return h
}
