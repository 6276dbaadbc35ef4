package e2e

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
)

// srtPublishURL is the srt:// URL an encoder publishes to with a stream ID, escaped for a URL
// query when escape is set.
func srtPublishURL(addr, streamID string, escape bool) string {
	if escape {
		streamID = url.QueryEscape(streamID)
	}
	return "srt://" + addr + "?streamid=" + streamID
}

// publishOverSRT sends clip in real time for seconds, without re-encoding, as MPEG-TS over SRT.
func publishOverSRT(t *testing.T, ctx context.Context, target, clip string, seconds float64) *process {
	t.Helper()
	return startProcess(t, ctx, "ffmpeg publish srt "+filepath.Base(clip),
		"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-re", "-i", clip, "-t", strconv.FormatFloat(seconds, 'f', -1, 64),
		"-c", "copy", "-f", "mpegts", target)
}

// TestSRTPublish: ffmpeg publishes over SRT with each stream ID form, and the stream reaches a
// platform (nginx-rtmp) whole: H.264 1280x720 and AAC, as long as what was sent.
func TestSRTPublish(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	const seconds = 5
	for _, tt := range []struct {
		name     string
		streamID string
		escape   bool
	}{
		{"publish form", "publish:event:" + publishKey, false},
		{"access control form", "#!::r=event,m=publish,s=" + publishKey, false},
		// ffmpeg 5.1 sends a streamid as written in the URL: the server decodes it.
		{"access control form, URL-escaped", "#!::r=event,m=publish,s=" + publishKey, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clip := makeClip(t)
			n := startNginx(t)
			b := startBeffroi(t, withNginx(n))
			addr := b.SRTAddr()

			p := publishOverSRT(t, t.Context(), srtPublishURL(addr, tt.streamID, tt.escape), clip, seconds)
			v := waitStream(t, b, "event", "live", 10*time.Second)
			if v.Source == nil || v.Source.Protocol != "srt" {
				t.Errorf("API source %+v, want protocol srt", v.Source)
			}
			waitDest(t, b, "event", "nginx1", outputs.StateLive, 10*time.Second)
			if err := p.Wait(t, 30*time.Second); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, p.stderr.String())
			}
			// The encoder closed its connection: the stream waits for it to come back.
			waitStream(t, b, "event", "reconnecting", 10*time.Second)
			if l := b.Logs.Lines("publisher connected", "protocol=srt", "stream=event"); len(l) != 1 {
				t.Errorf("log lines about the SRT publisher connecting: %q", l)
			}
			if l := b.Logs.Lines("publisher disconnected", "connection closed by the encoder"); len(l) != 1 {
				t.Errorf("log lines about the SRT publisher leaving: %q", l)
			}
			missed := missedStart(t, b, "event", "nginx1")["nginx1"]
			b.Stop(t)
			rec := singleRecording(t, n)
			checkRecording(t, rec, 1280, 720, seconds-missed, 1.5)
			assertIncreasing(t, rec+" video", packetDTS(t, rec, "v"))
			assertIncreasing(t, rec+" audio", packetDTS(t, rec, "a"))
			testutil.AssertNoSecret(t, "the log", b.Logs.String(), publishKey)
		})
	}
}

// TestSRTWrongKey: an SRT publisher with a wrong key is refused before anything happens: ffmpeg
// fails, the stream stays idle, and the log says why without the key.
func TestSRTWrongKey(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	b := startBeffroi(t, nil)
	addr := b.SRTAddr()
	const wrong = "wrong-key-c0ffee"
	for _, id := range []string{"publish:event:" + wrong, "#!::r=event,m=publish,s=" + wrong} {
		p := publishOverSRT(t, t.Context(), srtPublishURL(addr, id, false), clip, 5)
		err := p.Wait(t, 15*time.Second)
		if err == nil {
			t.Errorf("ffmpeg publishing with a wrong key exited with 0; output:\n%s", p.stderr.String())
		}
		t.Logf("ffmpeg with a wrong key: exit code %d: %s", exitCode(err), lastLine(p.stderr.String()))
	}
	if v := apiStream(t, b, "event"); v.Live || v.State != "idle" {
		t.Errorf("stream after a refused publish: live=%v state=%q", v.Live, v.State)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		// The first refusal from an address has its line; the next ones of the burst are
		// summed in one line at the end of the window (no log flooding).
		if l := b.Logs.Lines("publish refused: unknown publish key", "protocol=srt", "stream=event"); len(l) != 1 {
			return fmt.Errorf("%d log lines about the refusal, want 1 (the burst's first)", len(l))
		}
		return nil
	})
	testutil.AssertNoSecret(t, "the log", b.Logs.String(), wrong, publishKey)
}
