package whip

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

	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/ingest/internal/guard"
	"github.com/beffroi/beffroi/ingest/internal/guard/guardtest"
	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/internal/rtctest"
	"github.com/beffroi/beffroi/internal/testutil"
)

// postFrom serves one offer from remote ("127.0.0.7:1234") straight to the handler, as the
// HTTP server (after clientip.Middleware) would.
func postFrom(h http.Handler, remote, key, offer string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/whip/"+streamName, strings.NewReader(offer))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+key)
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
			w := postFrom(h, remote(i), publishKey, offer)
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

// TestPendingCapPerAddress: 60 offers at once from one address make at most
// max_pending_per_address pending sessions, the rest get 503 with Retry-After, the
// goroutines stay bounded, and once the pending sessions time out the address is accepted
// again.
func TestPendingCapPerAddress(t *testing.T) {
	const perAddr = 4
	ts := startServerWith(t, func(c *Config) {
		c.Admission = rtcnet.NewAdmission(16, perAddr)
		c.pendingTimeout = time.Second
	})
	h := ts.Handler()
	offer := withoutCandidates(pionOffer(t)) // nobody to send connectivity checks to
	before := runtime.NumGoroutine()
	codes := flood(t, h, 60, func(int) string { return "127.0.0.7:40000" }, offer)
	during := runtime.NumGoroutine()
	if codes[http.StatusCreated] != perAddr || codes[http.StatusServiceUnavailable] != 60-perAddr {
		t.Fatalf("statuses %v, want %d x 201 and the rest 503", codes, perAddr)
	}
	if ts.adm.Pending() != perAddr {
		t.Errorf("%d pending, want %d", ts.adm.Pending(), perAddr)
	}
	// A pending session costs a few dozen goroutines (pion's agent, DTLS, interceptors); 60
	// of them would be hundreds.
	t.Logf("goroutines: %d before, %d during", before, during)
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
	if w := postFrom(h, "127.0.0.7:40001", publishKey, offer); w.Code != http.StatusCreated {
		t.Errorf("after the timeouts: %d %s, want 201", w.Code, w.Body.String())
	}
}

// Sessions returns the number of sessions (tests).
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// TestPendingCapOverall: offers from many addresses stop at max_pending.
func TestPendingCapOverall(t *testing.T) {
	const maxPending = 6
	ts := startServerWith(t, func(c *Config) {
		c.Admission = rtcnet.NewAdmission(maxPending, 2)
	})
	offer := withoutCandidates(pionOffer(t))
	codes := flood(t, ts.Handler(), 30, func(i int) string { return fmt.Sprintf("127.0.0.%d:40000", 10+i) }, offer)
	if codes[http.StatusCreated] != maxPending || codes[http.StatusServiceUnavailable] != 30-maxPending {
		t.Fatalf("statuses %v, want %d x 201 and the rest 503", codes, maxPending)
	}
}

// TestConnectedIsNotPending: a publisher that connects gives its pending slot back.
func TestConnectedIsNotPending(t *testing.T) {
	ts := startServerWith(t, func(c *Config) { c.Admission = rtcnet.NewAdmission(1, 1) })
	c := newClient(t, []webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	connect(t, ts, c)
	testutil.WaitFor(t, "the session to leave the pending count", func() bool { return ts.adm.Pending() == 0 })
	if w := postFrom(ts.Handler(), "127.0.0.1:40000", publishKey, withoutCandidates(pionOffer(t))); w.Code != http.StatusCreated {
		t.Errorf("a second offer with a cap of 1 and one connected session: %d, want 201", w.Code)
	}
}

// connect publishes c to the test stream over HTTP and waits for it to connect.
func connect(t *testing.T, ts *testServer, c *client) string {
	t.Helper()
	resp, answer := post(t, ts.http.URL+"/whip/"+streamName, publishKey, rtctest.Offer(t, c.pc))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s %s", resp.Status, answer)
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	c.waitConnected(t)
	return resp.Header.Get("Location")
}

// TestKeyGuessing: wrong keys from one address are refused with the same 401 whatever the
// key is; past guard.DefaultBurst of them the address gets 429 with Retry-After, even with the
// right key, until its block is over; other addresses are not affected; the burst makes one
// refusal line and one summary, not a line per attempt.
func TestKeyGuessing(t *testing.T) {
	clock := guardtest.NewClock()
	ts := startServerWith(t, func(c *Config) { c.now = clock.Now })
	h := ts.Handler()
	offer := withoutCandidates(pionOffer(t))
	const guesser = "127.0.0.66:40000"
	var bodies []string
	for i := range guard.DefaultBurst {
		key := fmt.Sprintf("pk-guess-%d", i)
		if i == 1 {
			key = otherKey // valid, for another stream: must not be told apart
		}
		w := postFrom(h, guesser, key, offer)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, w.Code)
		}
		bodies = append(bodies, w.Body.String())
	}
	if bodies[0] != bodies[1] {
		t.Errorf("an unknown key (%q) and another stream's key (%q) are answered differently", bodies[0], bodies[1])
	}
	for range 20 {
		w := postFrom(h, guesser, "pk-guess-more", offer)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "10" {
			t.Fatalf("after %d failures: %d Retry-After %q, want 429 with Retry-After 10", guard.DefaultBurst, w.Code, w.Header().Get("Retry-After"))
		}
	}
	if w := postFrom(h, guesser, publishKey, offer); w.Code != http.StatusTooManyRequests {
		t.Errorf("the right key from a blocked address: %d, want 429 (a guess must tell nothing)", w.Code)
	}
	if w := postFrom(h, "127.0.0.5:40000", publishKey, offer); w.Code != http.StatusCreated {
		t.Errorf("another address: %d %s, want 201", w.Code, w.Body.String())
	}
	clock.Add(guard.DefaultBlock)
	ts.keys.Sweep()
	if n := ts.logs.Count("publish refused"); n != 1 {
		t.Errorf("%d 'publish refused' lines for a burst of %d attempts, want 1:\n%s", n, guard.DefaultBurst+21, ts.logs.String())
	}
	ts.logs.WaitFor(t, "refused 25 publish attempts with a wrong key from 127.0.0.66 in the last 10s")
	if w := postFrom(h, guesser, publishKey, offer); w.Code != http.StatusCreated {
		t.Errorf("after %s: %d, want 201", guard.DefaultBlock, w.Code)
	}
}

