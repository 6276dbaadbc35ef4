package srt

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

// A publisher whose goroutine panics is closed, with one log line, and the server goes on
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
	id := "publish:" + streamName + ":" + publishKey
	if c, err := dial(t, ts.addr, id, ""); err == nil {
		_ = newEncoder(t, c).send(500 * time.Millisecond)
	}
	ts.logs.WaitFor(t, "srt publisher panicked")
	testutil.WaitFor(t, "the panicked publisher to leave its stream", func() bool { return state(ts.st) != relay.Live })
	if !strings.Contains(ts.logs.String(), "injected failure") || !strings.Contains(ts.logs.String(), "guard_test.go") {
		t.Errorf("the panic line lacks the panic or its stack:\n%s", ts.logs)
	}
	ts.goLive(t, ts.st, id)
	if c := ts.logs.Count("panicked"); c != 1 {
		t.Errorf("%d panic lines, want 1", c)
	}
}

// 100 wrong keys in stream ids from one address (both syntaxes): a handful of log lines, none
// with a key; the right key is refused unchecked while the address is blocked, and accepted
// once the block is over.
func TestWrongKeyFlood(t *testing.T) {
	const wrongKey = "pk-guess-0000"
	clock := guardtest.NewClock()
	ts := startServer(t, func(s *Server) { s.keyLimits = guard.Limits{Now: clock.Now} })
	right := "publish:" + streamName + ":" + publishKey
	for i := range 100 {
		id := "publish:" + streamName + ":" + wrongKey
		if i%2 == 1 {
			id = "#!::r=" + streamName + ",m=publish,s=" + wrongKey
		}
		if _, err := dial(t, ts.addr, id, ""); err == nil {
			t.Fatalf("attempt %d: wrong key accepted", i)
		}
	}
	if _, err := dial(t, ts.addr, right, ""); err == nil {
		t.Fatal("right key accepted from a blocked address")
	}
	clock.Add(guard.DefaultWindow)
	ts.logs.WaitFor(t, "refused 100 publish attempts with a wrong key from 127.0.0.1 in the last 10s")
	ts.goLive(t, ts.st, right)
	ts.stop()
	logs := ts.logs.String()
	if n := ts.logs.Count("refused"); n > 3 {
		t.Errorf("%d refusal lines for 101 attempts:\n%s", n, logs)
	}
	testutil.AssertNoSecret(t, "log", logs, wrongKey, publishKey)
}
