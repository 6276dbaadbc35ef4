package e2e

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
)

// freeUDPPort returns a loopback UDP port nothing listens on (for a while).
func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	return port
}

// TestSRTPush: an RTMP broadcast reaches an SRT listener (ffmpeg) through an srt://
// destination, whole: H.264 1280x720 and AAC in MPEG-TS, as long as what was sent, with the
// stream ID never in the log nor the API.
func TestSRTPush(t *testing.T) {
	requirePeers(t)
	const seconds = 5
	const streamID = "publish:live/srt-s3cret-key"
	clip := makeClip(t)
	out := filepath.Join(t.TempDir(), "out.ts")
	port := freeUDPPort(t)
	listener := startProcess(t, context.Background(), "ffmpeg srt listener",
		"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "info", "-y",
		"-i", fmt.Sprintf("srt://127.0.0.1:%d?mode=listener", port),
		"-c", "copy", "-f", "mpegts", out)

	b := startBeffroi(t, nil)
	dest := fmt.Sprintf("srt://127.0.0.1:%d?streamid=%s&latency=200", port, url.QueryEscape(streamID))
	if err := b.Outputs.Add("event", outputs.DestinationConfig{Name: "srt", URL: dest, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	p := publish(t, t.Context(), b.PublishURL(publishKey), clip, seconds)
	waitDest(t, b, "event", "srt", outputs.StateLive, 10*time.Second)
	if err := p.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, p.stderr.String())
	}
	waitStream(t, b, "event", "reconnecting", 10*time.Second)
	st, _ := destStatus(b, "event", "srt")
	t.Logf("destination: %+v", st)
	if st.Frames == 0 || st.Bytes == 0 || st.Reconnects != 0 {
		t.Errorf("destination status %+v: want frames and bytes sent, no reconnect", st)
	}
	body, _ := b.get("/api/v1/streams/event")
	// The end of the broadcast closes the SRT connection, and ffmpeg finalises its file.
	b.Stop(t)
	select {
	case <-listener.done:
	case <-time.After(10 * time.Second):
		t.Log("the SRT listener did not end with the connection: interrupting it")
		_ = listener.cmd.Process.Signal(syscall.SIGINT)
		listener.Wait(t, 10*time.Second)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
		t.Fatalf("the SRT listener wrote nothing: %v\n%s", err, listener.stderr.String())
	}
	checkRecording(t, out, 1280, 720, seconds, 1.5)
	assertIncreasing(t, "video", packetDTS(t, out, "v"))
	assertIncreasing(t, "audio", packetDTS(t, out, "a"))
	testutil.AssertNoSecret(t, "the log", b.Logs.String(), "srt-s3cret-key", publishKey)
	testutil.AssertNoSecret(t, "the API", body, "srt-s3cret-key", publishKey)
}
