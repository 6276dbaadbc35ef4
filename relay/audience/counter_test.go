package audience

import (
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func newTest(t *testing.T) (*Counter, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)}
	c := New(Options{Window: 10 * time.Second, BeaconWindow: 35 * time.Second, Clock: clk.Now, Secret: []byte("test")})
	c.Tick(map[string]bool{"fete": true})
	return c, clk
}

func TestTokens(t *testing.T) {
	c, _ := newTest(t)
	tok := c.NewToken("fete")
	if len(tok) != tokenLen || !c.ValidToken("fete", tok) {
		t.Fatalf("token %q not valid", tok)
	}
	if c.ValidToken("other", tok) {
		t.Error("a token of one stream is valid for another")
	}
	bad := []byte(tok)
	bad[len(bad)-1] ^= 1
	for _, b := range []string{"", "x", string(bad), tok + "a", "!!!!!!!!!!!!!!!!!!!!!!"} {
		if c.ValidToken("fete", b) {
			t.Errorf("token %q accepted", b)
		}
	}
	if New(Options{}).ValidToken("fete", tok) {
		t.Error("a token is valid with another secret")
	}
}

func TestHLSSessionExpiresAfterWindow(t *testing.T) {
	c, clk := newTest(t)
	a, b := c.NewToken("fete"), c.NewToken("fete")
	c.TouchHLS("fete", a)
	c.TouchHLS("fete", b)
	c.TouchHLS("fete", a) // the same player again: still two
	if n := c.Now("fete")["hls"]; n != 2 {
		t.Fatalf("hls now = %d, want 2", n)
	}
	clk.Add(6 * time.Second)
	c.TouchHLS("fete", a) // a keeps playing, b left
	clk.Add(5 * time.Second)
	c.Tick(nil)
	if n := c.Now("fete")["hls"]; n != 1 {
		t.Fatalf("after b's window: hls now = %d, want 1", n)
	}
	clk.Add(10 * time.Second)
	now := c.Now("fete")
	if now["hls"] != 0 || now["total"] != 0 {
		t.Fatalf("after a's window: now = %v, want none", now)
	}
	s := c.Snapshot("fete")
	if s.Distinct != 2 || s.Peak.Total != 2 {
		t.Errorf("distinct %d peak %d, want 2 and 2", s.Distinct, s.Peak.Total)
	}
	// a watched from 0 to 6 s (its last request), b for an instant.
	if s.WatchTime != 6*time.Second {
		t.Errorf("watch time %s, want 6s", s.WatchTime)
	}
	// a comes back with its token (a page reload keeping it): the same distinct viewer.
	c.TouchHLS("fete", a)
	if s := c.Snapshot("fete"); s.Distinct != 2 || s.Now["hls"] != 1 {
		t.Errorf("after a's return: distinct %d, hls %d; want 2 and 1", s.Distinct, s.Now["hls"])
	}
}

func TestBeaconAndPlaylistAreOneViewer(t *testing.T) {
	c, clk := newTest(t)
	tok := c.NewToken("fete")
	c.TouchHLS("fete", tok)
	c.Beacon("fete", tok)
	if n := c.Now("fete")["total"]; n != 1 {
		t.Fatalf("total = %d, want 1", n)
	}
	// A CDN serves the playlists from now on: only beacons reach us, every 15 s.
	for range 4 {
		clk.Add(15 * time.Second)
		c.Beacon("fete", tok)
		c.Tick(nil)
		if n := c.Now("fete")["hls"]; n != 1 {
			t.Fatalf("with beacons only: hls = %d, want 1", n)
		}
	}
	// A beacon for a token we never saw a playlist request of counts too.
	cdn := c.NewToken("fete")
	c.Beacon("fete", cdn)
	if s := c.Snapshot("fete"); s.Now["hls"] != 2 || s.Distinct != 2 {
		t.Fatalf("now %v distinct %d, want 2 and 2", s.Now, s.Distinct)
	}
	clk.Add(36 * time.Second)
	if n := c.Now("fete")["total"]; n != 0 {
		t.Fatalf("after the beacon window: total = %d, want 0", n)
	}
}

func TestExactSessionsAndPeak(t *testing.T) {
	c, clk := newTest(t)
	l1 := c.Join("fete", WHEP)
	l2 := c.Join("fete", WHEP)
	l3 := c.Join("fete", RTMP)
	peakAt := clk.Now()
	clk.Add(time.Minute)
	l1()
	l1() // idempotent
	now := c.Now("fete")
	if now["whep"] != 1 || now["rtmp"] != 1 || now["total"] != 2 {
		t.Fatalf("now = %v, want whep 1 rtmp 1 total 2", now)
	}
	clk.Add(time.Minute)
	l2()
	l3()
	s := c.Snapshot("fete")
	if s.Now["total"] != 0 || s.Now["whep"] != 0 {
		t.Fatalf("now = %v, want 0", s.Now)
	}
	if s.Peak.Total != 3 || !s.Peak.At.Equal(peakAt) || s.Peak.ByProtocol["whep"] != 2 || s.Peak.ByProtocol["rtmp"] != 1 {
		t.Errorf("peak = %+v, want 3 at %s (whep 2, rtmp 1)", s.Peak, peakAt)
	}
	if s.Distinct != 3 {
		t.Errorf("distinct = %d, want 3", s.Distinct)
	}
	if s.WatchTime != 5*time.Minute { // 1 + 2 + 2 minutes
		t.Errorf("watch time = %s, want 5m", s.WatchTime)
	}
}

func TestSeriesAndNewEvent(t *testing.T) {
	c, clk := newTest(t)
	c.o.MaxSamples = 8
	leave := c.Join("fete", WHEP)
	for range 40 {
		clk.Add(time.Second)
		c.Tick(map[string]bool{"fete": true})
	}
	s := c.Snapshot("fete")
	if len(s.Series) == 0 || len(s.Series) >= 8 {
		t.Fatalf("series has %d samples, want 1 to 7 (bounded)", len(s.Series))
	}
	for _, p := range s.Series[1:] { // the first is from before the join
		if p.Total != 1 || p.WHEP != 1 {
			t.Fatalf("sample %+v, want total 1 whep 1", p)
		}
	}
	leave()
	c.Tick(map[string]bool{"fete": false})
	s = c.Snapshot("fete")
	if s.Live || s.End.IsZero() || s.Start.IsZero() {
		t.Fatalf("after the end: live %v start %s end %s", s.Live, s.Start, s.End)
	}
	// The next go-live is a new event: the previous one's figures are gone.
	clk.Add(time.Hour)
	c.Tick(map[string]bool{"fete": true})
	s = c.Snapshot("fete")
	if !s.Live || s.Distinct != 0 || s.Peak.Total != 0 || s.WatchTime != 0 || len(s.Series) > 1 {
		t.Fatalf("new event: %+v, want a fresh one", s)
	}
}

func TestSessionMemory(t *testing.T) {
	// The bound the issue sets: under 2 KiB per HLS session.
	c, _ := newTest(t)
	toks := make([]string, 20000)
	for i := range toks {
		toks[i] = c.NewToken("fete")
	}
	var before, after runtimeMem
	before.read()
	for _, tok := range toks {
		c.TouchHLS("fete", tok)
	}
	after.read()
	per := (after.heap - before.heap) / uint64(len(toks))
	t.Logf("memory per HLS session: %d bytes", per)
	if per > 2048 {
		t.Errorf("memory per HLS session = %d bytes, want < 2048", per)
	}
	if n := c.Now("fete")["hls"]; n != len(toks) {
		t.Fatalf("hls = %d, want %d", n, len(toks))
	}
}
