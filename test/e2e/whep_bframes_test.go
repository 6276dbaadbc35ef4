package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
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
// its events by name, the "measured" one with its window; onEvent, when not nil, sees each
// as it comes (runDriver).
func watchLive(t *testing.T, page string, seconds int, onEvent func(string, watchMeasure)) map[string]watchMeasure {
	t.Helper()
	return runDriver(t, "watch.mjs", onEvent, page, t.TempDir(), strconv.Itoa(seconds), "live")
}

// TestBenchWHEPBFrames measures, for bench/README.md, how Chromium shows a WHEP stream from
// an encoder with B-frames (libx264's defaults, as OBS) against the same clip without: the
// frames shown per second, the gaps between them, and the receiver's decoded, dropped and
// frozen frames over BEFFROI_BENCH_SECONDS (default 12). It runs only with BEFFROI_BENCH=1
// and asserts no figure.
//
//	BEFFROI_BENCH=1 BEFFROI_E2E=require go test -run TestBenchWHEPBFrames -v ./test/e2e
func TestBenchWHEPBFrames(t *testing.T) {
	requireBench(t)
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
			m := watchLive(t, "http://"+b.HTTPAddr()+"/watch/event?mode=webrtc", seconds, nil)["measured"]
			w := m.Window
			t.Logf("%s: over %.1f s: shown %.1f fps (rVFC), gaps p99 %.0f ms max %.0f ms, %d gaps > 100 ms, %d backwards; "+
				"inbound-rtp: received %d decoded %d dropped %d, fps %.0f, %d freezes (%.2f s), decoder %s; audio packets %d",
				c.name, w.Seconds, w.RenderedFPS, w.P99GapMS, w.MaxGapMS, w.LongGaps, w.Backwards,
				w.FramesReceived, w.FramesDecoded, w.FramesDropped, w.FPS, w.FreezeCount, w.FreezesSeconds, w.Decoder, m.APackets)
		})
	}
}

// TestWatchBFramesWHEP: ffmpeg publishes libx264 with its defaults (B-frames, as OBS) and
// AAC over RTMP; the watch page plays it over WebRTC, from the one rendition made for WHEP
// viewers (video without B-frames, Opus): frames are decoded and shown, few dropped, the
// audio arrives. The rendition stops after the last viewer.
func TestWatchBFramesWHEP(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	b := startBeffroi(t, nil)
	pub := publish(t, t.Context(), b.PublishURL(publishKey), makeClip(t), 120)
	defer pub.Kill()
	waitStream(t, b, "event", "live", 20*time.Second)
	events := watchLive(t, "http://"+b.HTTPAddr()+"/watch/event", 8, nil)
	m := events["measured"]
	w := m.Window
	t.Logf("over %.1f s: shown %.1f fps, gaps p99 %.0f ms max %.0f ms; decoded %d of %d received, dropped %d, %d freezes (%.2f s); audio packets %d",
		w.Seconds, w.RenderedFPS, w.P99GapMS, w.MaxGapMS, w.FramesDecoded, w.FramesReceived, w.FramesDropped, w.FreezeCount, w.FreezesSeconds, m.APackets)
	if p := events["live"].Protocol; p != "webrtc" {
		t.Fatalf("the page plays over %q, want webrtc", p)
	}
	// A slideshow decodes the keyframes only (one every 2 s): the window must see most
	// frames decoded, and shown.
	if w.FramesDecoded < 10*int(w.Seconds) || w.FramesDecoded < w.FramesReceived*3/4 {
		t.Errorf("decoded %d frames of %d received over %.1f s: a slideshow", w.FramesDecoded, w.FramesReceived, w.Seconds)
	}
	if w.FramesDropped > w.FramesDecoded/10 {
		t.Errorf("%d frames dropped of %d decoded", w.FramesDropped, w.FramesDecoded)
	}
	if m.Frames < 60 || m.Advanced < 2 || m.Width != 1280 || m.Height != 720 {
		t.Errorf("shown %d frames, advanced %.1f s, %dx%d; want a moving 1280x720 picture", m.Frames, m.Advanced, m.Width, m.Height)
	}
	if m.APackets == 0 || !strings.EqualFold(m.ACodec, "audio/opus") {
		t.Errorf("audio: %d packets of %q, want Opus", m.APackets, m.ACodec)
	}
	if n := len(b.Logs.Lines("WHEP session answered", "rendition=true")); n != 1 {
		t.Errorf("%d WHEP sessions answered on a rendition, want 1", n)
	}
	if n := len(b.Logs.Lines("re-encoding the video", "width=1280", "height=720")); n != 1 {
		t.Errorf("%d re-encodings at the source's 1280x720 logged, want 1", n)
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		if s := b.Renditions.Status(); len(s) != 0 {
			return fmt.Errorf("renditions after the viewer left: %+v", s)
		}
		return nil
	})
}

