package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/outputs"
)

// TestVerticalDestinations: two platforms asking for the vertical crop get a 720x1280 H.264
// + AAC picture with a keyframe every 2 s (the source has one every 0.83 s), made by one
// rendition the two share.
func TestVerticalDestinations(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	const seconds = 8.0
	src := clip(t, "1280x720", "-g", "25")
	n1, n2 := startNginx(t), startNginx(t)
	b := startBeffroi(t, func(c *config.Config) {
		withNginx(n1, n2)(c)
		for i := range c.Streams[0].Destinations {
			c.Streams[0].Destinations[i].Shape = "vertical-crop"
		}
	})
	p := publish(t, t.Context(), b.PublishURL(publishKey), src, seconds)
	waitStream(t, b, "event", "live", 10*time.Second)
	waitDest(t, b, "event", "nginx1", outputs.StateLive, 20*time.Second)
	waitDest(t, b, "event", "nginx2", outputs.StateLive, 20*time.Second)
	body, err := b.get("/api/v1/streams/event")
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(body, `"needs": "video=H264 audio=AAC shape=720x1280,crop"`); c != 1 {
		t.Errorf("the API shows %d vertical renditions, want 1 shared by both platforms:\n%s", c, body)
	}
	if v := apiStream(t, b, "event"); v.Destinations[0].Shape != "vertical-crop" {
		t.Errorf("destination status %+v, want shape vertical-crop", v.Destinations[0])
	}
	if err := p.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, p.stderr.String())
	}
	waitStream(t, b, "event", "reconnecting", 10*time.Second)
	b.Stop(t)

	for _, n := range []*nginx{n1, n2} {
		rec := singleRecording(t, n)
		r := probe(t, rec)
		if r.Video != "h264" || r.Width != 720 || r.Height != 1280 || r.Audio != "aac" {
			t.Fatalf("platform recorded %+v, want h264 720x1280 and aac", r)
		}
		keys := keyframeTimes(t, rec)
		if len(keys) < 3 {
			t.Fatalf("keyframes at %v s, want at least 3 in %.0f s", keys, seconds)
		}
		for i := 1; i < len(keys); i++ {
			if d := keys[i] - keys[i-1]; d < 1.9 || d > 2.1 {
				t.Errorf("keyframes at %v s: %.3f s apart, want 2 s", keys, d)
				break
			}
		}
		assertIncreasing(t, rec+" video", packetDTS(t, rec, "v"))
		if vol := meanVolume(t, rec); vol < -40 {
			t.Errorf("the platform's audio is silence: mean volume %.1f dB", vol)
		}
	}
}
