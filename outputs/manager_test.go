package outputs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

const (
	waitTimeout = testutil.WaitTimeout
	streamName  = "conseil"
	youtubeURL  = "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl"
	youtubeKey  = "abcd-efgh-ijkl"
)

// pushCall is one call of fakePusher.Push, which the test drives.
type pushCall struct {
	u   *url.URL // the destination's
	ctx context.Context
	r   *relay.Reader
	p   Progress
	// act receives what Push does next; Push returns its result.
	act      chan func(ctx context.Context, r *relay.Reader, p Progress) error
	returned chan struct{}
	// failedAt is when Push returned, set before returned is closed.
	failedAt time.Time
}

// fail makes the call return err.
func (c *pushCall) fail(err error) {
	c.act <- func(context.Context, *relay.Reader, Progress) error { return err }
	<-c.returned
}

// live reports the session live, then sends until ctx is cancelled or the stream ends.
func (c *pushCall) live() {
	c.act <- func(ctx context.Context, r *relay.Reader, p Progress) error {
		p.Live()
		for {
			f, err := r.Next(ctx)
			if err != nil {
				return err
			}
			p.Wrote(f.Size()+20, 1)
		}
	}
}

func (c *pushCall) waitReturned(t testing.TB) {
	t.Helper()
	select {
	case <-c.returned:
	case <-time.After(waitTimeout):
		t.Fatal("Push did not return")
	}
}

// fakePusher hands every Push call of every destination to the test.
type fakePusher struct {
	calls chan *pushCall
}

func newFakePusher() *fakePusher { return &fakePusher{calls: make(chan *pushCall, 16)} }

// pusher returns the Pusher of the destination pushing to u.
func (f *fakePusher) pusher(u *url.URL) Pusher { return &boundPusher{f, u} }

type boundPusher struct {
	f *fakePusher
	u *url.URL
}

func (b *boundPusher) Push(ctx context.Context, r *relay.Reader, p Progress) error {
	return b.f.push(b.u, ctx, r, p)
}

func (f *fakePusher) push(u *url.URL, ctx context.Context, r *relay.Reader, p Progress) error {
	c := &pushCall{u: u, ctx: ctx, r: r, p: p, act: make(chan func(context.Context, *relay.Reader, Progress) error), returned: make(chan struct{})}
	defer close(c.returned)
	f.calls <- c
	var err error
	select {
	case act := <-c.act:
		err = act(ctx, r, p)
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.failedAt = time.Now()
	return err
}

func (f *fakePusher) next(t testing.TB) *pushCall {
	t.Helper()
	select {
	case c := <-f.calls:
		return c
	case <-time.After(waitTimeout):
		t.Fatal("Push was not called")
	}
	return nil
}

func (f *fakePusher) expectNoCall(t testing.TB) {
	t.Helper()
	select {
	case <-f.calls:
		t.Fatal("Push called")
	default:
	}
}

type testManager struct {
	*Manager
	st   *relay.Stream
	fp   *fakePusher
	logs *testutil.LogBuffer
	stop func()
}

// startManager runs a manager over one stream, whose rtmp and rtmps destinations push with a
// fakePusher.
func startManager(t *testing.T, o Options) *testManager {
	t.Helper()
	before := runtime.NumGoroutine()
	reg := relay.NewRegistry(relay.RegistryOptions{})
	st, err := reg.Add(streamName, "pk-secret-1234")
	if err != nil {
		t.Fatal(err)
	}
	fp := newFakePusher()
	newPusher := func(u *url.URL, _ Options) (Pusher, error) { return fp.pusher(u), nil }
	logs := &testutil.LogBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	m := NewManager(reg, map[string]NewPusherFunc{"rtmp": newPusher, "rtmps": newPusher}, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	tm := &testManager{Manager: m, st: st, fp: fp, logs: logs}
	var once sync.Once
	tm.stop = func() {
		once.Do(func() {
			cancel()
			reg.StopAll()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("Run did not return after cancel")
			}
			// Every goroutine the manager started has returned.
			testutil.WaitFor(t, fmt.Sprintf("goroutines back to %d", before), func() bool { return runtime.NumGoroutine() <= before })
		})
	}
	t.Cleanup(func() {
		tm.stop()
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, youtubeKey) {
				t.Errorf("log line reveals the stream key: %s", l)
			}
		}
	})
	return tm
}

