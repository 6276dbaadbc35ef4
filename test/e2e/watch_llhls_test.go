package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// latencyEvent is one line of watchlatency.mjs.
type latencyEvent struct {
	Event    string  `json:"event"`
	Behind   float64 `json:"behind"`
	Start    float64 `json:"start"`
	Frames   int     `json:"frames"`
	Advanced float64 `json:"advanced"`
	MS       float64 `json:"ms"`
	Restarts int     `json:"restarts"`
	Text     string  `json:"text"`
}

// watchLatency plays page (forced to HLS) in headless Chromium with watchlatency.mjs: settle
// seconds of playing, then, with stall > 0, the network cut for stall seconds. It returns the
// script's events by name.
func watchLatency(t *testing.T, page string, settle, stall int) map[string]latencyEvent {
	t.Helper()
	return runDriver[latencyEvent](t, "watchlatency.mjs", nil, page, strconv.Itoa(settle), strconv.Itoa(stall))
}

// liveHLS starts an instance and publishes a clip with keyframes every gop frames (30 fps)
// to its stream "event", live until the test ends; it returns the instance's watch page
// forced to HLS.
func liveHLS(t *testing.T, gop int) string {
	t.Helper()
	b := startBeffroi(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	publish(t, ctx, b.PublishURL(publishKey), clip(t, "640x360", "-g", strconv.Itoa(gop)), 600)
	waitStream(t, b, "event", "live", 15*time.Second)
	return "http://" + b.HTTPAddr()
}

// TestWatchPageLLHLSLiveEdge: the watch page, forced to HLS, plays a live RTMP source (2 s
// keyframes, the usual encoder setting) close to the live edge, and after its network is cut
// for 3 s it comes back within 2.5 s of live by itself. The bound is generous (3 s, for a
// loaded machine): this checks behaviour, the figures are TestBenchWatchLLHLS's.
func TestWatchPageLLHLSLiveEdge(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	origin := liveHLS(t, 60)
	ev := watchLatency(t, origin+"/embed/event?mode=hls", 12, 3)
	s := ev["settled"]
	t.Logf("LL-HLS: %.2f s behind live once settled (%.2f s in its first 2 s)", s.Behind, s.Start)
	if s.Behind <= 0 || s.Behind > 3 {
		t.Errorf("the watch page plays %.2f s behind live, want at most 3 s", s.Behind)
	}
	r, ok := ev["recovered"]
	if !ok {
		t.Fatalf("after a 3 s network stall the page did not come back within 2.5 s of live in 40 s: %+v", ev["stuck"])
	}
	t.Logf("back within 2.5 s of live %.1f s after the network returned (%.2f s behind)", r.MS/1000, r.Behind)
}

// TestBenchWatchLLHLS measures, for bench/README.md, how far behind live the watch page plays
// over LL-HLS with 1 s and 2 s keyframe intervals: BEFFROI_BENCH_RUNS runs each (default 5),
// each on a fresh instance and a fresh browser, and the p50. It runs only with
// BEFFROI_BENCH=1 and asserts no figure.
//
//	BEFFROI_BENCH=1 BEFFROI_E2E=require go test -run TestBenchWatchLLHLS -v ./test/e2e
func TestBenchWatchLLHLS(t *testing.T) {
	requireBench(t)
	browserDir(t)
	runs := benchRuns(5)
	for _, gop := range []int{30, 60} {
		t.Run(strconv.Itoa(gop/30)+"s-keyframes", func(t *testing.T) {
			var settled, start, recover []float64
			for i := range runs {
				// A subtest per run: its instance and publisher stop before the next.
				t.Run("run"+strconv.Itoa(i+1), func(t *testing.T) {
					ev := watchLatency(t, liveHLS(t, gop)+"/watch/event?mode=hls", 12, 3)
					s := ev["settled"]
					settled, start = append(settled, s.Behind), append(start, s.Start)
					if r, ok := ev["recovered"]; ok {
						recover = append(recover, r.MS/1000)
					}
					t.Logf("%.2f s behind live settled, %.2f s in the first 2 s", s.Behind, s.Start)
				})
			}
			t.Logf("p50 of %d runs, %d s keyframes: %.2f s behind live settled (runs %v), %.2f s in the first 2 s (%v); back within 2.5 s after a 3 s stall in %v s",
				runs, gop/30, medianOf(settled), settled, medianOf(start), start, recover)
		})
	}
}
