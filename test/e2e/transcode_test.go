package e2e

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/outputs"
)

// meanVolume returns the mean volume of a file's audio, in dB (ffmpeg's volumedetect).
func meanVolume(t *testing.T, file string) float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-i", file, "-vn",
		"-af", "volumedetect", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("volumedetect %s: %v\n%s", file, err, out)
	}
	m := regexp.MustCompile(`mean_volume: (-?[0-9.]+) dB`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("volumedetect %s: no mean volume in\n%s", file, out)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestOpusSourceToRTMPPlatform: a source with Opus audio (what a phone browser sends) reaches
// an RTMP platform with AAC audio that is not silence, through a rendition made by ffmpeg that
// copies the video.
func TestOpusSourceToRTMPPlatform(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	const seconds = 6.0
	clip := makeClip(t)
	n := startNginx(t)
	b := startBeffroi(t, withNginx(n))

	// ffmpeg turns the clip's AAC into Opus on the way (cheap; the video is copied).
	target := srtPublishURL(b.SRTAddr(), "publish:event:"+publishKey, false)
	p := startProcess(t, t.Context(), "ffmpeg publish srt opus",
		"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-re", "-i", clip, "-t", strconv.FormatFloat(seconds, 'f', -1, 64),
		"-c:v", "copy", "-c:a", "libopus", "-b:a", "96k", "-f", "mpegts", target)
	waitStream(t, b, "event", "live", 10*time.Second)
	waitDest(t, b, "event", "nginx1", outputs.StateLive, 20*time.Second)
	v := apiStream(t, b, "event")
	var audio string
	for _, tr := range v.Tracks {
		if tr.Kind == "audio" {
			audio = tr.Codec
		}
	}
	if audio != "Opus" {
		t.Fatalf("source audio %q, want Opus", audio)
	}
	body, err := b.get("/api/v1/streams/event")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"needs": "video=H264,H265,AV1,VP9 audio=AAC"`) {
		t.Errorf("the API shows no rendition for the RTMP platform:\n%s", body)
	}
	if err := p.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, p.stderr.String())
	}
	// What SRT still held (its latency) reaches the platform before the end.
	waitStream(t, b, "event", "reconnecting", 10*time.Second)
	b.Stop(t)

	rec := singleRecording(t, n)
	r := probe(t, rec)
	if r.Video != "h264" || r.Width != 1280 || r.Audio != "aac" {
		t.Fatalf("platform recorded %+v, want h264 1280x720 and aac", r)
	}
	// The rendition starts about a second after the source (ffmpeg's start-up).
	if r.Duration < seconds-2.5 || r.Duration > seconds+1 {
		t.Errorf("platform recorded %.2f s of %.0f s sent", r.Duration, seconds)
	}
	if vol := meanVolume(t, rec); vol < -40 {
		t.Errorf("the platform's audio is silence: mean volume %.1f dB", vol)
	} else {
		t.Logf("platform audio: AAC, mean volume %.1f dB", vol)
	}
	assertIncreasing(t, rec+" video", packetDTS(t, rec, "v"))
	assertIncreasing(t, rec+" audio", packetDTS(t, rec, "a"))
}
