package rtmp

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

// A connection whose handler panics is closed, with one log line, and the server goes on
// serving the next publisher.
func TestPanicInHandler(t *testing.T) {
	var n atomic.Int32
	ts := startServer(t, func(s *Server) {
		s.onPublish = func() {
			if n.Add(1) == 1 {
				panic("injected failure")
			}
		}
	})
	// The first publisher's connection panics: its encoder fails at some point.
	if e, err := newEncoder(t, ts.url("rtmp", "/live", publishKey), nil); err == nil {
		_ = e.send(2500 * time.Millisecond)
	}
	ts.logs.WaitFor(t, "rtmp connection handler panicked")
	testutil.WaitFor(t, "the panicked publisher to leave its stream", func() bool { return ts.state() != relay.Live })
	if !strings.Contains(ts.logs.String(), "injected failure") || !strings.Contains(ts.logs.String(), "guard_test.go") {
		t.Errorf("the panic line lacks the panic or its stack:\n%s", ts.logs)
	}
	ts.goLive(t, "rtmp", nil)
	if c := ts.logs.Count("panicked"); c != 1 {
		t.Errorf("%d panic lines, want 1", c)
	}
}

// 100 wrong keys from one address: a handful of log lines, none with the key; the right key
// is refused unchecked while the address is blocked, and accepted once the block is over.
func TestWrongKeyFlood(t *testing.T) {
	const wrongKey = "pk-guess-0000"
	clock := guardtest.NewClock()
	ts := startServer(t, func(s *Server) { s.keyLimits = guard.Limits{Now: clock.Now} })
	for i := range 100 {
		if _, err := connect(t, ts.url("rtmp", "/live", wrongKey+string(rune('a'+i%26))), true, nil); err == nil {
			t.Fatalf("attempt %d: wrong key accepted", i)
		}
	}
	if _, err := connect(t, ts.url("rtmp", "/live", publishKey), true, nil); err == nil {
		t.Fatal("right key accepted from a blocked address")
	}
	// 99 refusals after the first, logged alone, and the right key's: one line at the end of
	// the window, which is also the end of the block.
	clock.Add(guard.DefaultWindow)
	ts.logs.WaitFor(t, "refused 100 publish attempts with a wrong key from 127.0.0.1 in the last 10s")
	ts.goLive(t, "rtmp", nil)
	ts.stop()
	logs := ts.logs.String()
	if n := ts.logs.Count("refused"); n > 3 {
		t.Errorf("%d refusal lines for 101 attempts:\n%s", n, logs)
	}
	testutil.AssertNoSecret(t, "log", logs, wrongKey, publishKey)
}
