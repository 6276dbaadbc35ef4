package e2e

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
)

// TestWHIPPushToSecondBeffroi: ffmpeg publishes RTMP (H.264 with B-frames, AAC) to instance A,
// whose WHIP destination publishes to instance B's /whip/event with B's publish key (A makes
// an Opus rendition for it); B relays to nginx-rtmp (with an AAC rendition). nginx records H.264
// and AAC that is not silence; B's API shows the stream live from a webrtc source; the token
// appears in neither log nor API.
func TestWHIPPushToSecondBeffroi(t *testing.T) {
	requirePeers(t)
	const seconds = 20
	const tokenB = "whip-b-s3cret-key"
	clip := makeClip(t)
	n := startNginx(t)
	b := startNamedBeffroi(t, "B", func(c *config.Config) {
		c.Streams[0].PublishKey = tokenB
		withNginx(n)(c)
	})
	a := startNamedBeffroi(t, "A", nil)
	dest := "whip+http://" + b.HTTPAddr() + "/whip/event?token=" + url.QueryEscape(tokenB)
	if err := a.Outputs.Add("event", outputs.DestinationConfig{Name: "beffroi-b", URL: dest, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	p := publish(t, t.Context(), a.PublishURL(publishKey), clip, seconds)
	waitDest(t, a, "event", "beffroi-b", outputs.StateLive, 20*time.Second)
	v := waitStream(t, b, "event", "live", 10*time.Second)
	if v.Source == nil || v.Source.Protocol != "webrtc" {
		t.Errorf("B's source %+v, want webrtc", v.Source)
	}
	waitDest(t, b, "event", "nginx1", outputs.StateLive, 20*time.Second)
	// B's tracks, once both arrived.
	testutil.Eventually(t, 10*time.Second, func() error {
		v = apiStream(t, b, "event")
		if len(v.Tracks) != 2 {
			return fmt.Errorf("B's tracks %+v, want video and audio", v.Tracks)
		}
		return nil
	})
	for _, tr := range v.Tracks {
		t.Logf("B's track: %+v", tr)
		if tr.Kind == "video" && (tr.Codec != "H264" || tr.Width != 1280 || tr.Height != 720) {
			t.Errorf("B's video %+v, want H264 1280x720", tr)
		}
		if tr.Kind == "audio" && tr.Codec != "Opus" {
			t.Errorf("B's audio %+v, want Opus (what WebRTC carries)", tr)
		}
	}
	if err := p.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, p.stderr.String())
	}
	st, _ := destStatus(a, "event", "beffroi-b")
	t.Logf("A's WHIP destination: %+v", st)
	if st.Frames == 0 || st.Bytes == 0 {
		t.Errorf("A's WHIP destination %+v: want frames and bytes sent", st)
	}
	bodyA, _ := a.get("/api/v1/streams/event")
	bodyB, _ := b.get("/api/v1/streams/event")
	// A's broadcast ends: A's destination sends DELETE, B's session ends at once.
	a.Stop(t)
	waitStream(t, b, "event", "reconnecting", 10*time.Second)
	if len(b.Logs.Lines("publisher sent DELETE")) == 0 {
		t.Error("B did not see the DELETE that ends the WHIP session")
	}
	b.Stop(t)

	rec := singleRecording(t, n)
	r := probe(t, rec)
	if r.Video != "h264" || r.Audio != "aac" || r.Width != 1280 || r.Height != 720 {
		t.Fatalf("nginx recorded %+v, want h264 1280x720 and aac", r)
	}
	t.Logf("nginx recorded %.1f s of the %d s sent", r.Duration, seconds)
	if r.Duration < 3 {
		t.Errorf("nginx recorded %.1f s of the %d s sent", r.Duration, seconds)
	}
	if vol := meanVolume(t, rec); vol < -50 {
		t.Errorf("the platform's audio is silence: mean volume %.1f dB", vol)
	}
	vts := packetDTS(t, rec, "v")
	assertIncreasing(t, "video", vts)
	// The clip is 30 fps: the WHIP leg (RTP over loopback, NACK, the reorder buffer) must
	// not lose pictures to damaged frames (before the reorder buffer: 5-20 fps). Loose
	// bound: on this shared machine, under -race, a retransmission can come too late.
	if fps := float64(len(vts)) / r.Duration; fps < 20 {
		t.Errorf("nginx recorded %.1f video frames a second of the 30 sent", fps)
	} else {
		t.Logf("nginx recorded %.1f video frames a second", fps)
	}
	for _, s := range []string{tokenB, url.QueryEscape(tokenB)} {
		testutil.AssertNoSecret(t, "A's log", a.Logs.String(), s)
		testutil.AssertNoSecret(t, "A's API", bodyA, s)
		testutil.AssertNoSecret(t, "B's log", b.Logs.String(), s)
		testutil.AssertNoSecret(t, "B's API", bodyB, s)
	}
}
