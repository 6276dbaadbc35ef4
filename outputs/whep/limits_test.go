package whep

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// withoutCandidates removes the candidate lines of an SDP: nobody to send connectivity
// checks to.
func withoutCandidates(sdp string) string {
	var b strings.Builder
	for l := range strings.Lines(sdp) {
		if !strings.HasPrefix(l, "a=candidate:") && !strings.HasPrefix(l, "a=end-of-candidates") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// postFrom serves one offer from remote ("127.0.0.7:1234") straight to the handler, as the
// HTTP server (after clientip.Middleware) would.
func postFrom(h http.Handler, remote, offer string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/whep/"+streamName, strings.NewReader(offer))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/sdp")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// flood posts n offers at once from remote(i) and returns the count of each status; every
// 503 must carry Retry-After.
func flood(t *testing.T, h http.Handler, n int, remote func(i int) string, offer string) map[int]int {
	t.Helper()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w := postFrom(h, remote(i), offer)
			if w.Code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			mu.Lock()
			codes[w.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return codes
}

// TestPendingCapPerAddress: 60 anonymous offers at once from one address make at most
// max_pending_per_address pending sessions, the rest get 503 with Retry-After and one log
// line, the goroutines stay bounded, and once the pending sessions time out the address is
// accepted again.
func TestPendingCapPerAddress(t *testing.T) {
	const perAddr = 4
	ts := startServerWith(t, nil, func(c *Config) {
		c.Admission = rtcnet.NewAdmission(16, perAddr)
		c.pendingTimeout = time.Second
	})
	feed(t, ts.st, relay.Opus)
	h := ts.Handler()
	offer := withoutCandidates(newViewer(t, nil).offer(t))
	before := runtime.NumGoroutine()
	codes := flood(t, h, 60, func(int) string { return "127.0.0.7:40000" }, offer)
	during := runtime.NumGoroutine()
	t.Logf("goroutines: %d before, %d during", before, during)
	if codes[http.StatusCreated] != perAddr || codes[http.StatusServiceUnavailable] != 60-perAddr {
		t.Fatalf("statuses %v, want %d x 201 and the rest 503", codes, perAddr)
	}
	if ts.adm.Pending() != perAddr || ts.Sessions() != perAddr {
		t.Errorf("%d pending, %d sessions, want %d", ts.adm.Pending(), ts.Sessions(), perAddr)
	}
	if grown := during - before; grown > perAddr*40 {
		t.Errorf("goroutines grew by %d with %d pending sessions", grown, perAddr)
	}
	if n := ts.logs.Count("too many WebRTC sessions connecting"); n != 1 {
		t.Errorf("%d log lines for the refused offers, want 1", n)
	}
	testutil.WaitFor(t, "the pending sessions to time out", func() bool {
		return ts.Sessions() == 0 && ts.adm.Pending() == 0
	})
	ts.logs.WaitFor(t, "no connection after 1s")
	testutil.WaitFor(t, "the goroutines to go", func() bool { return runtime.NumGoroutine() <= before+10 })
	if w := postFrom(h, "127.0.0.7:40001", offer); w.Code != http.StatusCreated {
		t.Errorf("after the timeouts: %d %s, want 201", w.Code, w.Body.String())
	}
}

// TestPendingCapOverall: offers from many addresses stop at max_pending; viewers that
// connect are not pending, so a full house of viewers never blocks the next one.
func TestPendingCapOverall(t *testing.T) {
	const maxPending = 6
	ts := startServerWith(t, nil, func(c *Config) {
		c.Admission = rtcnet.NewAdmission(maxPending, 2)
	})
	feed(t, ts.st, relay.Opus)
	offer := withoutCandidates(newViewer(t, nil).offer(t))
	codes := flood(t, ts.Handler(), 30, func(i int) string { return fmt.Sprintf("127.0.0.%d:40000", 10+i) }, offer)
	if codes[http.StatusCreated] != maxPending || codes[http.StatusServiceUnavailable] != 30-maxPending {
		t.Fatalf("statuses %v, want %d x 201 and the rest 503", codes, maxPending)
	}
}

// TestConnectedViewersAreNotPending: with a cap of 1 pending session, viewers connect one
// after the other, as many as come.
func TestConnectedViewersAreNotPending(t *testing.T) {
	ts := startServerWith(t, nil, func(c *Config) { c.Admission = rtcnet.NewAdmission(1, 1) })
	feed(t, ts.st, relay.Opus)
	for i := range 3 {
		v := newViewer(t, nil)
		v.play(t, ts)
		testutil.WaitFor(t, fmt.Sprintf("viewer %d's frames", i), func() bool { return v.frames.Load() >= 3 })
		testutil.WaitFor(t, "no session pending", func() bool { return ts.adm.Pending() == 0 })
	}
	if ts.Sessions() != 3 {
		t.Errorf("%d sessions, want 3", ts.Sessions())
	}
}

// TestPanicEndsOneSession: a panic in a pion callback (the connection state) or in a
// session's goroutine (the playing loop) ends that session, with one log line and its stack,
// and the viewer's count; the process goes on and the next viewer plays.
func TestPanicEndsOneSession(t *testing.T) {
	for _, where := range []string{"state", "session", "frame"} {
		t.Run(where, func(t *testing.T) {
			var once atomic.Bool
			ts := startServerWith(t, nil, func(c *Config) {
				c.hook = func(w string) {
					if w == where && once.CompareAndSwap(false, true) {
						panic("injected in " + w)
					}
				}
			})
			feed(t, ts.st, relay.Opus)
			newViewer(t, nil).play(t, ts)
			ts.logs.WaitFor(t, "WHEP session ended")
			testutil.WaitFor(t, "the session to go", func() bool {
				return ts.Sessions() == 0 && ts.adm.Pending() == 0 && ts.aud.count(streamName+"/whep") == 0
			})
			if n := ts.logs.Count("panic in a WebRTC session", "injected in "+where, "goroutine"); n != 1 {
				t.Errorf("%d panic lines with the stack, want 1", n)
			}
			v := newViewer(t, nil)
			v.play(t, ts)
			testutil.WaitFor(t, "the next viewer's frames", func() bool { return v.frames.Load() >= 3 })
		})
	}
}
