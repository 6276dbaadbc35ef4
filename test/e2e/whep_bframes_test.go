package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// smoothness is what watch.mjs measured over its window (after the first 60 frames): frames
// shown (requestVideoFrameCallback) and what the receiver's inbound-rtp stats say.
type smoothness struct {
	Seconds        float64 `json:"seconds"`
	RenderedFPS    float64 `json:"renderedFps"`
	MaxGapMS       float64 `json:"maxGapMs"`
	P99GapMS       float64 `json:"p99GapMs"`
	LongGaps       int     `json:"longGaps"`
	Backwards      int     `json:"backwards"`
	FramesReceived int     `json:"framesReceived"`
	FramesDecoded  int     `json:"framesDecoded"`
	FramesDropped  int     `json:"framesDropped"`
	FreezeCount    int     `json:"freezeCount"`
	FreezesSeconds float64 `json:"totalFreezesDuration"`
	FPS            float64 `json:"framesPerSecond"`
	Decoder        string  `json:"decoder"`
}

// watchMeasure is watch.mjs's "measured" event with its window.
type watchMeasure struct {
	watchEvent
	Window smoothness `json:"window"`
}

// watchLive plays the (live) page in headless Chromium with watch.mjs for seconds and returns
// its events by name, the "measured" one with its window.
func watchLive(t *testing.T, page string, seconds int) (map[string]watchEvent, watchMeasure) {
	t.Helper()
	dir := browserDir(t)
	cmd := exec.CommandContext(t.Context(), "node", filepath.Join(dir, "watch.mjs"),
		page, t.TempDir(), strconv.Itoa(seconds), "live")
	cmd.Dir = dir
	out, err := cmd.Output()
	events := map[string]watchEvent{}
	var m watchMeasure
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e watchEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if e.Event != "console" {
			t.Logf("viewer: %s", sc.Text())
		}
		events[e.Event] = e
		if e.Event == "measured" {
			_ = json.Unmarshal(sc.Bytes(), &m)
		}
	}
	if err != nil {
		t.Fatalf("watch page: %v", err)
	}
	return events, m
}

// TestBenchWHEPBFrames measures, for bench/README.md, how Chromium shows a WHEP stream from
// an encoder with B-frames (libx264's defaults, as OBS) against the same clip without: the
// frames shown per second, the gaps between them, and the receiver's decoded, dropped and
// frozen frames over BEFFROI_BENCH_SECONDS (default 12). It runs only with BEFFROI_BENCH=1
// and asserts no figure.
//
//	BEFFROI_BENCH=1 BEFFROI_E2E=require go test -run TestBenchWHEPBFrames -v ./test/e2e
func TestBenchWHEPBFrames(t *testing.T) {
	if os.Getenv("BEFFROI_BENCH") != "1" {
		t.Skip("a measurement: set BEFFROI_BENCH=1")
	}
	requirePeers(t)
	browserDir(t)
	seconds := 12
	if n, err := strconv.Atoi(os.Getenv("BEFFROI_BENCH_SECONDS")); err == nil && n > 0 {
		seconds = n
	}
	for _, c := range []struct {
		name  string
		extra []string
	}{
		{"libx264 defaults (B-frames)", nil},
		{"no B-frames (-bf 0)", []string{"-bf", "0"}},
	} {
		t.Run(strings.Fields(c.name)[0], func(t *testing.T) {
			b := startBeffroi(t, nil)
			pub := publish(t, t.Context(), b.PublishURL(publishKey), clip(t, "1280x720", c.extra...), 120)
			defer pub.Kill()
			waitStream(t, b, "event", "live", 20*time.Second)
			_, m := watchLive(t, "http://"+b.HTTPAddr()+"/watch/event?mode=webrtc", seconds)
			w := m.Window
			t.Logf("%s: over %.1f s: shown %.1f fps (rVFC), gaps p99 %.0f ms max %.0f ms, %d gaps > 100 ms, %d backwards; "+
				"inbound-rtp: received %d decoded %d dropped %d, fps %.0f, %d freezes (%.2f s), decoder %s; audio packets %d",
				c.name, w.Seconds, w.RenderedFPS, w.P99GapMS, w.MaxGapMS, w.LongGaps, w.Backwards,
				w.FramesReceived, w.FramesDecoded, w.FramesDropped, w.FPS, w.FreezeCount, w.FreezesSeconds, w.Decoder, m.APackets)
		})
	}
}