func (tm *testManager) status(t testing.TB, name string) Status {
	t.Helper()
	for _, s := range tm.List(streamName) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("destination %q not listed", name)
	return Status{}
}

func (tm *testManager) waitState(t testing.TB, name string, want State) Status {
	t.Helper()
	var s Status
	testutil.WaitFor(t, fmt.Sprintf("%s to be %s", name, want), func() bool {
		s = tm.status(t, name)
		return s.State == want
	})
	return s
}

// goLive starts a publisher on the stream.
func (tm *testManager) goLive(t testing.TB) *relay.Publisher {
	t.Helper()
	p := tm.st.Publish(relay.SourceInfo{Protocol: "test"})
	tr, err := relay.NewAACTrack(testutil.ASC())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.SetTrack(tr); err != nil {
		t.Fatal(err)
	}
	return p
}

func (tm *testManager) add(t testing.TB, name, u string, enabled bool) {
	t.Helper()
	if err := tm.Add(streamName, DestinationConfig{Name: name, URL: u, Enabled: enabled}); err != nil {
		t.Fatal(err)
	}
}

func TestDestinationLifecycle(t *testing.T) {
	tm := startManager(t, Options{RetryMin: time.Hour, RetryMax: 2 * time.Hour})
	tm.add(t, "youtube", youtubeURL, true)

	s := tm.waitState(t, "youtube", StateIdle)
	if s.Protocol != "rtmp" || s.Host != "a.rtmp.youtube.com" || !s.Enabled || s.RetryAt != nil {
		t.Errorf("idle status = %+v", s)
	}
	tm.fp.expectNoCall(t)

	pub := tm.goLive(t)
	c := tm.fp.next(t)
	tm.waitState(t, "youtube", StateConnecting)
	c.live()
	tm.waitState(t, "youtube", StateLive)

	// Frames flow and are counted.
	tr := tm.st.Track(relay.Audio)
	for i := range 10 {
		d := time.Duration(i) * 21 * time.Millisecond
		if err := pub.WriteFrame(&relay.Frame{Track: tr, DTS: d, PTS: d, Key: true, Units: [][]byte{make([]byte, 100)}}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, "10 frames counted", func() bool { return tm.status(t, "youtube").Frames == 10 })
	if s := tm.status(t, "youtube"); s.Bytes != 10*120 {
		t.Errorf("bytes = %d, want %d", s.Bytes, 10*120)
	}

	// Disabling cancels the push at once.
	if err := tm.SetEnabled(streamName, "youtube", false); err != nil {
		t.Fatal(err)
	}
	c.waitReturned(t)
	if c.ctx.Err() == nil {
		t.Error("Push returned but its context was not cancelled")
	}
	s = tm.waitState(t, "youtube", StateDisabled)
	if s.Enabled || s.Reconnects != 0 || s.LastError != "" {
		t.Errorf("disabled status = %+v", s)
	}
	tm.fp.expectNoCall(t)

	// Enabling again reconnects.
	if err := tm.SetEnabled(streamName, "youtube", true); err != nil {
		t.Fatal(err)
	}
	c = tm.fp.next(t)
	c.live()
	tm.waitState(t, "youtube", StateLive)

	// The stream ends: the push ends with relay.ErrEnded and the destination waits, idle.
	pub.Close()
	c.waitReturned(t)
	s = tm.waitState(t, "youtube", StateIdle)
	if s.Reconnects != 0 || s.LastError != "" {
		t.Errorf("status after the stream ended = %+v", s)
	}
	tm.fp.expectNoCall(t)

	// Back live: connects again.
	tm.goLive(t)
	c = tm.fp.next(t)
	c.live()
	tm.waitState(t, "youtube", StateLive)
	// Stopping the stream (registry shutdown) also ends the push.
	tm.st.Stop()
	c.waitReturned(t)
	tm.waitState(t, "youtube", StateIdle)
}

func TestDestinationDisabledAtStart(t *testing.T) {
	tm := startManager(t, Options{})
	tm.add(t, "facebook", "rtmps://live-api-s.facebook.com:443/rtmp/FB-123?s_bl=1&a=xyz", false)
	tm.goLive(t)
	tm.waitState(t, "facebook", StateDisabled)
	tm.fp.expectNoCall(t)
	if err := tm.SetEnabled(streamName, "facebook", true); err != nil {
		t.Fatal(err)
	}
	c := tm.fp.next(t)
	tm.waitState(t, "facebook", StateConnecting)
	// Disabled while connecting.
	if err := tm.SetEnabled(streamName, "facebook", false); err != nil {
		t.Fatal(err)
	}
	c.waitReturned(t)
	tm.waitState(t, "facebook", StateDisabled)
}

// TestBackoff fails every attempt: each retry is announced with RetryAt about twice as far as
// the previous one (±20% jitter), up to RetryMax. The test does not wait for the retries: it
// wakes the destination (SetEnabled) once it has read RetryAt.
func TestBackoff(t *testing.T) {
	const retryMin, retryMax = 10 * time.Second, 80 * time.Second
	tm := startManager(t, Options{RetryMin: retryMin, RetryMax: retryMax})
	tm.add(t, "youtube", youtubeURL, true)
	tm.goLive(t)

	nominal := retryMin
	var prev time.Duration
	for i := 1; i <= 6; i++ {
		c := tm.fp.next(t)
		c.fail(fmt.Errorf("connect %s: connection refused", c.u))
		s := tm.waitState(t, "youtube", StateRetrying)
		if s.RetryAt == nil {
			t.Fatal("retrying without RetryAt")
		}
		if s.Reconnects != uint64(i) {
			t.Errorf("attempt %d: reconnects = %d", i, s.Reconnects)
		}
		if strings.Contains(s.LastError, youtubeKey) || !strings.Contains(s.LastError, "connection refused") {
			t.Errorf("LastError = %q, want the error without the key", s.LastError)
		}
		delay := s.RetryAt.Sub(c.failedAt)
		// RetryAt is set just after Push returns: allow for that.
		const slack = 500 * time.Millisecond
		lo, hi := time.Duration(float64(nominal)*0.8)-slack, min(time.Duration(float64(nominal)*1.2), retryMax)+slack
		if delay < lo || delay > hi {
			t.Errorf("attempt %d: retry in %v, want %v ±20%% (at most %v)", i, delay, nominal, retryMax)
		}
		if delay > retryMax+slack {
			t.Errorf("attempt %d: retry in %v beyond RetryMax %v", i, delay, retryMax)
		}
		if prev > 0 && nominal < retryMax {
			if r := float64(delay) / float64(prev); r < 2*0.8/1.2-0.1 || r > 2*1.2/0.8+0.1 {
				t.Errorf("attempt %d: delay grew %.2fx, want about 2x", i, r)
			}
		}
		t.Logf("attempt %d: retry in %v", i, delay.Round(time.Millisecond))
		prev = delay
		nominal = min(2*nominal, retryMax)
		// Retry now rather than in several seconds.
		if err := tm.SetEnabled(streamName, "youtube", true); err != nil {
			t.Fatal(err)
		}
	}
	c := tm.fp.next(t)
	c.live()
	s := tm.waitState(t, "youtube", StateLive)
	if s.LastError != "" || s.RetryAt != nil {
		t.Errorf("live status keeps the failure: %+v", s)
	}
}

func TestRemove(t *testing.T) {
	tm := startManager(t, Options{})
	tm.add(t, "youtube", youtubeURL, true)
	tm.add(t, "twitch", "rtmp://live.twitch.tv/app/live_123_abc", true)
	tm.goLive(t)
	c1, c2 := tm.fp.next(t), tm.fp.next(t)
	c1.live()
	c2.live()
	tm.waitState(t, "youtube", StateLive)
	tm.waitState(t, "twitch", StateLive)

	tm.mu.Lock()
	d, _ := tm.find(streamName, "youtube")
	tm.mu.Unlock()
	if err := tm.Remove(streamName, "youtube"); err != nil {
		t.Fatal(err)
	}
	// Remove returns once the supervisor has.
	select {
	case <-d.done:
	default:
		t.Fatal("Remove returned before the supervisor")
	}
	var yt *pushCall
	for _, c := range []*pushCall{c1, c2} {
		select {
		case <-c.returned:
			yt = c
		default:
		}
	}
	if yt == nil || yt.ctx.Err() == nil {
		t.Fatal("the removed destination's push was not cancelled")
	}
	if l := tm.List(streamName); len(l) != 1 || l[0].Name != "twitch" || l[0].State != StateLive {
		t.Errorf("List after Remove = %+v", l)
	}
	if err := tm.Remove(streamName, "youtube"); err == nil {
		t.Error("second Remove succeeded")
	}
	if err := tm.SetEnabled(streamName, "youtube", true); err == nil {
		t.Error("SetEnabled of a removed destination succeeded")
	}
	tm.fp.expectNoCall(t)
}

func TestAddErrors(t *testing.T) {
	reg := relay.NewRegistry(relay.RegistryOptions{})
	if _, err := reg.Add(streamName, "pk"); err != nil {
		t.Fatal(err)
	}
	failing := func(u *url.URL, _ Options) (Pusher, error) {
		return nil, fmt.Errorf("cannot push to %s", u)
	}
	m := NewManager(reg, map[string]NewPusherFunc{
		"rtmp":  func(u *url.URL, _ Options) (Pusher, error) { return newFakePusher().pusher(u), nil },
		"rtmps": failing,
	}, Options{})
	if err := m.Add(streamName, DestinationConfig{Name: "youtube", URL: youtubeURL}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, stream string
		c            DestinationConfig
	}{
		{"unknown scheme", streamName, DestinationConfig{Name: "srt", URL: "srt://host:9000?streamid=abcd-efgh-ijkl"}},
		{"duplicate name", streamName, DestinationConfig{Name: "youtube", URL: "rtmp://b.rtmp.youtube.com/live2/abcd-efgh-ijkl"}},
		{"unknown stream", "nope", DestinationConfig{Name: "youtube2", URL: youtubeURL}},
		{"invalid URL", streamName, DestinationConfig{Name: "bad", URL: "rtmp://host/app/abcd-efgh-ijkl\x7f%zz"}},
		{"pusher refuses the URL", streamName, DestinationConfig{Name: "fb", URL: "rtmps://host/app/abcd-efgh-ijkl"}},
	} {
		err := m.Add(tt.stream, tt.c)
		if err == nil {
			t.Errorf("%s: Add succeeded", tt.name)
			continue
		}
		if strings.Contains(err.Error(), youtubeKey) {
			t.Errorf("%s: error reveals the key: %v", tt.name, err)
		}
	}
	if l := m.List(streamName); len(l) != 1 {
		t.Errorf("List = %+v, want the one destination added", l)
	}
}

func TestRedact(t *testing.T) {
	for _, tt := range []struct {
		url     string
		secrets []string
	}{
		{youtubeURL, []string{youtubeKey}},
		{"rtmps://live-api-s.facebook.com:443/rtmp/FB-123?s_bl=1&a=xyz", []string{"FB-123", "s_bl=1&a=xyz", "a=xyz"}},
		{"rtmp://user:pass@host/app/key", []string{"pass", "user:pass", "app/key"}},
		{"rtmp://live.twitch.tv/app/live_123456_AbCdEf", []string{"live_123456_AbCdEf"}},
		{"rtmps://va.pscp.tv:443/x/k3y-with/slash", []string{"k3y-with/slash"}},
	} {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range []string{
				"connect " + tt.url + ": connection refused",
				"connect " + u.String() + ": connection refused",
				"bad result: &{3 0 onStatus 5 [<nil> {level error} {code NetStream.Publish.BadName} {description " + tt.url + "}]}",
			} {
				got := redact(msg, u)
				for _, s := range tt.secrets {
					if strings.Contains(got, s) {
						t.Errorf("redact(%q) = %q, still holds %q", msg, got, s)
					}
				}
				if !strings.Contains(got, u.Hostname()) || !strings.Contains(got, "<key>") {
					t.Errorf("redact(%q) = %q: host or placeholder missing", msg, got)
				}
			}
		})
	}
	// Short path parts are left alone, whatever the URL: only the key goes.
	u, _ := url.Parse(youtubeURL)
	if got := redact("live2 failed", u); got != "live2 failed" {
		t.Errorf("redact touched the application: %q", got)
	}
}

