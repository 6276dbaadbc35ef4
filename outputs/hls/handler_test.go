package hls

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay/audience"
)

// testLive builds a stream's live HLS by hand: one rendition "video1" with two complete
// segments of three parts each and one part of the segment in progress.
func testLive(t testing.TB) (*Server, *live, *rendition) {
	t.Helper()
	counter := audience.New(audience.Options{Secret: []byte("k")})
	s := New(nil, nil, counter, Options{AllowOrigins: []string{"https://town.example"}}, nil)
	l := newLive("fete")
	r := newRendition("video1")
	r.initURI = "p_video1_init.mp4"
	r.inits[r.initURI] = []byte("init")
	r.partTgt = 200 * time.Millisecond
	n := 0
	mk := func() *part {
		n++
		return &part{name: "p_video1_part" + itoa(n) + ".mp4", dur: 200 * time.Millisecond, indep: n%3 == 1, data: []byte("part" + itoa(n))}
	}
	for i := range 2 {
		seg := &segment{msn: uint64(i), initURI: r.initURI, name: "p_video1_seg" + itoa(i) + ".mp4", pdt: time.Unix(1e9, 0)}
		for range 3 {
			p := mk()
			seg.parts = append(seg.parts, p)
			seg.dur += p.dur
		}
		r.add(seg)
	}
	r.cur = []*part{mk()}
	r.preload = "p_video1_part" + itoa(n+1) + ".mp4"
	r.publish()
	l.rends["video1"] = r
	view := map[string]*rendition{"video1": r}
	l.view.Store(&view)
	l.order = []string{"video1"}
	l.mv = [][]byte{[]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nvideo1_stream.m3u8"), []byte("\n")}
	l.signalReady()
	s.lives["fete"] = l
	return s, l, r
}

func itoa(i int) string { return fmt.Sprintf("%02d", i) }

func get(s *Server, url string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	return w
}

func TestSnapshotHas(t *testing.T) {
	_, _, r := testLive(t)
	s := r.snap.Load()
	for _, c := range []struct {
		msn  uint64
		part int
		want bool
	}{
		{0, 0, true}, {1, 2, true}, {1, 3, true}, // part 3 of a 3-part segment: part 0 of the next
		{1, 4, true}, {2, 0, true}, {2, 1, false}, {3, 0, false}, {1, -1, true}, {2, -1, false},
	} {
		if got := s.has(c.msn, c.part); got != c.want {
			t.Errorf("has(%d, %d) = %v, want %v", c.msn, c.part, got, c.want)
		}
	}
}

func TestMediaPlaylist(t *testing.T) {
	s, _, _ := testLive(t)
	w := get(s, "/hls/fete/video1_stream.m3u8")
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	body := w.Body.String()
	for _, want := range []string{
		"#EXT-X-TARGETDURATION:1\n", "#EXT-X-MEDIA-SEQUENCE:0\n", "CAN-BLOCK-RELOAD=YES",
		`#EXT-X-MAP:URI="p_video1_init.mp4"`, "p_video1_seg01.mp4\n",
		`#EXT-X-PART:DURATION=0.20000,URI="p_video1_part07.mp4",INDEPENDENT=YES`,
		`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p_video1_part08.mp4"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("playlist without %q:\n%s", want, body)
		}
	}
	if h := w.Header(); h.Get("Cache-Control") != cachePlaylist || h.Get("Content-Type") != ctypePlaylist {
		t.Errorf("headers %v", h)
	}
}

func TestFiles(t *testing.T) {
	s, _, _ := testLive(t)
	w := get(s, "/hls/fete/p_video1_seg01.mp4")
	if w.Code != http.StatusOK || w.Body.String() != "part04part05part06" {
		t.Fatalf("segment: %d %q, want the concatenation of its parts", w.Code, w.Body)
	}
	if w.Header().Get("Cache-Control") != cacheImmutable || w.Header().Get("Content-Type") != "video/mp4" {
		t.Errorf("segment headers %v", w.Header())
	}
	for path, code := range map[string]int{
		"/hls/fete/p_video1_part07.mp4": 200, "/hls/fete/p_video1_init.mp4": 200,
		"/hls/fete/p_video1_part99.mp4": 404, "/hls/other/index.m3u8": 404, "/hls/fete/x.txt": 404,
		"/hls/fete/": 404, "/hls/fete/a/b.mp4": 404,
		"/hls/fete/video1_stream.m3u8?_HLS_msn=x":             400,
		"/hls/fete/video1_stream.m3u8?_HLS_part=1":            400,
		"/hls/fete/video1_stream.m3u8?_HLS_msn=9":             400, // too far ahead
		"/hls/fete/video1_stream.m3u8?_HLS_msn=-1":            400,
		"/hls/fete/audio9_stream.m3u8":                        404,
		"/hls/fete/video1_stream.m3u8?_HLS_msn=1&_HLS_part=1": 200,
	} {
		if w := get(s, path); w.Code != code {
			t.Errorf("GET %s: %d, want %d (%s)", path, w.Code, code, w.Body)
		}
	}
}

// tokenOf returns the session token of a multivariant playlist's media playlist URL.
func tokenOf(t *testing.T, body string) string {
	t.Helper()
	_, tok, ok := strings.Cut(body, "video1_stream.m3u8?session=")
	tok, _, _ = strings.Cut(tok, "\n")
	if !ok || len(tok) != 28 {
		t.Fatalf("no session token in:\n%s", body)
	}
	return tok
}

func TestMultivariantToken(t *testing.T) {
	s, _, _ := testLive(t)
	w := get(s, "/hls/fete/index.m3u8", "Origin", "https://town.example")
	tok := tokenOf(t, w.Body.String())
	if w.Header().Get("Cache-Control") != cacheMultivariant || w.Header().Get("Access-Control-Allow-Origin") != "https://town.example" {
		t.Errorf("headers %v", w.Header())
	}
	// A reload with the token keeps it; a made-up token gets a new one.
	if b := get(s, "/hls/fete/index.m3u8?session="+tok).Body.String(); !strings.Contains(b, "session="+tok) {
		t.Errorf("the token was not kept on reload:\n%s", b)
	}
	forged := strings.Repeat("A", 28)
	if b := get(s, "/hls/fete/index.m3u8?session="+forged).Body.String(); strings.Contains(b, "session="+forged) {
		t.Error("a forged token was handed back")
	}
	if w := get(s, "/hls/fete/index.m3u8", "Origin", "https://other.example"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("an origin not allowed got CORS")
	}
	c := s.sessions.(*audience.Counter)
	if n := c.Now("fete")["hls"]; n != 0 {
		t.Errorf("hls sessions %d after multivariant requests alone, want 0 (nothing played)", n)
	}
	// The player loads its media playlist, then reloads it: one viewer from then on.
	get(s, "/hls/fete/video1_stream.m3u8?session="+tok)
	if n := c.Now("fete")["hls"]; n != 0 {
		t.Errorf("hls sessions %d after one media playlist request, want 0", n)
	}
	get(s, "/hls/fete/video1_stream.m3u8?session="+tok+"&_HLS_msn=1&_HLS_part=1")
	get(s, "/hls/fete/video1_stream.m3u8?session="+tok)
	if n := c.Now("fete")["hls"]; n != 1 {
		t.Errorf("hls sessions %d once the player reloads, want 1", n)
	}
	// A token of another live session of the stream is refused, and replaced.
	old := c.NewToken("fete", 99)
	get(s, "/hls/fete/video1_stream.m3u8?session="+old)
	get(s, "/hls/fete/video1_stream.m3u8?session="+old)
	if n := c.Now("fete")["hls"]; n != 1 {
		t.Errorf("hls sessions %d after a previous session's token played, want 1", n)
	}
	if b := get(s, "/hls/fete/index.m3u8?session="+old).Body.String(); strings.Contains(b, "session="+old) {
		t.Error("a previous live session's token was handed back")
	}
}

// TestFlood: 10,000 playlist requests from one address (the clock does not move: as fast as
// can be) move the count by at most MintBurst + 1 (its burst of tokens, then the one token its
// other players share), even when each asks for its media playlist twice as a player would;
// multivariant requests alone move it by nothing. Another address still gets its own tokens.
// (The documented amount: README, "Viewer counts".)
func TestFlood(t *testing.T) {
	clk := time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)
	counter := audience.New(audience.Options{Secret: []byte("k"), Clock: func() time.Time { return clk }})
	s, _, _ := testLive(t)
	s.sessions = counter
	from := func(path, addr string) string {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = addr
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
		}
		return w.Body.String()
	}
	const flood = 10000
	toks := map[string]bool{}
	for range flood / 2 {
		toks[tokenOf(t, from("/hls/fete/index.m3u8", "192.0.2.7:40000"))] = true
	}
	if n := counter.Now("fete")["total"]; n != 0 {
		t.Fatalf("multivariant flood: %d viewers counted, want 0", n)
	}
	if len(toks) > audience.DefaultMintBurst+1 {
		t.Errorf("multivariant flood from one address: %d tokens, want at most %d", len(toks), audience.DefaultMintBurst+1)
	}
	clear(toks)
	for range flood / 2 {
		tok := tokenOf(t, from("/hls/fete/index.m3u8", "192.0.2.8:40001"))
		toks[tok] = true
		from("/hls/fete/video1_stream.m3u8?session="+tok, "192.0.2.8:40001")
		from("/hls/fete/video1_stream.m3u8?session="+tok, "192.0.2.8:40001")
	}
	n := counter.Now("fete")["total"]
	t.Logf("%d playlist requests from one address, each player's media playlist twice: %d tokens, %d viewers counted", flood/2*3, len(toks), n)
	if n != audience.DefaultMintBurst+1 || len(toks) != audience.DefaultMintBurst+1 {
		t.Errorf("flood from one address: %d viewers, %d tokens; want %d (its burst, and the token its other players share)",
			n, len(toks), audience.DefaultMintBurst+1)
	}
	// Another address is not starved by the flood.
	tok := tokenOf(t, from("/hls/fete/index.m3u8", "198.51.100.3:5000"))
	if toks[tok] {
		t.Error("another address got one of the flooding address's tokens")
	}
	from("/hls/fete/video1_stream.m3u8?session="+tok, "198.51.100.3:5000")
	from("/hls/fete/video1_stream.m3u8?session="+tok, "198.51.100.3:5000")
	if got := counter.Now("fete")["total"]; got != n+1 {
		t.Errorf("a viewer of another address: %d viewers, want %d", got, n+1)
	}
}

// wakeDeadline bounds how long a waiting request may take to answer once what it waits for
// happened: well under the handler's own waits (3 s for a playlist, 5 s for a part), so that
// a request that was not woken fails the test instead of answering late.
const wakeDeadline = 2 * time.Second

func TestBlockingReload(t *testing.T) {
	s, _, r := testLive(t)
	res := make(chan *httptest.ResponseRecorder, 2)
	for _, u := range []string{"/hls/fete/video1_stream.m3u8?_HLS_msn=2&_HLS_part=1", "/hls/fete/p_video1_part08.mp4"} {
		go func() { res <- get(s, u) }()
	}
	// Both wait for the next part, and have not answered.
	testutil.WaitBlocked(t, 1, "hls.(*Server).serveMedia")
	testutil.WaitBlocked(t, 1, "hls.(*Server).serveFile")
	select {
	case w := <-res:
		t.Fatalf("answered before the part existed: %d %s", w.Code, w.Body)
	default:
	}
	// It comes: both answer with it at once.
	r.cur = append(r.cur, &part{name: "p_video1_part08.mp4", dur: 200 * time.Millisecond, data: []byte("part08")})
	r.preload = "p_video1_part09.mp4"
	r.publish()
	deadline := time.After(wakeDeadline)
	for range 2 {
		select {
		case w := <-res:
			if w.Code != http.StatusOK {
				t.Errorf("%d %s", w.Code, w.Body)
			}
			if b := w.Body.String(); !strings.Contains(b, "part08") {
				t.Errorf("answer without the new part: %s", b)
			}
		case <-deadline:
			t.Fatalf("a waiting request did not answer within %s of the new part", wakeDeadline)
		}
	}
}

func TestEndWakesWaiters(t *testing.T) {
	s, l, _ := testLive(t)
	done := make(chan int, 1)
	go func() { done <- get(s, "/hls/fete/video1_stream.m3u8?_HLS_msn=2&_HLS_part=3").Code }()
	// The request must be waiting when the stream ends: ended before, it would get its 404
	// without any wake-up.
	testutil.WaitBlocked(t, 1, "hls.(*Server).serveMedia")
	l.end()
	select {
	case code := <-done:
		if code != http.StatusNotFound {
			t.Errorf("a waiting request got %d when the stream ended, want 404", code)
		}
	case <-time.After(wakeDeadline):
		t.Fatalf("a waiting request was not woken within %s of the stream's end", wakeDeadline)
	}

	// And a client that goes away stops waiting, answering nothing.
	s2, _, _ := testLive(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequest(http.MethodGet, "/hls/fete/video1_stream.m3u8?_HLS_msn=2&_HLS_part=3", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	returned := make(chan struct{})
	go func() { defer close(returned); s2.Handler().ServeHTTP(w, req) }()
	testutil.WaitBlocked(t, 1, "hls.(*Server).serveMedia")
	cancel()
	select {
	case <-returned:
		if w.Body.Len() != 0 {
			t.Errorf("the request of a client gone got an answer: %d %s", w.Code, w.Body)
		}
	case <-time.After(wakeDeadline):
		t.Fatalf("the request of a client gone still waited %s after it left", wakeDeadline)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "session=abc", "_HLS_msn=3&_HLS_part=1", "_HLS_msn=-1", "_HLS_skip=YES&x=&&=",
		"_HLS_msn=99999999999999999999", "session=a&session=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q := parseQuery(raw)
		if !q.badQ && ((q.hasMSN && q.msn < 0) || (q.hasPart && q.part < 0)) {
			t.Errorf("%q: negative msn/part accepted: %+v", raw, q)
		}
	})
}

// TestConsolePreviewUncounted: a multivariant playlist asked with audience.PreviewHeader by an
// operator (the console's preview) carries no token, so its player is never counted; the same
// header from anyone else changes nothing.
func TestConsolePreviewUncounted(t *testing.T) {
	s, _, _ := testLive(t)
	s.o.Operator = func(r *http.Request) bool { return r.Header.Get("Cookie") == "session=operator" }
	w := get(s, "/hls/fete/index.m3u8", audience.PreviewHeader, "1", "Cookie", "session=operator")
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "session=") {
		t.Fatalf("the operator's preview: %d, a token in\n%s", w.Code, w.Body.String())
	}
	for range 3 {
		get(s, "/hls/fete/video1_stream.m3u8", audience.PreviewHeader, "1", "Cookie", "session=operator")
	}
	c := s.sessions.(*audience.Counter)
	if n := c.Now("fete")["hls"]; n != 0 {
		t.Errorf("hls sessions %d while the console previews, want 0", n)
	}
	// A stranger sending the header gets a token and counts as any player.
	tok := tokenOf(t, get(s, "/hls/fete/index.m3u8", audience.PreviewHeader, "1").Body.String())
	get(s, "/hls/fete/video1_stream.m3u8?session="+tok)
	get(s, "/hls/fete/video1_stream.m3u8?session="+tok)
	if n := c.Now("fete")["hls"]; n != 1 {
		t.Errorf("hls sessions %d for a stranger sending the preview header, want 1", n)
	}
}
