package audience

import (
	"hash/maphash"
	"math"
	"strconv"
	"strings"
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

// ev is the live session of "fete" in these tests.
const ev = 7

func newTest(t *testing.T) (*Counter, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)}
	c := New(Options{Window: 10 * time.Second, BeaconWindow: 35 * time.Second, Clock: clk.Now, Secret: []byte("test")})
	c.tick(map[string]bool{"fete": true}, map[string]uint64{"fete": ev})
	return c, clk
}

func TestTokens(t *testing.T) {
	c, clk := newTest(t)
	tok := c.NewToken("fete", ev)
	if len(tok) != tokenLen || !c.ValidToken("fete", ev, tok) {
		t.Fatalf("token %q not valid", tok)
	}
	if c.ValidToken("other", ev, tok) {
		t.Error("a token of one stream is valid for another")
	}
	if c.ValidToken("fete", ev+1, tok) {
		t.Error("a token of one live session is valid in the next one")
	}
	bad := []byte(tok)
	bad[len(bad)-1] ^= 1
	for _, b := range []string{"", "x", string(bad), tok + "a", strings.Repeat("!", tokenLen), strings.Repeat("A", tokenLen)} {
		if c.ValidToken("fete", ev, b) {
			t.Errorf("token %q accepted", b)
		}
	}
	if New(Options{}).ValidToken("fete", ev, tok) {
		t.Error("a token is valid with another secret")
	}
	// The issue time is inside the MAC: changing it breaks the token.
	p, _ := parseToken(tok)
	p.issued++
	if c.ValidToken("fete", ev, p.String()) {
		t.Error("a token with its issue time changed is valid")
	}
	// Old tokens are refused, even within their live session; so are tokens from the future.
	clk.Add(DefaultTokenMaxAge - time.Second)
	if !c.ValidToken("fete", ev, tok) {
		t.Error("a token just under the maximum age is refused")
	}
	clk.Add(2 * time.Second)
	if c.ValidToken("fete", ev, tok) {
		t.Error("a token older than the maximum age is valid")
	}
	if fut := c.NewToken("fete", ev); c.ValidToken("fete", ev, fut) {
		clk.Add(-time.Hour)
		if c.ValidToken("fete", ev, fut) {
			t.Error("a token issued an hour in the future is valid")
		}
	} else {
		t.Error("a fresh token is refused")
	}
}

// play makes a token count as HLS players do: two media playlist requests.
func play(t *testing.T, c *Counter, event uint64, tok string) {
	t.Helper()
	for range 2 {
		if !c.Playlist("fete", event, tok) {
			t.Fatalf("token %q refused", tok)
		}
	}
}

func TestPlaylistCountsFromSecondRequest(t *testing.T) {
	c, clk := newTest(t)
	tok := c.NewToken("fete", ev)
	if !c.Playlist("fete", ev, tok) {
		t.Fatal("a valid token refused")
	}
	if n := c.Now("fete")["hls"]; n != 0 {
		t.Fatalf("counted %d after one media playlist request, want 0", n)
	}
	if c.Playlist("fete", ev, "forged"+tok[6:]) || c.Playlist("fete", ev+1, c.NewToken("fete", ev+1)+"x") {
		t.Error("a forged token accepted")
	}
	c.Playlist("fete", ev, tok)
	if s := c.Snapshot("fete"); s.Now["hls"] != 1 || s.Distinct != 1 {
		t.Fatalf("after two requests: %v distinct %d, want 1 and 1", s.Now, s.Distinct)
	}
	// A first request whose second never comes is forgotten after the window.
	lone := c.NewToken("fete", ev)
	c.Playlist("fete", ev, lone)
	clk.Add(11 * time.Second)
	c.Tick(nil)
	c.Playlist("fete", ev, lone)
	if n := c.Now("fete")["hls"]; n != 0 {
		t.Fatalf("a request 11 s after the first counted (%d), want a new first request", n)
	}
	c.a("fete").mu.Lock()
	n := len(c.a("fete").pending)
	c.a("fete").mu.Unlock()
	if n != 1 {
		t.Errorf("%d pending tokens, want 1", n)
	}
}

// a returns a stream's record (tests look inside).
func (c *Counter) a(stream string) *streamAudience { return c.get(stream) }

func TestMintLimit(t *testing.T) {
	c, clk := newTest(t)
	own := map[string]bool{}
	var shared []string
	for range DefaultMintBurst + 10 {
		tok := c.Mint("fete", ev, "192.0.2.1")
		if !c.ValidToken("fete", ev, tok) {
			t.Fatalf("minted token %q not valid", tok)
		}
		if p, _ := parseToken(tok); p.kind == kindShared {
			shared = append(shared, tok)
		} else {
			own[tok] = true
		}
	}
	if len(own) != DefaultMintBurst || len(shared) != 10 {
		t.Fatalf("%d own tokens and %d shared, want %d and 10", len(own), len(shared), DefaultMintBurst)
	}
	for _, s := range shared {
		if s != shared[0] {
			t.Fatal("the players of one address beyond its burst got different shared tokens")
		}
	}
	// Another address has its own burst, and its own shared token.
	if p, _ := parseToken(c.Mint("fete", ev, "192.0.2.2")); p.kind != kindOwn {
		t.Error("another address got no token of its own")
	}
	// The bucket refills at the rate.
	clk.Add(time.Second)
	n := 0
	for range 10 {
		if p, _ := parseToken(c.Mint("fete", ev, "192.0.2.1")); p.kind == kindOwn {
			n++
		}
	}
	if n != int(DefaultMintRate) {
		t.Errorf("%d own tokens a second later, want %d", n, int(DefaultMintRate))
	}
	// Refilled buckets are forgotten.
	clk.Add(time.Minute)
	c.Tick(nil)
	if len(c.limit.buckets) != 0 {
		t.Errorf("%d buckets followed after they refilled, want 0", len(c.limit.buckets))
	}
	// Too many addresses followed: the next ones share one token.
	small := New(Options{MaxClients: 2, Clock: clk.Now})
	small.Mint("fete", ev, "a")
	small.Mint("fete", ev, "b")
	x, y := small.Mint("fete", ev, "c"), small.Mint("fete", ev, "d")
	if p, _ := parseToken(x); p.kind != kindShared || x != y {
		t.Errorf("beyond MaxClients: tokens %q and %q, want one shared token", x, y)
	}
}