// TestPanicEndsOneSession: a panic in a pion callback (OnTrack) or in a session's goroutine
// (the RTP reader) ends that session, with one log line and its stack; the process goes on
// and the next publisher is served.
func TestPanicEndsOneSession(t *testing.T) {
	for _, where := range []string{"track", "rtp", "state", "session"} {
		t.Run(where, func(t *testing.T) {
			var once atomic.Bool
			ts := startServerWith(t, func(c *Config) {
				c.hook = func(w string) {
					if w == where && once.CompareAndSwap(false, true) {
						panic("injected in " + w)
					}
				}
			})
			c := newClient(t, []webrtc.NetworkType{webrtc.NetworkTypeUDP4})
			resp, answer := post(t, ts.http.URL+"/whip/"+streamName, publishKey, rtctest.Offer(t, c.pc))
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("POST: %s %s", resp.Status, answer)
			}
			if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
				t.Fatal(err)
			}
			ts.logs.WaitFor(t, "WHIP session ended")
			testutil.WaitFor(t, "the session to go", func() bool { return ts.Sessions() == 0 && ts.adm.Pending() == 0 })
			if n := ts.logs.Count("panic in a WebRTC session", "injected in "+where, "goroutine"); n != 1 {
				t.Errorf("%d panic lines with the stack, want 1", n)
			}
			c2 := newClient(t, []webrtc.NetworkType{webrtc.NetworkTypeUDP4})
			connect(t, ts, c2)
			testutil.WaitFor(t, "video from the next publisher", func() bool { return videoFrames(ts.st) > 0 })
		})
	}
}
