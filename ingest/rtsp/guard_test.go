package rtsp

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beffroi/beffroi/ingest/internal/guard"
	"github.com/beffroi/beffroi/ingest/internal/guard/guardtest"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// panicOnce returns a hook that panics the first time it runs.
func panicOnce(n *atomic.Int32) func() {
	return func() {
		if n.Add(1) == 1 {
			panic("injected failure")
		}
	}
}

// A connection whose handler panics (at RECORD, or decoding a packet) is closed, with one log
// line, and the server goes on serving the next publisher.
func TestPanicInHandler(t *testing.T) {
	for _, tt := range []struct {
		name, line string
		hook       func(s *Server, n *atomic.Int32)
	}{
		{"record", "rtsp RECORD handler panicked", func(s *Server, n *atomic.Int32) { s.onRecord = panicOnce(n) }},
		{"packet", "rtsp packet decoder panicked", func(s *Server, n *atomic.Int32) { s.onPacket = panicOnce(n) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			ts := startServer(t, func(s *Server) { tt.hook(s, &n) })
			if e, err := newEncoder(t, ts.url("", "/"+streamName+"?key="+publishKey), true); err == nil {
				_ = e.send(time.Second)
			}
			ts.logs.WaitFor(t, tt.line)
			testutil.WaitFor(t, "the panicked publisher to leave its stream", func() bool { return ts.state() != relay.Live })
			if !strings.Contains(ts.logs.String(), "injected failure") || !strings.Contains(ts.logs.String(), "guard_test.go") {
				t.Errorf("the panic line lacks the panic or its stack:\n%s", ts.logs)
			}
			ts.goLive(t).mustSend(time.Second)
			if c := ts.logs.Count("panicked"); c != 1 {
				t.Errorf("%d panic lines, want 1", c)
			}
			testutil.AssertNoSecret(t, "log", ts.logs.String(), publishKey)
		})
	}
}

// A pull attempt that panics (once at PLAY, once decoding a packet) is one failed attempt:
// the puller retries and the camera feeds the stream.
func TestPullerPanic(t *testing.T) {
	st := newStream(t, time.Minute)
	cam := startCamera(t, "127.0.0.1:0", 0, false)
	defer cam.close()
	logs := &testutil.LogBuffer{}
	var plays, packets atomic.Int32
	p := &Puller{URL: camURL(cam.addr), Stream: st, Logger: logs.Logger(),
		RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		onPlay: panicOnce(&plays), onPacket: panicOnce(&packets)}
	stop := testutil.Start(t, p.Run)
	defer stop()
	testutil.WaitFor(t, "the puller to be live after its panics", func() bool {
		return p.Status().State == PullLive && streamState(st) == relay.Live && packets.Load() > 100
	})
	readSome(t, st, 0, 10)
	stop()
	out := logs.String()
	if logs.Count("rtsp camera pull panicked") != 1 || logs.Count("rtsp packet decoder panicked") != 1 {
		t.Errorf("want one line per panic:\n%s", out)
	}
	testutil.AssertNoSecret(t, "the log", out, camPass)
}

// 100 wrong keys in ?key= from one address: a handful of log lines, none with a key; the
// right key is refused unchecked while the address is blocked, and accepted once the block
// is over.
func TestWrongKeyFlood(t *testing.T) {
	clock := guardtest.NewClock()
	ts := startServer(t, func(s *Server) { s.keyLimits = guard.Limits{Now: clock.Now} })
	for i := range 100 {
		u := ts.url("", "/"+streamName+"?key="+wrongKey)
		if i%2 == 1 {
			u = ts.url("encoder:"+wrongKey, "/"+streamName) // Basic authentication
		}
		if _, err := newEncoder(t, u, true); err == nil {
			t.Fatalf("attempt %d: wrong key accepted", i)
		}
	}
	if _, err := newEncoder(t, ts.url("", "/"+streamName+"?key="+publishKey), true); err == nil {
		t.Fatal("right key accepted from a blocked address")
	}
	clock.Add(guard.DefaultWindow)
	ts.logs.WaitFor(t, "refused 100 publish attempts with a wrong key from 127.0.0.1 in the last 10s")
	ts.goLive(t)
	ts.stop()
	logs := ts.logs.String()
	if n := ts.logs.Count("refused"); n > 3 {
		t.Errorf("%d refusal lines for 101 attempts:\n%s", n, logs)
	}
	testutil.AssertNoSecret(t, "log", logs, wrongKey, publishKey)
}
