package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/outputs/record"
)

// checkNoHole asserts that a platform's recording has one timeline with no hole longer than
// 1 s in either track, keyframes at most ~2 s apart, at the given size.
func checkNoHole(t *testing.T, rec string, width, height int) {
	t.Helper()
	r := probe(t, rec)
	t.Logf("%s: %+v", filepath.Base(rec), r)
	if r.Video != "h264" || r.Audio != "aac" || r.Width != width || r.Height != height {
		t.Errorf("%s: %s %dx%d + %s, want h264 %dx%d + aac", rec, r.Video, r.Width, r.Height, r.Audio, width, height)
	}
	for _, s := range []string{"v", "a"} {
		dts := packetDTS(t, rec, s)
		assertIncreasing(t, rec+" "+s, dts)
		step, at := maxGap(dts)
		t.Logf("%s (%s): %d packets, largest DTS step %.3f s at %.2f s", filepath.Base(rec), s, len(dts), step, at)
		if step > 1 {
			t.Errorf("%s (%s): a %.2f s hole at %.2f s: the platform got nothing then", rec, s, step, at)
		}
	}
	if msg := decodeAll(t, rec); msg != "" {
		t.Errorf("%s does not decode: %s", rec, msg)
	}
	keys := keyframeTimes(t, rec)
	step, at := maxGap(keys)
	t.Logf("%s: %d keyframes, largest interval %.2f s at %.2f s", filepath.Base(rec), len(keys), step, at)
	if step > 2.1 {
		t.Errorf("%s: keyframes %.2f s apart at %.2f s, want at most ~2 s", rec, step, at)
	}
}

// TestStandbyDuringGrace: the encoder goes away for 12 s inside a 30 s grace. The platform
// keeps one session and gets the slate meanwhile: no hole over 1 s in video or audio,
// keyframes at most ~2 s apart, the same resolution. Beffroi's own recording holds the
// source only, with a discontinuity for the gap, and decodes.
func TestStandbyDuringGrace(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := clip(t, "1280x720", "-g", "30") // a keyframe a second, as phone apps send
	n := startNginx(t)
	b := startBeffroi(t, func(c *config.Config) {
		withNginx(n)(c)
		c.ReconnectGrace = 30 * time.Second
	})
	if err := publish(t, t.Context(), b.PublishURL(publishKey), clip, 8).Wait(t, 30*time.Second); err != nil {
		t.Fatalf("first publish: %v", err)
	}
	gone := time.Now()
	waitStream(t, b, "event", "reconnecting", 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for !apiStream(t, b, "event").Standby {
		if time.Now().After(deadline) {
			t.Fatalf("the API does not show the standby picture 5 s after the publisher left:\n%s", b.Logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Until(gone.Add(12 * time.Second))) // the encoder's absence
	if err := publish(t, t.Context(), b.PublishURL(publishKey), clip, 6).Wait(t, 30*time.Second); err != nil {
		t.Fatalf("second publish: %v", err)
	}
	if v := apiStream(t, b, "event"); v.Publishes != 2 {
		t.Errorf("publishes = %d, want 2", v.Publishes)
	}
	if l := b.Logs.Lines("standby picture ready", "width=1280", "height=720"); len(l) == 0 {
		t.Errorf("no standby loop at the source's size in the log")
	}
	b.Stop(t)

	checkNoHole(t, singleRecording(t, n), 1280, 720)

	// Beffroi's recording: the source's 8 + 6 s, not the slate.
	l := recordingsIn(t, filepath.Join(b.Cfg.DataDir, "recordings"))
	if len(l) != 1 {
		t.Fatalf("%d recordings, want 1: %+v", len(l), l)
	}
	in := l[0]
	if d := in.Duration - 14; d > segmentSeconds || d < -segmentSeconds {
		t.Errorf("the recording holds %.1f s of media, want the source's 14 s (the slate is not recorded)", in.Duration)
	}
	pl, err := os.ReadFile(filepath.Join(in.Dir, record.PlaylistFile))
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(string(pl), "#EXT-X-DISCONTINUITY\n"); c != 1 {
		t.Errorf("%d discontinuities in the recording, want 1 (the publisher's absence):\n%s", c, pl)
	}
	if msg := decodeAll(t, filepath.Join(in.Dir, record.PlaylistFile)); msg != "" {
		t.Errorf("the recording does not decode: %s", msg)
	}
}
