package transcode

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// acquireStream is acquire returning the stream to read: the source, or the derived stream.
func (m *Renditions) acquireStream(ctx context.Context, src *relay.Stream, needs Needs) (*relay.Stream, func(), error) {
	r, release, err := m.acquire(ctx, src, needs)
	if err != nil || r == nil {
		return src, release, err
	}
	return r.out, release, nil
}

// withMedia writes one frame of the publisher's video track: the stream then has media.
func withMedia(t *testing.T, pub *relay.Publisher) {
	t.Helper()
	if err := pub.WriteFrame(&relay.Frame{Track: pub.Stream().Track(relay.Video), Key: true, Units: [][]byte{{0x65, 1}}}); err != nil {
		t.Fatal(err)
	}
}

// TestFitSource: a source whose tracks fit is returned itself, once it has media, and no
// ffmpeg is started.
func TestFitSource(t *testing.T) {
	aac, err := relay.NewAACTrack(testutil.ASC())
	if err != nil {
		t.Fatal(err)
	}
	src, pub := liveStream(t, h264Track(t), aac)
	m := New(Options{FFmpeg: "/nonexistent/ffmpeg"}) // never started
	defer m.Close()
	done := make(chan error, 1)
	var st *relay.Stream
	go func() {
		var release func()
		var err error
		st, release, err = m.Fit(context.Background(), src, rtmpNeeds)
		if err == nil {
			release()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Fit returned before the source had media: %v", err)
	case <-time.After(20 * time.Millisecond): // a Fit that does not wait would be done by now
	}
	withMedia(t, pub)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st != src {
		t.Errorf("Fit returned %q, want the source itself", st.Name())
	}
	if s := m.Status(); len(s) != 0 {
		t.Errorf("Status = %+v, want no rendition", s)
	}
}

// TestFitErrors: every failure is ErrNoFit, names the stream and the needs, and wraps its
// cause.
func TestFitErrors(t *testing.T) {
	opus := &relay.Track{Codec: relay.Opus, SampleRate: 48000, Channels: 2}
	for _, c := range []struct {
		name   string
		stream func(t *testing.T) *relay.Stream
		ffmpeg string
		ctx    time.Duration
		cause  error
		says   string
	}{
		{name: "idle", stream: func(*testing.T) *relay.Stream {
			return relay.NewStream(relay.StreamOptions{Name: "concert"})
		}, cause: relay.ErrNotLive},
		{name: "no media", stream: func(t *testing.T) *relay.Stream {
			src, _ := liveStream(t, h264Track(t), opus)
			return src
		}, ctx: 50 * time.Millisecond, cause: context.DeadlineExceeded, says: "no media"},
		{name: "unsupported", stream: func(t *testing.T) *relay.Stream {
			src, pub := liveStream(t, &relay.Track{Codec: relay.AV1}, opus)
			withMedia(t, pub)
			return src
		}, cause: ErrUnsupported},
		{name: "ffmpeg missing", stream: func(t *testing.T) *relay.Stream {
			src, pub := liveStream(t, h264Track(t), opus)
			withMedia(t, pub)
			return src
		}, ffmpeg: "/nonexistent/ffmpeg", says: "ffmpeg not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := New(Options{FFmpeg: c.ffmpeg})
			defer m.Close()
			ctx := context.Background()
			if c.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.ctx)
				defer cancel()
			}
			_, _, err := m.Fit(ctx, c.stream(t), rtmpNeeds)
			if !errors.Is(err, ErrNoFit) {
				t.Fatalf("Fit: %v, want ErrNoFit", err)
			}
			if c.cause != nil && !errors.Is(err, c.cause) {
				t.Errorf("Fit: %v, want it to wrap %v", err, c.cause)
			}
			for _, s := range []string{`"concert"`, rtmpNeeds.String(), c.says} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Fit: %q does not say %q", err, s)
				}
			}
			if s := m.Status(); len(s) != 0 {
				t.Errorf("Status = %+v, want no rendition", s)
			}
		})
	}
}

// TestFitWaitsForRendition: a source that does not fit gets its rendition, returned once
// ffmpeg made its first frames (a reader taken then starts at once); readers with the same
// needs share it.
func TestFitWaitsForRendition(t *testing.T) {
	video, audio, frames := makeInput(t)
	src, pub := liveStream(t, video, audio)
	m := New(Options{})
	defer func() {
		m.Close()
		testutil.NoGoroutines(t, "transcode.(*rendition)", "transcode.feed")
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go publishRealTime(ctx, pub, frames, 3*time.Second) //nolint:errcheck // the reads below say whether it worked
	st, release, err := m.Fit(ctx, src, rtmpNeeds)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if st == src || !st.HasMedia() {
		t.Fatalf("Fit returned %q (media %v), want the rendition with media", st.Name(), st.HasMedia())
	}
	if a := st.Track(relay.Audio); a == nil || a.Codec != relay.AAC {
		t.Errorf("rendition audio %v, want AAC", a)
	}
	st2, release2, err := m.Fit(ctx, src, rtmpNeeds)
	if err != nil {
		t.Fatal(err)
	}
	release2()
	if st2 != st || len(m.Status()) != 1 {
		t.Errorf("second Fit returned %q, %d renditions: want one shared rendition", st2.Name(), len(m.Status()))
	}
}

// TestRenditionKeepsSourceGrace: a derived stream has its source's reconnect grace, zero
// (no grace: readers end when ffmpeg stops) included.
func TestRenditionKeepsSourceGrace(t *testing.T) {
	m := New(Options{})
	defer m.Close()
	for _, g := range []time.Duration{0, 7 * time.Second} {
		src := relay.NewStream(relay.StreamOptions{Name: "concert", Grace: g})
		r := m.newRendition(renditionKey{src: src, needs: rtmpNeeds.String()}, "ffmpeg", rtmpNeeds, plan{needs: rtmpNeeds, audioOut: relay.AAC})
		r.cancel()
		if got := r.out.Grace(); got != g {
			t.Errorf("source grace %v: derived stream's grace %v", g, got)
		}
	}
}
