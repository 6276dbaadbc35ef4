package platforms_test

import (
	"context"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs/platforms"
	"github.com/beffroi/beffroi/outputs/platforms/platformstest"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stateOf(p *platforms.Poller, stream, dest string) platforms.Status {
	for _, s := range p.Status(stream) {
		if s.Destination == dest {
			return s
		}
	}
	return platforms.Status{}
}

// TestPollerMergesAndIsolates: three destinations on three platforms are counted together;
// one platform failing (500, then an expired token, then a rate limit) leaves the others
// counted and polled at their pace, its own count drops once stale, its state says why, and
// each state change is logged once without a secret.
func TestPollerMergesAndIsolates(t *testing.T) {
	f, c := newFake(t)
	f.SetViewers(platforms.YouTube, 120)
	f.SetViewers(platforms.Twitch, 30)
	f.SetViewers(platforms.Facebook, 45)
	var live atomic.Bool
	live.Store(true)
	logs := &testutil.LogBuffer{}
	// Counts never go stale here (the machine may be slow): TestPollerBackoffAndStale
	// drops them, on its own clock.
	p := platforms.New(platforms.Options{Client: c, Every: 40 * time.Millisecond, MaxBackoff: time.Hour, StaleAfter: time.Hour,
		Live:   func(stream, dest string) bool { return live.Load() && stream == "concert" },
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	for _, pl := range []string{platforms.YouTube, platforms.Twitch, platforms.Facebook} {
		p.Set(platforms.Target{Stream: "concert", Destination: pl + "-dest", Credentials: platformstest.Credentials(pl)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	want := map[string]int{"youtube-dest": 120, "twitch-dest": 30, "facebook-dest": 45}
	waitFor(t, "the three counts", func() bool { return maps.Equal(p.PlatformViewers("concert"), want) })

	f.Fail(platforms.YouTube, platformstest.ServerError)
	waitFor(t, "youtube in error", func() bool { return stateOf(p, "concert", "youtube-dest").State == platforms.StateError })
	f.SetViewers(platforms.Twitch, 31)
	waitFor(t, "twitch counted while youtube fails", func() bool { return p.PlatformViewers("concert")["twitch-dest"] == 31 })
	f.SetViewers(platforms.Facebook, 46)
	waitFor(t, "facebook counted while youtube fails", func() bool { return p.PlatformViewers("concert")["facebook-dest"] == 46 })
	if s := stateOf(p, "concert", "youtube-dest"); s.RetryAt == nil || s.Viewers != 120 {
		t.Errorf("youtube in error: %+v; want a retry time and its last count", s)
	}

	f.Fail(platforms.YouTube, platformstest.Expired)
	waitFor(t, "youtube token expired", func() bool {
		return stateOf(p, "concert", "youtube-dest").State == platforms.StateTokenExpired
	})
	if s := stateOf(p, "concert", "youtube-dest"); !strings.Contains(s.Message, "paste a new one") {
		t.Errorf("token expired message: %q", s.Message)
	}
	// An expired token is not hammered: it is retried after MaxBackoff only.
	if s := stateOf(p, "concert", "youtube-dest"); s.RetryAt == nil || time.Until(*s.RetryAt) < 30*time.Minute {
		t.Errorf("expired token retried at %v; want MaxBackoff (an hour) later", s.RetryAt)
	}
	// A new token (Set) is polled at once and counts again.
	f.Fail(platforms.YouTube, platformstest.None)
	p.Set(platforms.Target{Stream: "concert", Destination: "youtube-dest", Credentials: platformstest.Credentials(platforms.YouTube)})
	waitFor(t, "youtube back", func() bool { return p.PlatformViewers("concert")["youtube-dest"] == 120 })

	f.Fail(platforms.Facebook, platformstest.Quota)
	waitFor(t, "facebook rate limited", func() bool {
		return stateOf(p, "concert", "facebook-dest").State == platforms.StateRateLimited
	})
	if got := p.PlatformViewers("concert")["twitch-dest"]; got != 31 {
		t.Errorf("twitch while facebook is limited: %d", got)
	}

	// The destinations going off: nothing counted, nothing polled.
	live.Store(false)
	waitFor(t, "idle", func() bool { return len(p.PlatformViewers("concert")) == 0 })
	for _, s := range p.Status("concert") {
		if s.State != platforms.StateIdle || s.Credentials != "set" {
			t.Errorf("after the event: %+v", s)
		}
	}
	out := logs.String()
	for _, secret := range []string{platformstest.YouTubeKey, platformstest.TwitchToken, platformstest.FacebookToken, platformstest.TwitchClientID} {
		if strings.Contains(out, secret) {
			t.Errorf("a secret in the log:\n%s", out)
		}
	}
	if got := strings.Count(out, "state=token_expired"); got != 1 {
		t.Errorf("token_expired logged %d times; want once per change:\n%s", got, out)
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestPollerBackoffAndStale, on a clock the test moves: errors in a row space the polls out
// (Every, then twice, four times...), a count leaves the total once stale, and a 429's
// Ratelimit-Reset is respected.
func TestPollerBackoffAndStale(t *testing.T) {
	f, c := newFake(t)
	f.SetViewers(platforms.Twitch, 5)
	clk := &fakeClock{t: time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)}
	const every = 20 * time.Millisecond
	p := platforms.New(platforms.Options{Client: c, Every: every, MaxBackoff: time.Hour, StaleAfter: 10 * every,
		Clock: clk.Now, Live: func(string, string) bool { return true }})
	p.Set(platforms.Target{Stream: "s", Destination: "tw", Credentials: platformstest.Credentials(platforms.Twitch)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the first count", func() bool { return p.PlatformViewers("s")["tw"] == 5 })
	f.Fail(platforms.Twitch, platformstest.ServerError)
	start := clk.Now()
	wait := every
	for n := 1; n <= 4; n++ {
		clk.Add(wait) // the next poll is due
		want := clk.Now().Add(every << (n - 1))
		waitFor(t, "failure "+strconv.Itoa(n), func() bool {
			s := stateOf(p, "s", "tw")
			return s.State == platforms.StateError && s.RetryAt != nil && s.RetryAt.Equal(want)
		})
		wait = every << (n - 1)
	}
	if got := clk.Now().Sub(start); got != 8*every {
		t.Fatalf("clock moved %s", got)
	}
	if _, ok := p.PlatformViewers("s")["tw"]; !ok {
		t.Errorf("dropped before it is stale")
	}
	clk.Add(3 * every) // 11 Every after the last count
	if got := p.PlatformViewers("s"); len(got) != 0 || stateOf(p, "s", "tw").Counted {
		t.Errorf("a stale count is still counted: %v", got)
	}
	f.Fail(platforms.Twitch, platformstest.RateLimit)
	f.RetryAfter = 3600
	p.Set(platforms.Target{Stream: "s", Destination: "tw", Credentials: platformstest.Credentials(platforms.Twitch)})
	waitFor(t, "rate limited", func() bool { return stateOf(p, "s", "tw").State == platforms.StateRateLimited })
	if r := stateOf(p, "s", "tw").RetryAt; r == nil || r.Sub(clk.Now()) < 50*time.Minute {
		t.Errorf("Ratelimit-Reset an hour away, retry at %v (now %v)", r, clk.Now())
	}
}