// TestRedactEscapedKey: a key with characters that URLs escape appears escaped in messages
// that print the URL (u.String(), gortmplib's tcUrl).
func TestRedactEscapedKey(t *testing.T) {
	u, err := url.Parse("rtmp://host/app/k%20ey%2Fsecret")
	if err != nil {
		t.Fatal(err)
	}
	got := redact("connect "+u.String()+": refused", u)
	if strings.Contains(got, "secret") {
		t.Errorf("redacted message still holds the escaped key: %s", got)
	}
}

// TestStatusRedactsPusherErrors: whatever the pusher's error says, the status (shown by the API)
// and the log lines never hold the key.
func TestStatusRedactsPusherErrors(t *testing.T) {
	tm := startManager(t, Options{RetryMin: time.Hour, RetryMax: time.Hour})
	const fb = "rtmps://live-api-s.facebook.com:443/rtmp/FB-123?s_bl=1&a=xyz"
	tm.add(t, "facebook", fb, true)
	tm.add(t, "youtube", youtubeURL, true)
	tm.goLive(t)
	for range 2 {
		// What url.Error and gortmplib print: the URL as given, and re-encoded.
		c := tm.fp.next(t)
		c.fail(fmt.Errorf("connect %s (%s): %w", c.u.Redacted(), c.u, errors.New("refused")))
	}
	for _, name := range []string{"facebook", "youtube"} {
		s := tm.waitState(t, name, StateRetrying)
		if s.LastError == "" {
			t.Errorf("%s: no LastError", name)
		}
		t.Logf("%s: %s", name, s.LastError)
	}
	fbStatus, ytStatus := tm.status(t, "facebook"), tm.status(t, "youtube")
	for _, s := range []string{"FB-123", "a=xyz"} {
		if strings.Contains(fbStatus.LastError, s) {
			t.Errorf("facebook LastError holds %q: %s", s, fbStatus.LastError)
		}
	}
	if strings.Contains(ytStatus.LastError, youtubeKey) {
		t.Errorf("youtube LastError holds the key: %s", ytStatus.LastError)
	}
}