// TestWatchBFramesAppear: the watch page plays an RTMP source without B-frames over WebRTC
// (its video copied, Opus made of its AAC); the encoder reconnects with libx264's defaults
// (B-frames) within the reconnect grace: the rendition starts again re-encoding the video,
// and the picture goes on in the same session.
func TestWatchBFramesAppear(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	withBFrames := makeClip(t) // made before: the encoder must come back at once
	b := startBeffroi(t, nil)
	plain := publish(t, t.Context(), b.PublishURL(publishKey), clip(t, "1280x720", "-bf", "0"), 120)
	waitStream(t, b, "event", "live", 20*time.Second)
	// Once the page plays over WHEP, the encoder goes and comes back with B-frames.
	var bframes *process
	events := watchLive(t, "http://"+b.HTTPAddr()+"/watch/event", 16, func(name string, _ watchMeasure) {
		if name != "live" {
			return
		}
		testutil.Eventually(t, 60*time.Second, func() error {
			if len(b.Logs.Lines("viewer connected", "protocol=whep")) == 0 {
				return fmt.Errorf("no WHEP viewer yet")
			}
			return nil
		})
		plain.Kill()
		bframes = publish(t, t.Context(), b.PublishURL(publishKey), withBFrames, 120)
	})
	if bframes == nil {
		t.Fatal("the page never played")
	}
	defer bframes.Kill()
	w := events["measured"].Window
	t.Logf("over %.1f s: shown %.1f fps, gaps p99 %.0f ms max %.0f ms; decoded %d of %d received, dropped %d, %d freezes (%.2f s)",
		w.Seconds, w.RenderedFPS, w.P99GapMS, w.MaxGapMS, w.FramesDecoded, w.FramesReceived, w.FramesDropped, w.FreezeCount, w.FreezesSeconds)
	if p := events["live"].Protocol; p != "webrtc" {
		t.Fatalf("the page plays over %q, want webrtc", p)
	}
	if n := len(b.Logs.Lines("now has B-frames: restarting ffmpeg")); n != 1 {
		t.Errorf("the rendition started again %d times to re-encode the video, want 1", n)
	}
	// Sessions answered while the page played, up to its own DELETE when the measurement was
	// over (what the page does after that, as the test ends, is not the switch's).
	answered := 0
	for _, l := range strings.Split(b.Logs.String(), "\n") {
		if strings.Contains(l, "viewer sent DELETE") {
			break
		}
		if strings.Contains(l, "WHEP session answered") {
			answered++
		}
	}
	if answered != 1 {
		t.Errorf("%d WHEP sessions answered, want 1: the page had to start again", answered)
	}
	if n := len(b.Logs.Lines("WHEP session ended", "B-frames")); n != 0 {
		t.Errorf("a session ended for B-frames")
	}
	if w.FramesDecoded < 10*int(w.Seconds) || w.FramesDecoded < w.FramesReceived*3/4 {
		t.Errorf("decoded %d frames of %d received over %.1f s: a slideshow", w.FramesDecoded, w.FramesReceived, w.Seconds)
	}
}
