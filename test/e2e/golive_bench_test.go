package e2e

import (
	"testing"
	"time"

	"github.com/beffroi/beffroi/outputs"
)

// TestBenchGoLiveToPlatform measures, for bench/README.md, the time from pressing "Go live"
// on the go-live page (headless Chromium, fake camera) to the first frames at an nginx-rtmp
// platform, over BEFFROI_BENCH_RUNS runs (default 3), with the stages in between. It runs
// only with BEFFROI_BENCH=1 and asserts no timing: only that each run reached the platform.
//
//	BEFFROI_BENCH=1 BEFFROI_E2E=require go test -run TestBenchGoLiveToPlatform -v ./test/e2e
func TestBenchGoLiveToPlatform(t *testing.T) {
	requireBench(t)
	browserDir(t)
	runs := benchRuns(3)
	var connected, live, first []time.Duration
	for i := range runs {
		c, l, f := goLiveOnce(t)
		t.Logf("run %d: pressed -> connected %v, -> destination live %v, -> first frame at the platform %v", i+1, c, l, f)
		connected, live, first = append(connected, c), append(live, l), append(first, f)
	}
	median := func(d []time.Duration) time.Duration { return medianOf(d).Round(time.Millisecond) }
	t.Logf("median of %d runs: pressed -> connected %v, -> destination live %v, -> first frame at the platform %v",
		runs, median(connected), median(live), median(first))
}

// goLiveOnce goes live once on fresh instances and returns, from the press of the button,
// when the page's connection came up, when the destination went live and when the platform's
// recording first held a frame (more than the FLV header and metadata).
func goLiveOnce(t *testing.T) (connected, live, first time.Duration) {
	n := startNginx(t)
	b := startBeffroi(t, withNginx(n))
	page := "http://" + b.HTTPAddr() + "/go-live/event?key=" + publishKey
	type seen struct{ live, first time.Time }
	found := make(chan seen, 1)
	stop := make(chan struct{})
	go func() {
		var s seen
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if st, ok := destStatus(b, "event", "nginx1"); ok && st.State == outputs.StateLive && s.live.IsZero() {
				s.live = time.Now()
			}
			for _, f := range n.Recordings() {
				if fileSize(f) > 2000 && s.first.IsZero() {
					s.first = time.Now()
				}
			}
			select {
			case <-stop:
				found <- s
				return
			case <-tick.C:
			}
		}
	}()
	events := runGoLive(t, page, 12, 0, "")
	close(stop)
	s := <-found
	b.Stop(t)
	p, ok := findEvent(events, "pressed")
	c, ok2 := findEvent(events, "connected")
	if !ok || !ok2 || s.live.IsZero() || s.first.IsZero() {
		t.Fatalf("the page did not reach the platform: events %+v, destination live at %v, first frame at %v", events, s.live, s.first)
	}
	pressed := time.UnixMilli(p.T)
	return time.Duration(c.MS) * time.Millisecond, s.live.Sub(pressed), s.first.Sub(pressed)
}
