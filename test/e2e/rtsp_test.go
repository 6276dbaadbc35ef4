package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
)

// publishRTSP sends seconds of clip in real time, without re-encoding, to an rtsp:// URL; extra
// output options (e.g. "-rtsp_transport", "tcp") go before the URL.
func publishRTSP(t *testing.T, ctx context.Context, url, clip string, seconds float64, extra ...string) *process {
	t.Helper()
	args := []string{"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-re", "-i", clip, "-t", strconv.FormatFloat(seconds, 'f', -1, 64), "-c", "copy", "-f", "rtsp"}
	args = append(args, extra...)
	return startProcess(t, ctx, "ffmpeg rtsp publish "+filepath.Base(clip), append(args, url)...)
}

// TestRTSPPublish: ffmpeg publishes over RTSP, with the key in the query or as the password;
// the stream reaches a platform intact, B frames and all.
func TestRTSPPublish(t *testing.T) {
	requirePeers(t)
	clip := makeClip(t)
	for _, tt := range []struct {
		name  string
		url   func(addr string) string
		extra []string
	}{
		{"key in the query", func(addr string) string { return "rtsp://" + addr + "/event?key=" + publishKey },
			[]string{"-rtsp_transport", "tcp"}},
		// Without -rtsp_transport, ffmpeg offers UDP first: the server answers 461 Unsupported
		// Transport and ffmpeg falls back to TCP.
		{"key as the password, default transport", func(addr string) string {
			return "rtsp://any:" + publishKey + "@" + addr + "/event"
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const seconds = 5
			n := startNginx(t)
			b := startBeffroi(t, withNginx(n))
			addr := b.RTSPAddr()
			p := publishRTSP(t, t.Context(), tt.url(addr), clip, seconds, tt.extra...)
			v := waitStream(t, b, "event", "live", 10*time.Second)
			if v.Source == nil || v.Source.Protocol != "rtsp" {
				t.Errorf("source %+v, want rtsp", v.Source)
			}
			if err := p.Wait(t, 30*time.Second); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, p.stderr.String())
			}
			missedStart(t, b, "event", "nginx1")
			b.Stop(t)
			rec := singleRecording(t, n)
			checkRecording(t, rec, 1280, 720, seconds, 1.5)
			assertIncreasing(t, rec+" video", packetDTS(t, rec, "v"))
			assertIncreasing(t, rec+" audio", packetDTS(t, rec, "a"))
			if l := b.Logs.Lines("publisher connected", "protocol=rtsp"); len(l) != 1 {
				t.Errorf("%d RTSP publisher lines, want 1", len(l))
			}
			testutil.AssertNoSecret(t, "the log", b.Logs.String(), publishKey)
		})
	}
}

// TestRTSPWrongKey: a wrong key is refused with 401; the stream stays idle and the log says
// why without the key.
func TestRTSPWrongKey(t *testing.T) {
	requirePeers(t)
	clip := makeClip(t)
	b := startBeffroi(t, nil)
	addr := b.RTSPAddr()
	const wrong = "wrong-key-5ca1ab1e"
	for _, url := range []string{
		"rtsp://" + addr + "/event?key=" + wrong,
		"rtsp://any:" + wrong + "@" + addr + "/event",
	} {
		p := publishRTSP(t, t.Context(), url, clip, 2, "-rtsp_transport", "tcp")
		err := p.Wait(t, 15*time.Second)
		if err == nil {
			t.Errorf("ffmpeg publishing with a wrong key exited with 0; output:\n%s", p.stderr.String())
		}
		t.Logf("ffmpeg with a wrong key: exit code %d: %s", exitCode(err), lastLine(p.stderr.String()))
		testutil.AssertNoSecret(t, "ffmpeg's output", p.stderr.String(), publishKey)
	}
	if v := apiStream(t, b, "event"); v.Live || v.State != "idle" {
		t.Errorf("stream after refused publishes: live=%v state=%q", v.Live, v.State)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		// The first refusal from an address has its line; the next ones of the burst are
		// summed in one line at the end of the window (no log flooding).
		if n := len(b.Logs.Lines("publish refused: unknown publish key", "protocol=rtsp")); n != 1 {
			return fmt.Errorf("%d refusals logged, want 1 (the burst's first)", n)
		}
		return nil
	})
	testutil.AssertNoSecret(t, "the log", b.Logs.String(), wrong, publishKey)
}
