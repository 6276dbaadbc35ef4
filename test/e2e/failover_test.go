package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
)

// phoneKey is the publish key of the backup source "phone" in the failover tests.
const phoneKey = "phone-publish-key-1"

// sourcesView is GET /api/v1/streams/{name}/sources as a client reads it.
type sourcesView struct {
	OnAir   string `json:"on_air"`
	Manual  string `json:"manual"`
	Sources []struct {
		Name     string `json:"name"`
		State    string `json:"state"`
		Protocol string `json:"protocol"`
	} `json:"sources"`
	Periods []struct {
		Source string    `json:"source"`
		From   time.Time `json:"from"`
		To     time.Time `json:"to"`
	} `json:"periods"`
}

// waitOnAir polls the sources API until source is on air, and returns the view.
func waitOnAir(t *testing.T, b *beffroi, source string, timeout time.Duration) sourcesView {
	t.Helper()
	var v sourcesView
	testutil.Eventually(t, timeout, func() error {
		body, err := b.get("/api/v1/streams/event/sources")
		if err != nil {
			return err
		}
		v = sourcesView{}
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			return err
		}
		if v.OnAir != source {
			return fmt.Errorf("on air: %q, want %q (%s)", v.OnAir, source, body)
		}
		return nil
	})
	return v
}

// sizedFrame is a decoded video frame's time and size.
type sizedFrame struct {
	pts  float64
	size string
}

// frameTimes decodes a file's video and returns each frame's time and size.
func frameTimes(t *testing.T, file string) []sizedFrame {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v",
		"-show_entries", "frame=pts_time,width,height", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe frames %s: %v", file, err)
	}
	var fs []sizedFrame
	for l := range strings.FieldsSeq(string(out)) {
		// ffprobe prints the entries in its own order: pts_time,width,height.
		parts := strings.Split(strings.TrimSuffix(l, ","), ",")
		if len(parts) < 3 {
			continue
		}
		pts, err := strconv.ParseFloat(parts[0], 64)
		if err != nil {
			continue
		}
		fs = append(fs, sizedFrame{pts: pts, size: parts[1] + "x" + parts[2]})
	}
	return fs
}

// switches returns the picture's sizes in order, and how long the picture froze at each
// change of size (from the last frame of one size to the first of the next, in media time).
func switches(fs []sizedFrame) (sizes []string, gaps []float64) {
	for i, f := range fs {
		if i == 0 || f.size != fs[i-1].size {
			sizes = append(sizes, f.size)
			if i > 0 {
				gaps = append(gaps, f.pts-fs[i-1].pts)
			}
		}
	}
	return sizes, gaps
}

