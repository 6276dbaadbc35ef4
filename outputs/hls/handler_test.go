package hls

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

func TestMultivariantToken(t *testing.T) {
	s, _, _ := testLive(t)
	w := get(s, "/hls/fete/index.m3u8", "Origin", "https://town.example")
	body := w.Body.String()
	_, tok, ok := strings.Cut(body, "video1_stream.m3u8?session=")
	tok = strings.TrimSpace(tok)
	if !ok || len(tok) != 22 {
		t.Fatalf("no session token in:\n%s", body)
	}
	if w.Header().Get("Cache-Control") != cacheMultivariant || w.Header().Get("Access-Control-Allow-Origin") != "https://town.example" {
		t.Errorf("headers %v", w.Header())
	}
	// A reload with the token keeps it; a made-up token gets a new one.
	if b := get(s, "/hls/fete/index.m3u8?session="+tok).Body.String(); !strings.Contains(b, "session="+tok) {
		t.Errorf("the token was not kept on reload:\n%s", b)
	}
	if b := get(s, "/hls/fete/index.m3u8?session=AAAAAAAAAAAAAAAAAAAAAA").Body.String(); strings.Contains(b, "session=AAAAAAAAAAAAAAAAAAAAAA") {
		t.Error("a forged token was handed back")
	}
	if w := get(s, "/hls/fete/index.m3u8", "Origin", "https://other.example"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("an origin not allowed got CORS")
	}
	c := s.sessions.(*audience.Counter)
	if n := c.Now("fete")["hls"]; n != 3 {
		t.Errorf("hls sessions %d, want 3 (the first player, the one whose token was forged, the other origin)", n)
	}
}

func TestBlockingReload(t *testing.T) {
	s, _, r := testLive(t)
	var wg sync.WaitGroup
	res := make(chan *httptest.ResponseRecorder, 2)
	for _, u := range []string{"/hls/fete/video1_stream.m3u8?_HLS_msn=2&_HLS_part=1", "/hls/fete/p_video1_part08.mp4"} {
		wg.Go(func() { res <- get(s, u) })
	}
	// Both wait for the next part; it comes.
	time.Sleep(50 * time.Millisecond)
	select {
	case w := <-res:
		t.Fatalf("answered before the part existed: %d %s", w.Code, w.Body)
	default:
	}
	r.cur = append(r.cur, &part{name: "p_video1_part08.mp4", dur: 200 * time.Millisecond, data: []byte("part08")})
	r.preload = "p_video1_part09.mp4"
	r.publish()
	wg.Wait()
	close(res)
	for w := range res {
		if w.Code != http.StatusOK {
			t.Errorf("%d %s", w.Code, w.Body)
		}
		if b := w.Body.String(); !strings.Contains(b, "part08") {
			t.Errorf("answer without the new part: %s", b)
		}
	}
}

// waitingCtx is a request context that says when the handler first waits on it: the
// handler asks for Done only in the select it blocks in.
type waitingCtx struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func newWaitingCtx(ctx context.Context) *waitingCtx {
	return &waitingCtx{Context: ctx, waiting: make(chan struct{})}
}

func (c *waitingCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}

// waitUntilWaiting returns once the request with ctx c blocks in the handler.
func waitUntilWaiting(t *testing.T, c *waitingCtx) {
	t.Helper()
	select {
	case <-c.waiting:
	case <-time.After(testutil.WaitTimeout):
		t.Fatal("the request never waited")
	}
}

// TestEndWakesWaiters: a blocking reload waiting for a part is answered (404) as soon as the
// stream ends, and stops waiting as soon as its client goes away. Both deadlines below are
// shorter than the handler's own (3 s): a wait that nothing cuts short fails the test.
func TestEndWakesWaiters(t *testing.T) {
	const blocking = "/hls/fete/video1_stream.m3u8?_HLS_msn=2&_HLS_part=3"
	s, l, _ := testLive(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	wctx := newWaitingCtx(ctx)
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, blocking, nil).WithContext(wctx))
		done <- w
	}()
	waitUntilWaiting(t, wctx)
	l.end()
	if w := <-done; w.Code != http.StatusNotFound || w.Body.Len() == 0 {
		t.Errorf("a waiting request got %d %q when the stream ended, want a 404 at once", w.Code, w.Body)
	}

	// And a client that goes away stops waiting.
	s2, _, _ := testLive(t)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	wctx2 := newWaitingCtx(ctx2)
	done2 := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		w := httptest.NewRecorder()
		s2.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, blocking, nil).WithContext(wctx2))
		done2 <- w
	}()
	waitUntilWaiting(t, wctx2)
	cancel2()
	select {
	case w := <-done2:
		if w.Body.Len() != 0 {
			t.Errorf("a request whose client left got an answer: %d %q", w.Code, w.Body)
		}
	case <-time.After(time.Second):
		t.Error("a request whose client left still waits")
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
