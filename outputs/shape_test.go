package outputs

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
)

// needsRecorder is a Renditions that records the needs it was asked for and hands out one
// derived stream.
type needsRecorder struct {
	derived *relay.Stream
	mu      sync.Mutex
	asked   []transcode.Needs
}

func (f *needsRecorder) Fit(ctx context.Context, src *relay.Stream, n transcode.Needs) (*relay.Stream, func(), error) {
	if err := src.WaitMedia(ctx); err != nil {
		return nil, nil, err
	}
	f.mu.Lock()
	f.asked = append(f.asked, n)
	f.mu.Unlock()
	if n.Fits(src.Track(relay.Video), src.Track(relay.Audio)) {
		return src, func() {}, nil
	}
	return f.derived, func() {}, nil
}

// TestDestinationShape: a destination with a shape reads the rendition of that shape (its
// needs carry it, in H.264 + AAC), one without reads the source; the status names the
// shape; an unknown shape is refused when added.
func TestDestinationShape(t *testing.T) {
	rend := &needsRecorder{}
	src, derived, fp, m, cancel := needyManager(t, "~h264-720x1280-crop", func(d *relay.Stream) Renditions {
		rend.derived = d
		return rend
	}, nil)
	err := m.Add(streamName, DestinationConfig{Name: "insta", URL: youtubeURL, Enabled: true, Shape: "square"})
	if err == nil || !strings.Contains(err.Error(), `unknown shape "square"`) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("unknown shape: %v", err)
	}
	if err := m.Add(streamName, DestinationConfig{Name: "insta", URL: youtubeURL, Enabled: true, Shape: "vertical-crop"}); err != nil {
		t.Fatal(err)
	}
	if s := m.List(streamName)[0]; s.Shape != "vertical-crop" {
		t.Errorf("status shape %q", s.Shape)
	}

	publishH264(t, src, "rtmp")
	call := fp.next(t)
	if call.r.Stream() != derived {
		t.Fatalf("the shaped destination reads %s, want the rendition", call.r.Stream().Name())
	}
	rend.mu.Lock()
	asked := rend.asked[0]
	rend.mu.Unlock()
	if want := "video=H264 audio=AAC shape=720x1280,crop"; asked.String() != want {
		t.Errorf("needs %q, want %q", asked, want)
	}
	cancel()
	call.waitReturned(t)
}

// TestShapeWithoutRenditions: a shape cannot be made without renditions: Add says so.
func TestShapeWithoutRenditions(t *testing.T) {
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: time.Second})
	if _, err := reg.Add(streamName, "pk-secret-1234"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.StopAll)
	fp := newFakePusher()
	newPusher := func(u *url.URL, _ Options) (Pusher, error) { return needyPusher{&boundPusher{fp, u}}, nil }
	m := NewManager(reg, map[string]NewPusherFunc{"rtmp": newPusher}, Options{})
	err := m.Add(streamName, DestinationConfig{Name: "insta", URL: youtubeURL, Shape: "vertical-blur"})
	if err == nil || !strings.Contains(err.Error(), "needs renditions") {
		t.Fatalf("shape without renditions: %v", err)
	}
}

// publishH264 makes src live with a 720p H.264 track and one keyframe of it: the stream has
// media. It returns the publisher.
func publishH264(t *testing.T, src *relay.Stream, protocol string) *relay.Publisher {
	t.Helper()
	pub := src.Publish(relay.SourceInfo{Protocol: protocol})
	video, err := relay.NewH264Track(testutil.SPS720(), testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	if video, err = pub.SetTrack(video); err != nil {
		t.Fatal(err)
	}
	if err := pub.WriteFrame(&relay.Frame{Track: video, Key: true, Units: [][]byte{{0x65, 1}}}); err != nil {
		t.Fatal(err)
	}
	return pub
}
