package e2e

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
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

// apiCall sends a request to the operator API with the admin token.
func apiCall(t *testing.T, b *beffroi, method, path, ctype string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+b.HTTPAddr()+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(out)
}

// redFrames counts the frames of a file, sampled once a second, that are mostly red.
func redFrames(t *testing.T, file string) int {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", file, "-vf", "fps=1,scale=16:9",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg frames of %s: %v", file, err)
	}
	n := 0
	const size = 16 * 9 * 3
	for i := 0; i+size <= len(out); i += size {
		var r, g, b int
		for p := i; p < i+size; p += 3 {
			r, g, b = r+int(out[p]), g+int(out[p+1]), b+int(out[p+2])
		}
		if r/(16*9) > 140 && g/(16*9) < 60 && b/(16*9) < 60 {
			n++
		}
	}
	return n
}

// TestStandbyPauseImageEnd: the operator uploads an image, pauses the broadcast (the council
// goes into closed session) and resumes it, then ends it at once. The platform keeps one
// session with the image during the pause and no hole, Beffroi's recording holds no part of
// the pause, and "end now" closes the platform's session and the publisher without the grace.
func TestStandbyPauseImageEnd(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := clip(t, "1280x720", "-g", "30")
	n := startNginx(t)
	b := startBeffroi(t, func(c *config.Config) {
		withNginx(n)(c)
		c.ReconnectGrace = 30 * time.Second
	})
	img := image.NewRGBA(image.Rect(0, 0, 800, 600))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+3] = 230, 255 // red
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		t.Fatal(err)
	}
	const path = "/api/v1/streams/event"
	if code, body := apiCall(t, b, "PUT", path+"/standby-image", "image/png", []byte("not an image")); code != http.StatusUnsupportedMediaType {
		t.Errorf("upload of a non-image: %d %s, want 415", code, body)
	}
	if code, body := apiCall(t, b, "PUT", path+"/standby-image", "image/png", pngBuf.Bytes()); code != http.StatusNoContent {
		t.Fatalf("upload: %d %s", code, body)
	}
	pub := publish(t, t.Context(), b.PublishURL(publishKey), clip, 60)
	waitDest(t, b, "event", "nginx1", "live", 10*time.Second)
	testutil.Eventually(t, 15*time.Second, func() error {
		if len(b.Logs.Lines("standby picture ready", "image=true")) == 0 {
			return errors.New("no standby loop from the image yet")
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	if code, body := apiCall(t, b, "POST", path+"/standby", "application/json", []byte(`{"on":true}`)); code != http.StatusOK {
		t.Fatalf("pause: %d %s", code, body)
	}
	time.Sleep(6 * time.Second) // the closed session
	if v := apiStream(t, b, "event"); !v.Paused || !v.Standby {
		t.Errorf("API during the pause: paused=%v standby=%v", v.Paused, v.Standby)
	}
	if code, body := apiCall(t, b, "POST", path+"/standby", "application/json", []byte(`{"on":false}`)); code != http.StatusOK {
		t.Fatalf("resume: %d %s", code, body)
	}
	time.Sleep(4 * time.Second)
	if v := apiStream(t, b, "event"); v.Paused || v.Standby {
		t.Errorf("API after resuming: paused=%v standby=%v", v.Paused, v.Standby)
	}
	ended := time.Now()
	if code, body := apiCall(t, b, "POST", path+"/end", "", nil); code != http.StatusOK || !strings.Contains(body, `"idle"`) {
		t.Fatalf("end now: %d %s", code, body)
	}
	if err := pub.Wait(t, 10*time.Second); err == nil {
		t.Log("the publisher exited by itself after end now")
	}
	n.WaitClosed(t, 1)
	if d := time.Since(ended); d > 8*time.Second {
		t.Errorf("the platform's session closed %v after end now, want at once", d)
	}
	for _, a := range []string{"stream.pause", "stream.resume", "stream.end", "stream.standby_image"} {
		if len(b.Logs.Lines("operator change", a)) != 1 {
			t.Errorf("no audit line for %s", a)
		}
	}
	b.Stop(t)

	rec := singleRecording(t, n)
	checkNoHole(t, rec, 1280, 720)
	if red := redFrames(t, rec); red < 4 || red > 8 {
		t.Errorf("%d seconds of the uploaded image at the platform, want about 6 (the pause)", red)
	}
	l := recordingsIn(t, filepath.Join(b.Cfg.DataDir, "recordings"))
	if len(l) != 1 {
		t.Fatalf("%d recordings, want 1: %+v", len(l), l)
	}
	pl := filepath.Join(l[0].Dir, record.PlaylistFile)
	if c := strings.Count(readFile(t, pl), "#EXT-X-DISCONTINUITY\n"); c != 1 {
		t.Errorf("%d discontinuities in the recording, want 1 (the pause)", c)
	}
	if red := redFrames(t, pl); red != 0 {
		t.Errorf("the recording holds %d s of the standby image", red)
	}
	if msg := decodeAll(t, pl); msg != "" {
		t.Errorf("the recording does not decode: %s", msg)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStandbyViewers: the viewers get the standby picture too. An LL-HLS player (hls.js)
// keeps playing while the publisher is away inside the grace, and a WHEP viewer (the watch
// page) keeps playing while the operator pauses the broadcast; both play the source again
// afterwards.
func TestStandbyViewers(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	clip := clip(t, "1280x720", "-g", "30", "-bf", "0") // WebRTC viewers need no B-frames
	b := startBeffroi(t, func(c *config.Config) { c.ReconnectGrace = 30 * time.Second })
	origin := "http://" + b.HTTPAddr()

	// HLS: 8 s of source, 10 s of standby, the source again.
	first := publish(t, t.Context(), b.PublishURL(publishKey), clip, 12)
	waitStream(t, b, "event", "live", 10*time.Second)
	back := make(chan struct{})
	go func() { // the first publisher's end, 10 s of absence, then the second one
		defer close(back)
		<-first.done
		time.Sleep(10 * time.Second)
		publish(t, t.Context(), b.PublishURL(publishKey), clip, 30) // killed at the test's end
	}()
	time.Sleep(4 * time.Second) // the HLS muxer has segments
	sum := playHLS(t, origin, "event", 26, 0)
	t.Logf("hls.js: advanced %.1f s in 26 s, %d frames, errors %v", sum.Advanced, sum.Frames, sum.Errors)
	if len(b.Logs.Lines("standby picture on")) == 0 {
		t.Fatal("no standby while the publisher was away")
	}
	if sum.Advanced < 17 {
		t.Errorf("hls.js advanced %.1f s in 26 s across a 10 s absence: it stalled on the standby", sum.Advanced)
	}
	for _, e := range sum.Errors {
		if strings.Contains(e, "fatal") {
			t.Errorf("hls.js: %s", e)
		}
	}

	// WHEP: the watch page plays while the operator pauses for 6 s, then resumes.
	paused := make(chan struct{})
	events := watchLive(t, origin+"/watch/event?mode=webrtc", 16, func(name string, _ watchMeasure) {
		if name != "live" {
			return
		}
		go func() {
			defer close(paused)
			time.Sleep(2 * time.Second)
			if code, body := apiCall(t, b, "POST", "/api/v1/streams/event/standby", "application/json", []byte(`{"on":true}`)); code != http.StatusOK {
				t.Errorf("pause: %d %s", code, body)
			}
			time.Sleep(6 * time.Second)
			if code, body := apiCall(t, b, "POST", "/api/v1/streams/event/standby", "application/json", []byte(`{"on":false}`)); code != http.StatusOK {
				t.Errorf("resume: %d %s", code, body)
			}
		}()
	})
	<-paused
	m := events["measured"]
	if events["live"].Protocol != "webrtc" {
		t.Fatalf("the watch page played over %q, want webrtc", events["live"].Protocol)
	}
	if m.Advanced < 12 || m.Width != 1280 {
		t.Errorf("WHEP viewer across a 6 s pause: advanced %.1f s in 16 s, %dx%d", m.Advanced, m.Width, m.Height)
	}
	<-back
}