func TestEventEndsSessions(t *testing.T) {
	c, _ := newTest(t)
	var toks []string
	for range 20 {
		tok := c.NewToken("fete", ev)
		play(t, c, ev, tok)
		c.Beacon("fete", ev, tok)
		toks = append(toks, tok)
	}
	if n := c.Now("fete")["total"]; n != 20 {
		t.Fatalf("total %d, want 20", n)
	}
	// The stream goes idle: its HLS viewers are gone at once.
	c.tick(map[string]bool{"fete": false}, nil)
	if s := c.Snapshot("fete"); s.Now["total"] != 0 || s.Live || s.Distinct != 20 {
		t.Fatalf("idle: %+v, want no viewer, the event's 20 distinct", s)
	}
	// The next live session refuses the tokens of the previous one.
	c.tick(map[string]bool{"fete": true}, map[string]uint64{"fete": ev + 1})
	for _, tok := range toks {
		if c.Beacon("fete", ev+1, tok) || c.Playlist("fete", ev+1, tok) {
			t.Fatal("a token of the previous live session accepted")
		}
	}
	if s := c.Snapshot("fete"); s.Now["total"] != 0 || s.Distinct != 0 {
		t.Fatalf("new event with old tokens: %v distinct %d, want 0 and 0", s.Now, s.Distinct)
	}
	// A new live session the ticks did not see idle (it went idle and live within a tick)
	// is a new event too.
	tok := c.NewToken("fete", ev+1)
	play(t, c, ev+1, tok)
	c.tick(map[string]bool{"fete": true}, map[string]uint64{"fete": ev + 2})
	if s := c.Snapshot("fete"); s.Now["total"] != 0 || s.Distinct != 0 || !s.Live {
		t.Fatalf("after an unseen restart: %+v, want a fresh live event", s)
	}
}

func TestDistinctBounded(t *testing.T) {
	c, _ := newTest(t)
	const n = 30000
	for i := range n {
		c.TouchHLS("fete", "viewer-"+strconv.Itoa(i))
	}
	a := c.a("fete")
	a.mu.Lock()
	exact, regs := a.seen.exact, len(a.seen.regs)
	a.mu.Unlock()
	if exact != nil || regs != hllM {
		t.Fatalf("beyond %d tokens: the exact set is kept (%d) or no registers (%d)", distinctExactCap, len(exact), regs)
	}
	got := c.Snapshot("fete").Distinct
	t.Logf("distinct %d for %d", got, n)
	if math.Abs(float64(got-n)) > 0.03*n {
		t.Errorf("distinct estimate %d, want %d within 3%%", got, n)
	}
	// The estimate holds far beyond, in 16 KiB.
	d := newDistinct()
	seed := maphash.MakeSeed()
	for i := range 1_000_000 {
		d.add(maphash.Comparable(seed, i))
		if i == distinctExactCap-1 && d.count() != distinctExactCap {
			t.Fatalf("exact up to the cap: %d, want %d", d.count(), distinctExactCap)
		}
	}
	if got := d.count(); math.Abs(float64(got-1e6)) > 0.03e6 || len(d.regs) != hllM {
		t.Errorf("1e6 distinct: estimate %d (%d registers), want within 3%%", got, len(d.regs))
	}
	// Adding the same again changes nothing.
	before := d.count()
	for i := range 1000 {
		d.add(maphash.Comparable(seed, i))
	}
	if d.count() != before {
		t.Errorf("re-adding known hashes moved the estimate: %d -> %d", before, d.count())
	}
}

func TestHLSSessionExpiresAfterWindow(t *testing.T) {
	c, clk := newTest(t)
	a, b := c.NewToken("fete", ev), c.NewToken("fete", ev)
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
	tok := c.NewToken("fete", ev)
	c.TouchHLS("fete", tok)
	c.Beacon("fete", ev, tok)
	if n := c.Now("fete")["total"]; n != 1 {
		t.Fatalf("total = %d, want 1", n)
	}
	// A CDN serves the playlists from now on: only beacons reach us, every 15 s.
	for range 4 {
		clk.Add(15 * time.Second)
		c.Beacon("fete", ev, tok)
		c.Tick(nil)
		if n := c.Now("fete")["hls"]; n != 1 {
			t.Fatalf("with beacons only: hls = %d, want 1", n)
		}
	}
	// A beacon for a token we never saw a playlist request of counts too.
	cdn := c.NewToken("fete", ev)
	c.Beacon("fete", ev, cdn)
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
		toks[i] = c.NewToken("fete", ev)
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