// TestRunStops: Run returns after cancel with every supervisor, even with pushes running
// and destinations waiting to retry.
func TestRunStops(t *testing.T) {
	tm := startManager(t, Options{RetryMin: time.Hour, RetryMax: time.Hour})
	tm.add(t, "youtube", youtubeURL, true)
	tm.add(t, "twitch", "rtmp://live.twitch.tv/app/live_123_abc", true)
	tm.add(t, "off", "rtmp://host/app/other-key", false)
	tm.goLive(t)
	c1, c2 := tm.fp.next(t), tm.fp.next(t)
	c1.live()
	c2.fail(errors.New("refused"))
	tm.stop() // checks that Run returns and the goroutines are gone
	for _, c := range []*pushCall{c1, c2} {
		c.waitReturned(t)
	}
	// Adding to a stopped manager starts nothing that outlives it.
	before := runtime.NumGoroutine()
	tm.add(t, "late", "rtmp://host/app/late-key", true)
	testutil.WaitFor(t, "no goroutine left", func() bool { return runtime.NumGoroutine() <= before })
}

// TestAllowPrivate: a pusher is made with the private networks allowed when the manager or
// its own destination allows them, and the status says which destinations may.
func TestAllowPrivate(t *testing.T) {
	for _, tc := range []struct {
		manager, dest, want bool
	}{{false, false, false}, {false, true, true}, {true, false, true}, {true, true, true}} {
		reg := relay.NewRegistry(relay.RegistryOptions{})
		if _, err := reg.Add(streamName, "k"); err != nil {
			t.Fatal(err)
		}
		var got *bool
		m := NewManager(reg, map[string]NewPusherFunc{"rtmp": func(_ *url.URL, o Options) (Pusher, error) {
			got = &o.AllowPrivateNetworks
			if o.Guard().AllowPrivate != o.AllowPrivateNetworks {
				t.Errorf("Options.Guard does not follow AllowPrivateNetworks")
			}
			return newFakePusher().pusher(nil), nil
		}}, Options{AllowPrivateNetworks: tc.manager})
		if err := m.Add(streamName, DestinationConfig{Name: "d", URL: youtubeURL, AllowPrivate: tc.dest}); err != nil {
			t.Fatal(err)
		}
		if got == nil || *got != tc.want {
			t.Errorf("manager %v, destination %v: the pusher's AllowPrivateNetworks = %v, want %v", tc.manager, tc.dest, got, tc.want)
		}
		if l := m.List(streamName); len(l) != 1 || l[0].AllowPrivate != tc.dest {
			t.Errorf("manager %v, destination %v: status %+v", tc.manager, tc.dest, l)
		}
	}
}
