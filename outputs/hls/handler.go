package hls

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beffroi/beffroi/internal/clientip"
	"github.com/beffroi/beffroi/relay/audience"
)

// Cache headers. Playlists change every part; segments, parts and init segments never change
// once made (their names carry the muxer's random prefix), so caches keep them for good. The
// multivariant playlist carries a session token of its own for each player: no shared cache
// may keep it.
const (
	cachePlaylist     = "public, max-age=1"
	cacheMultivariant = "private, no-store"
	cacheImmutable    = "public, max-age=31536000, immutable"
	cacheError        = "no-store"
	ctypePlaylist     = "application/vnd.apple.mpegurl"
)

// Header values shared by every response, so that setting them neither canonicalises nor
// allocates (a playlist request costs well under a microsecond). Never modified.
//
//nolint:gochecknoglobals // read-only, shared to save an allocation per request
var (
	hCachePlaylist  = []string{cachePlaylist}
	hCacheImmutable = []string{cacheImmutable}
	hCtypePlaylist  = []string{ctypePlaylist}
	hCtypeVideo     = []string{"video/mp4"}
	hCtypeAudio     = []string{"audio/mp4"}
)

func ctypeHeader(ctype string) []string {
	if ctype == "audio/mp4" {
		return hCtypeAudio
	}
	return hCtypeVideo
}

// Handler serves /hls/<stream>/index.m3u8 and everything it leads to.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := w.Header()
	if slices.Contains(s.o.AllowOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	h.Add("Vary", "Origin")
	if slices.Contains(s.o.AllowOrigins, origin) {
		h.Set("Access-Control-Allow-Origin", origin)
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Cache-Control", cacheError)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}

// query holds the parameters players send.
type query struct {
	session       string
	msn, part     int64 // -1 when absent
	hasMSN, badQ  bool
	hasPart, skip bool
}

// parseQuery reads the few parameters we use without url.ParseQuery's allocations.
func parseQuery(raw string) query {
	q := query{msn: -1, part: -1}
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "session":
			q.session = v
		case "_HLS_msn":
			n, err := strconv.ParseInt(v, 10, 64)
			q.msn, q.hasMSN, q.badQ = n, true, q.badQ || err != nil || n < 0
		case "_HLS_part":
			n, err := strconv.ParseInt(v, 10, 64)
			q.part, q.hasPart, q.badQ = n, true, q.badQ || err != nil || n < 0
		case "_HLS_skip":
			q.skip = true
		}
	}
	return q
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.cors(w, r)
	if r.Method == http.MethodOptions {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/hls/")
	stream, name, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || stream == "" || name == "" || strings.Contains(name, "/") {
		httpError(w, http.StatusNotFound, "not found: use /hls/<stream>/index.m3u8")
		return
	}
	l := s.liveOf(stream)
	if l == nil {
		l = s.waitLive(r.Context(), stream)
	}
	if l == nil {
		httpError(w, http.StatusNotFound, "stream not live: "+stream)
		return
	}
	q := parseQuery(r.URL.RawQuery)
	switch {
	case name == "index.m3u8":
		s.serveMultivariant(w, r, l, q)
	case strings.HasSuffix(name, "_stream.m3u8"):
		s.serveMedia(w, r, l, strings.TrimSuffix(name, "_stream.m3u8"), q)
	case strings.HasSuffix(name, ".mp4"):
		s.serveFile(w, r, l, name)
	default:
		httpError(w, http.StatusNotFound, "not found: "+name)
	}
}

// waitReady waits for the stream's first playlists (a viewer arriving in the first second of
// a live session).
func waitReady(r *http.Request, l *live) bool {
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-l.ready:
		return true
	case <-r.Context().Done():
	case <-t.C:
	}
	return false
}

