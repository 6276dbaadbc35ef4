package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
)

// TestRTMPShortPublishReachesPlatform: ffmpeg publishes only 1 s of the clip over RTMP (with
// audio, without, audio header first) and the platform (nginx-rtmp) records that second from
// its first frame. Ingest that held 2 s of media to find the tracks, as gortmplib's Reader
// does, published nothing of it: the encoder was gone before the analysis ended.
func TestRTMPShortPublishReachesPlatform(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	tests := []struct {
		name  string
		extra []string
		audio bool
	}{
		{"video and audio", nil, true},
		{"video only", []string{"-an"}, false},
		{"audio header first", []string{"-map", "0:a", "-map", "0:v"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := startNginx(t)
			b := startBeffroi(t, withNginx(n))
			if err := publish(t, t.Context(), b.PublishURL(publishKey), clip, 1, tt.extra...).Wait(t, 20*time.Second); err != nil {
				t.Fatalf("publish: %v", err)
			}
			// The destination sends what it was given, then the session ends with the App.
			testutil.Eventually(t, 10*time.Second, func() error {
				for _, f := range n.Recordings() {
					if _, ok := firstVideoFrame(f); ok {
						return nil
					}
				}
				return fmt.Errorf("no video frame at the platform: recordings %v", n.Recordings())
			})
			b.Stop(t)
			rec := singleRecording(t, n)
			r := probe(t, rec)
			t.Logf("%+v", r)
			if r.Video != "h264" {
				t.Errorf("video %q, want h264", r.Video)
			}
			if (r.Audio == "aac") != tt.audio {
				t.Errorf("audio %q, want AAC: %v", r.Audio, tt.audio)
			}
			// 1 s at 30 fps from the clip's first keyframe; a start at the next keyframe (2 s
			// in) would record none.
			if v := packetDTS(t, rec, "v"); len(v) < 25 {
				t.Errorf("%d video frames recorded, want the 30 of the second sent", len(v))
			}
		})
	}
}
