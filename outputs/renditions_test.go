package outputs

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
)

// needyPusher is a fakePusher whose destination accepts only H.264 and AAC.
type needyPusher struct{ *boundPusher }

func (needyPusher) Needs() transcode.Needs {
	return transcode.Needs{Video: []relay.Codec{relay.H264}, Audio: []relay.Codec{relay.AAC}}
}

// fakeRenditions hands out one live derived stream to readers the source does not fit.
type fakeRenditions struct {
	derived  *relay.Stream
	acquired atomic.Int32
	released atomic.Int32
}

func (f *fakeRenditions) Fit(ctx context.Context, src *relay.Stream, n transcode.Needs) (*relay.Stream, func(), error) {
	if err := src.WaitMedia(ctx); err != nil {
		return nil, nil, err
	}
	if n.Fits(src.Track(relay.Video), src.Track(relay.Audio)) {
		return src, func() {}, nil
	}
	f.acquired.Add(1)
	return f.derived, func() { f.released.Add(1) }, nil
}

// A destination whose source turns out to carry a track it cannot send (Opus arriving after
// the video, or a publisher coming back with other codecs) chooses its stream again at once —
// a rendition — without counting a failure.
func TestTrackNotAcceptedChoosesRendition(t *testing.T) {
	rend := &fakeRenditions{}
	logs := &testutil.LogBuffer{}
	src, derived, fp, m, cancel := needyManager(t, "~aac", func(d *relay.Stream) Renditions {
		rend.derived = d
		return rend
	}, slog.New(slog.NewTextHandler(logs, nil)))
	if err := m.Add(streamName, DestinationConfig{Name: "yt", URL: youtubeURL, Enabled: true}); err != nil {
		t.Fatal(err)
	}

	// The source goes live with H.264 only: it fits, the destination reads it directly.
	pub := publishH264(t, src, "webrtc")
	first := fp.next(t)
	if first.r.Stream() != src {
		t.Fatalf("first attempt reads %s, want the source", first.r.Stream().Name())
	}
	// Opus shows up: the pusher refuses it.
	if _, err := pub.SetTrack(&relay.Track{Codec: relay.Opus, SampleRate: 48000, Channels: 2}); err != nil {
		t.Fatal(err)
	}
	first.fail(fmt.Errorf("%w: Opus", ErrTrackNotAccepted))

	second := fp.next(t)
	if second.r.Stream() != derived {
		t.Fatalf("second attempt reads %s, want the rendition", second.r.Stream().Name())
	}
	if rend.acquired.Load() != 1 {
		t.Errorf("renditions acquired %d times, want 1", rend.acquired.Load())
	}
	s := m.List(streamName)[0]
	if s.Reconnects != 0 || s.LastError != "" {
		t.Errorf("a refused track counted as a failure: %+v", s)
	}
	second.live()
	testutil.WaitFor(t, "the destination to be live on the rendition", func() bool {
		return m.List(streamName)[0].State == StateLive
	})
	cancel()
	second.waitReturned(t)
	testutil.WaitFor(t, "the rendition to be released", func() bool { return rend.released.Load() == 1 })
}

// needyManager runs a manager whose RTMP pusher is a needyPusher, with renditions made by
// mk around a live derived stream named after the source with suffix; retries wait an hour
// (a failure would stall the test). cancel stops the manager (done at the end anyway).
func needyManager(t *testing.T, suffix string, mk func(derived *relay.Stream) Renditions, log *slog.Logger) (src, derived *relay.Stream, fp *fakePusher, m *Manager, cancel context.CancelFunc) {
	t.Helper()
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: time.Second})
	src, err := reg.Add(streamName, "pk-secret-1234")
	if err != nil {
		t.Fatal(err)
	}
	derived = relay.NewStream(relay.StreamOptions{Name: streamName + suffix, Grace: time.Second})
	derived.Publish(relay.SourceInfo{Protocol: "ffmpeg"})
	t.Cleanup(func() { derived.Stop(); reg.StopAll() })
	fp = newFakePusher()
	newPusher := func(u *url.URL, _ Options) (Pusher, error) { return needyPusher{&boundPusher{fp, u}}, nil }
	m = NewManager(reg, map[string]NewPusherFunc{"rtmp": newPusher}, Options{
		Renditions: mk(derived), RetryMin: time.Hour, RetryMax: time.Hour, Logger: log,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return src, derived, fp, m, cancel
}