func (s *Server) serveMultivariant(w http.ResponseWriter, r *http.Request, l *live, q query) {
	if !waitReady(r, l) {
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "the stream's playlists are not ready yet")
		return
	}
	l.ladder.want()
	if ch := l.ladder.pending(); ch != nil {
		// The adaptive ladder is starting: players read this playlist once, so it waits for
		// the rungs (a few seconds, once per live session) rather than offer the source alone.
		t := time.NewTimer(ladderWait)
		select {
		case <-ch:
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
		t.Stop()
	}
	l.mu.Lock()
	mv, ended := l.mv, l.ended
	l.mu.Unlock()
	if ended || mv == nil {
		httpError(w, http.StatusNotFound, "stream not live: "+l.stream)
		return
	}
	// A player that keeps its token (the watch page reloading keeps it in sessionStorage)
	// stays one viewer. A new player, or one whose token no longer holds (older than its
	// bound, or of a previous live session), gets a new one, within its address's mint
	// limit. Nothing is counted here: a token counts once its player reloads its media
	// playlist, or beacons (see Sessions).
	token := ""
	preview := r.Header.Get(audience.PreviewHeader) != "" && s.o.Operator != nil && s.o.Operator(r)
	if s.sessions != nil && !preview {
		if q.session != "" && s.sessions.ValidToken(l.stream, l.event, q.session) {
			token = q.session
		} else {
			token = s.sessions.Mint(l.stream, l.event, clientip.Key(clientip.Addr(r)))
		}
	}
	// Through an edge, the media playlist URLs stay the same for every viewer (see edge.go).
	inURL := token != "" && !fromEdge(r)
	size := 0
	for _, p := range mv {
		size += len(p) + len("?session=") + len(token)
	}
	b := make([]byte, 0, size+len(sessionData(token)))
	for _, p := range mv {
		b = append(b, p...)
		if inURL && len(p) >= len("_stream.m3u8") && string(p[len(p)-len("_stream.m3u8"):]) == "_stream.m3u8" {
			b = append(b, "?session="...)
			b = append(b, token...)
		}
	}
	if token != "" {
		if len(b) > 0 && b[len(b)-1] != '\n' {
			b = append(b, '\n')
		}
		b = append(b, sessionData(token)...)
	}
	h := w.Header()
	h.Set("Content-Type", ctypePlaylist)
	h.Set("Cache-Control", cacheMultivariant)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request, l *live, id string, q query) {
	l.ladder.played()
	// A rung of the ladder is served from its own muxer's playlists, counted as the stream's.
	pl := l
	if g, inner := l.ladder.rung(id); g != nil {
		pl, id = g.l, inner
	}
	rd := pl.rendition(id)
	if rd == nil {
		httpError(w, http.StatusNotFound, "no such playlist")
		return
	}
	if q.badQ || (q.hasPart && !q.hasMSN) {
		httpError(w, http.StatusBadRequest, "bad _HLS_msn or _HLS_part")
		return
	}
	snap := rd.snap.Load()
	if snap == nil {
		if !waitReady(r, pl) {
			w.Header().Set("Retry-After", "1")
			httpError(w, http.StatusServiceUnavailable, "the stream's playlists are not ready yet")
			return
		}
		if snap = rd.snap.Load(); snap == nil {
			httpError(w, http.StatusNotFound, "stream not live: "+l.stream)
			return
		}
	}
	// The media playlist URL is where the token reaches the server: parts and segments are
	// shared by every viewer (one URL each, cached for good), so they carry none.
	if q.session != "" && s.sessions != nil {
		s.sessions.Playlist(l.stream, l.event, q.session)
	}
	if q.hasMSN {
		msn := uint64(q.msn)
		if msn > snap.next+1 {
			httpError(w, http.StatusBadRequest, "_HLS_msn is too far ahead of the live edge")
			return
		}
		p := int(q.part)
		if !q.hasPart {
			p = -1
		}
		// Blocking playlist reload: hold the request until the playlist has the part asked
		// for, for a few target durations at most.
		var t *time.Timer
		for !snap.has(msn, p) {
			if t == nil {
				t = time.NewTimer(max(3*snap.target, 3*time.Second))
				defer t.Stop()
			}
			select {
			case <-snap.updated:
			case <-r.Context().Done():
				return
			case <-t.C:
				w.Header().Set("Retry-After", "1")
				httpError(w, http.StatusServiceUnavailable, "no new part: the stream is paused")
				return
			}
			if snap = rd.snap.Load(); snap == nil {
				httpError(w, http.StatusNotFound, "stream not live: "+l.stream)
				return
			}
		}
	}
	h := w.Header()
	h["Content-Type"] = hCtypePlaylist
	h["Cache-Control"] = hCachePlaylist
	if q.hasMSN {
		h["Cache-Control"] = blockingCacheControl(snap.target)
	}
	h["Content-Length"] = []string{strconv.Itoa(len(snap.playlist))}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(snap.playlist)
	}
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, l *live, name string) {
	var t *time.Timer
	for {
		f, waitOn, ok := l.find(name)
		if f != nil {
			h := w.Header()
			h["Content-Type"] = ctypeHeader(f.ctype)
			h["Cache-Control"] = hCacheImmutable
			h["Content-Length"] = []string{strconv.Itoa(f.size)}
			w.WriteHeader(http.StatusOK)
			if r.Method != http.MethodHead {
				for _, c := range f.chunks {
					if _, err := w.Write(c); err != nil {
						return
					}
				}
			}
			return
		}
		if !ok {
			goneError(w)
			return
		}
		// The part announced by the preload hint: answer as soon as it is made.
		if t == nil {
			t = time.NewTimer(5 * time.Second)
			defer t.Stop()
		}
		select {
		case <-waitOn:
		case <-r.Context().Done():
			return
		case <-t.C:
			w.Header().Set("Retry-After", "1")
			httpError(w, http.StatusServiceUnavailable, "the part is late: the stream is paused")
			return
		}
	}
}

// rendition returns the media playlist id of the stream's current muxer, or nil.
func (l *live) rendition(id string) *rendition {
	m := l.view.Load()
	if m == nil {
		return nil
	}
	return (*m)[id]
}

// find returns the prepared file name, or, when name is a part announced by a preload hint,
// the channel that signals the next update: the stream's own, or a rung's.
func (l *live) find(name string) (*file, <-chan struct{}, bool) {
	if f, waitOn, ok := l.findOwn(name); ok {
		return f, waitOn, ok
	}
	if p := l.ladder.rungs.Load(); p != nil {
		for _, g := range *p {
			if f, waitOn, ok := g.l.findOwn(name); ok {
				return f, waitOn, ok
			}
		}
	}
	return nil, nil, false
}

// findOwn is find in the live's own playlists.
func (l *live) findOwn(name string) (*file, <-chan struct{}, bool) {
	m := l.view.Load()
	if m == nil {
		return nil, nil, false
	}
	for _, rd := range *m {
		snap := rd.snap.Load()
		if snap == nil {
			continue
		}
		if f := snap.files[name]; f != nil {
			return f, nil, true
		}
		if name == snap.preload {
			return nil, snap.updated, true
		}
	}
	return nil, nil, false
}
