package platforms_test

import (
	"context"
	"log/slog"
	"maps"
	"strings"
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
	p := platforms.New(platforms.Options{Client: c, Every: 40 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
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
	waitFor(t, "youtube's stale count dropped", func() bool {
		_, ok := p.PlatformViewers("concert")["youtube-dest"]
		return !ok
	})
	if got := p.PlatformViewers("concert"); got["facebook-dest"] != 45 {
		t.Errorf("facebook while youtube fails: %v", got)
	}
	if s := stateOf(p, "concert", "youtube-dest"); s.RetryAt == nil || s.Counted {
		t.Errorf("youtube in error: %+v; want a retry time and not counted", s)
	}

	f.Fail(platforms.YouTube, platformstest.Expired)
	waitFor(t, "youtube token expired", func() bool {
		return stateOf(p, "concert", "youtube-dest").State == platforms.StateTokenExpired
	})
	if s := stateOf(p, "concert", "youtube-dest"); !strings.Contains(s.Message, "paste a new one") {
		t.Errorf("token expired message: %q", s.Message)
	}
	// An expired token is not hammered: it is retried after MaxBackoff only.
	n := f.Requests(platforms.YouTube)
	time.Sleep(100 * time.Millisecond)
	if got := f.Requests(platforms.YouTube); got > n+1 {
		t.Errorf("expired token polled %d times in 100 ms", got-n)
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

// TestPollerBackoff: errors in a row space the polls out, a 429's Retry-After is respected.
func TestPollerBackoff(t *testing.T) {
	f, c := newFake(t)
	f.Fail(platforms.Twitch, platformstest.ServerError)
	p := platforms.New(platforms.Options{Client: c, Every: 20 * time.Millisecond, MaxBackoff: time.Hour,
		Live: func(string, string) bool { return true }})
	p.Set(platforms.Target{Stream: "s", Destination: "tw", Credentials: platformstest.Credentials(platforms.Twitch)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "three failures", func() bool { return f.Requests(platforms.Twitch) >= 3 })
	s := stateOf(p, "s", "tw")
	if s.RetryAt == nil {
		t.Fatalf("no retry time: %+v", s)
	}
	// After n failures the wait is Every * 2^(n-1): at least 80 ms after the third.
	if wait := time.Until(*s.RetryAt); f.Requests(platforms.Twitch) == 3 && wait < 40*time.Millisecond {
		t.Errorf("after 3 failures the next poll is in %s", wait)
	}
	f.Fail(platforms.Twitch, platformstest.RateLimit)
	f.RetryAfter = 3600
	p.Set(platforms.Target{Stream: "s", Destination: "tw", Credentials: platformstest.Credentials(platforms.Twitch)})
	waitFor(t, "rate limited", func() bool { return stateOf(p, "s", "tw").State == platforms.StateRateLimited })
	if r := stateOf(p, "s", "tw").RetryAt; r == nil || time.Until(*r) < 50*time.Minute {
		t.Errorf("Ratelimit-Reset an hour away, retry at %v", r)
	}
}