// TestFailoverSRTToRTMPBackup: the camera's encoder publishes over SRT (1280x720) and a
// staff phone over RTMP with its own key (640x360), together. The camera dies: the platform
// keeps its one session and gets the phone's picture within 2 s; the camera comes back: it
// is on air again once it has sent for the failback delay. ffprobe decodes the platform's
// recording through both switches.
func TestFailoverSRTToRTMPBackup(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	const failback = 3 * time.Second
	camClip := clip(t, "1280x720", "-g", "30")
	phoneClip := clip(t, "640x360", "-g", "30")
	n := startNginx(t)
	b := startBeffroi(t, func(c *config.Config) {
		withNginx(n)(c)
		c.ReconnectGrace = 2 * time.Second
		s := &c.Streams[0]
		s.SourceName = "camera"
		s.Sources = []config.Source{{Name: "phone", PublishKey: phoneKey}}
		s.FailoverAfter = 1500 * time.Millisecond
		s.FailbackAfter = failback
	})
	// 500 ms of SRT latency, as on a real venue's network: at the default 120 ms, packets
	// late on a loaded machine are dropped and the camera's pictures arrive damaged.
	camURL := srtPublishURL(b.SRTAddr(), "publish:event:"+publishKey, false) + "&latency=500000"

	camera := publishOverSRT(t, t.Context(), camURL, camClip, 9)
	waitOnAir(t, b, "camera", 15*time.Second)
	waitDest(t, b, "event", "nginx1", "live", 15*time.Second)
	phone := publish(t, t.Context(), b.PublishURL(phoneKey), phoneClip, 60)
	testutil.Eventually(t, 15*time.Second, func() error {
		v := waitOnAir(t, b, "camera", time.Second)
		if len(v.Sources) != 2 || v.Sources[1].State != "standby" || v.Sources[1].Protocol != "rtmp" {
			return fmt.Errorf("sources %+v, want the phone standing by over RTMP", v.Sources)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // the camera on air for a while, the phone standing by (media, on purpose)

	camera.Kill() // the camera dies without a word: no frames, no SRT shutdown
	waitOnAir(t, b, "phone", 10*time.Second)
	time.Sleep(2 * time.Second) // the phone on air for a while (media, on purpose)

	restarted := time.Now()
	camera = publishOverSRT(t, t.Context(), camURL, camClip, 9)
	v := waitOnAir(t, b, "camera", 20*time.Second)
	if len(v.Periods) != 3 || v.Periods[0].Source != "camera" || v.Periods[1].Source != "phone" {
		t.Fatalf("on-air periods %+v, want camera, phone, camera", v.Periods)
	}
	if back := v.Periods[2].From.Sub(restarted); back < failback {
		t.Errorf("the camera was back on air %v after it reconnected, before the failback delay (%v)", back, failback)
	}
	if c := strings.Count(b.Logs.String(), "failover to phone"); c != 1 {
		t.Errorf("%d log lines \"failover to phone\", want 1", c)
	}
	if c := strings.Count(b.Logs.String(), "back to camera"); c != 1 {
		t.Errorf("%d log lines \"back to camera\", want 1", c)
	}
	time.Sleep(2 * time.Second) // the camera on air again for a while (media, on purpose)
	phone.Kill()
	if err := camera.Wait(t, 30*time.Second); err != nil {
		t.Logf("camera publisher: %v", err)
	}
	waitStream(t, b, "event", "idle", 30*time.Second)
	// The event report holds the phone's time on air as one failover period.
	testutil.Eventually(t, 10*time.Second, func() error {
		body, err := b.get("/api/v1/streams/event/report")
		if err != nil {
			return err
		}
		var rep struct {
			Periods []struct {
				Kind     string  `json:"kind"`
				Duration float64 `json:"duration"`
			} `json:"periods"`
		}
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			return fmt.Errorf("%w: %s", err, body)
		}
		var failover []float64
		for _, p := range rep.Periods {
			if p.Kind == "failover" {
				failover = append(failover, p.Duration)
			}
		}
		if len(failover) != 1 || failover[0] < 2 {
			return fmt.Errorf("failover periods %v s in the report, want one of the phone's time on air (%+v)", failover, rep.Periods)
		}
		return nil
	})

	rec := singleRecording(t, n)
	if msg := decodeAll(t, rec); msg != "" {
		t.Errorf("the platform's recording does not decode: %s", msg)
	}
	for _, s := range []string{"v", "a"} {
		assertIncreasing(t, rec+" "+s, packetDTS(t, rec, s))
	}
	sizes, gaps := switches(frameTimes(t, rec))
	t.Logf("the platform's picture: %v, frozen %v s at the switches", sizes, gaps)
	if len(sizes) != 3 || sizes[0] != "1280x720" || sizes[1] != "640x360" || sizes[2] != "1280x720" {
		t.Fatalf("the platform's picture sizes %v, want camera, phone, camera (1280x720, 640x360, 1280x720)", sizes)
	}
	for i, g := range gaps {
		if g > 2 {
			t.Errorf("switch %d: the picture froze %.2f s, want the new source within 2 s", i+1, g)
		}
	}
}
