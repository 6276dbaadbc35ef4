package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
)

const (
	videoStep = time.Second / 30
	audioStep = 1024 * time.Second / 48000
	// testTimeout bounds every wait in these tests; reaching it means a bug, not a slow machine.
	testTimeout = 10 * time.Second
)

func newTestStream(t testing.TB, grace time.Duration) *Stream {
	t.Helper()
	s := NewStream(StreamOptions{Name: "test", PublishKey: "secret", Grace: grace, RingSize: 16})
	t.Cleanup(s.Stop)
	return s
}

func h264Track(t testing.TB, sps []byte) *Track {
	t.Helper()
	tr, err := NewH264Track(sps, testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func aacTrack(t testing.TB) *Track {
	t.Helper()
	tr, err := NewAACTrack(testutil.ASC())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// testPublisher is a Publisher with its tracks set, writing frames from the test goroutine.
type testPublisher struct {
	t            testing.TB
	p            *Publisher
	video, audio *Track
	nv, na       int // frames written by writeScript
}

// publish starts a publisher on s with an H.264 720p track (when video) and an AAC track
// (when audio).
func publish(t testing.TB, s *Stream, video, audio bool) *testPublisher {
	t.Helper()
	tp := &testPublisher{t: t, p: s.Publish(SourceInfo{Protocol: "rtmp", RemoteAddr: "192.0.2.1:1935"})}
	var err error
	if video {
		if tp.video, err = tp.p.SetTrack(h264Track(t, testutil.SPS720())); err != nil {
			t.Fatal(err)
		}
	}
	if audio {
		if tp.audio, err = tp.p.SetTrack(aacTrack(t)); err != nil {
			t.Fatal(err)
		}
	}
	return tp
}

func (tp *testPublisher) write(tr *Track, dts, pts time.Duration, key bool) *Frame {
	tp.t.Helper()
	return tp.writeSized(tr, dts, pts, key, 100)
}

func (tp *testPublisher) writeSized(tr *Track, dts, pts time.Duration, key bool, size int) *Frame {
	tp.t.Helper()
	f := &Frame{Track: tr, DTS: dts, PTS: pts, Key: key, Units: [][]byte{make([]byte, size)}}
	if err := tp.p.WriteFrame(f); err != nil {
		tp.t.Fatalf("WriteFrame(dts %v): %v", dts, err)
	}
	return f
}

// v writes a video frame with PTS = DTS.
func (tp *testPublisher) v(dts time.Duration, key bool) *Frame {
	tp.t.Helper()
	return tp.write(tp.video, dts, dts, key)
}

// a writes an audio frame.
func (tp *testPublisher) a(dts time.Duration) *Frame {
	tp.t.Helper()
	return tp.write(tp.audio, dts, dts, true)
}

// nextNow returns the reader's next frame if it can have one without waiting, and
// context.Canceled otherwise.
func nextNow(r *Reader) (*Frame, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return r.Next(ctx)
}

// mustNext returns the reader's next frame, waiting for it.
func mustNext(t testing.TB, r *Reader) *Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	f, err := r.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return f
}

// expectWaiting checks the reader has nothing to read yet and no error either.
func expectWaiting(t testing.TB, r *Reader) {
	t.Helper()
	if f, err := nextNow(r); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v, %v; want to wait for a frame", describe(f), err)
	}
}

// expectEnded waits for the reader to get ErrEnded.
func expectEnded(t testing.TB, r *Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if f, err := r.Next(ctx); !errors.Is(err, ErrEnded) {
		t.Fatalf("Next = %v, %v; want ErrEnded", describe(f), err)
	}
}

// readAll returns the frames a reader can have without waiting.
func readAll(t testing.TB, r *Reader) []*Frame {
	t.Helper()
	var fs []*Frame
	for {
		f, err := nextNow(r)
		if errors.Is(err, context.Canceled) {
			return fs
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		fs = append(fs, f)
	}
}

func describe(f *Frame) string {
	if f == nil {
		return "<nil>"
	}
	k := "P"
	if f.Key {
		k = "K"
	}
	return fmt.Sprintf("%s %s dts=%v", f.Track.Kind(), k, f.DTS)
}

// waitState waits for the stream to reach a state.
func waitState(t testing.TB, s *Stream, want State) {
	t.Helper()
	timeout := time.NewTimer(testTimeout)
	defer timeout.Stop()
	for {
		st, changed := s.State()
		if st == want {
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("stream state is %v, want %v", st, want)
		}
	}
}

// checkIncreasing checks that DTS strictly increase per kind, and that no timestamp is
// negative.
func checkIncreasing(t testing.TB, fs []*Frame) {
	t.Helper()
	var last [numKinds]time.Duration
	var seen [numKinds]bool
	for i, f := range fs {
		k := f.Track.Kind()
		if f.DTS < 0 || f.PTS < 0 {
			t.Errorf("frame %d (%s): negative timestamp, pts=%v", i, describe(f), f.PTS)
		}
		if seen[k] && f.DTS <= last[k] {
			t.Errorf("frame %d (%s): DTS not after the previous %v frame's %v", i, describe(f), k, last[k])
		}
		last[k], seen[k] = f.DTS, true
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestTracksFromParameterSets(t *testing.T) {
	v := h264Track(t, testutil.SPS720())
	if v.Codec != H264 || v.Kind() != Video || v.Width != 1280 || v.Height != 720 {
		t.Errorf("720p track = %s %v %dx%d", v.Codec, v.Kind(), v.Width, v.Height)
	}
	if v := h264Track(t, testutil.SPS360()); v.Width != 640 || v.Height != 360 {
		t.Errorf("360p track = %dx%d", v.Width, v.Height)
	}
	a := aacTrack(t)
	if a.Codec != AAC || a.Kind() != Audio || a.SampleRate != 48000 || a.Channels != 2 {
		t.Errorf("AAC track = %s %v %d Hz %d ch", a.Codec, a.Kind(), a.SampleRate, a.Channels)
	}
	if !v.SameParams(h264Track(t, testutil.SPS720())) || v.SameParams(h264Track(t, testutil.SPS360())) || v.SameParams(a) {
		t.Error("SameParams does not compare the parameters")
	}
	if _, err := NewH264Track([]byte{0x67}, testutil.PPS()); err == nil {
		t.Error("NewH264Track accepted a truncated SPS")
	}
	if _, err := NewAACTrack(nil); err == nil {
		t.Error("NewAACTrack accepted an empty config")
	}
}

func TestSubscribeStartPosition(t *testing.T) {
	tests := []struct {
		name         string
		video, audio bool
		// before publishes the frames there before the reader subscribes, and returns the
		// frame the reader must start at, or nil if it must start at the next frame.
		before func(tp *testPublisher) *Frame
	}{
		{
			name: "newest keyframe", video: true, audio: true,
			before: func(tp *testPublisher) *Frame {
				tp.v(0, true)
				tp.a(0)
				tp.v(videoStep, false)
				tp.a(audioStep)
				k := tp.v(2*videoStep, true)
				tp.a(2 * audioStep)
				tp.v(3*videoStep, false)
				return k
			},
		},
		{
			name: "no keyframe yet", video: true, audio: true,
			before: func(tp *testPublisher) *Frame {
				tp.a(0)
				tp.v(0, false)
				tp.a(audioStep)
				return nil
			},
		},
		{
			name: "keyframe no longer in the ring", video: true,
			before: func(tp *testPublisher) *Frame {
				tp.v(0, true)
				for i := 1; i <= 16; i++ {
					tp.v(time.Duration(i)*videoStep, false)
				}
				return nil
			},
		},
		{
			name: "nothing published yet", video: true, audio: true,
			before: func(tp *testPublisher) *Frame { return nil },
		},
		{
			// Every audio frame is a keyframe: the newest frame is where to start.
			name: "audio only", audio: true,
			before: func(tp *testPublisher) *Frame {
				var f *Frame
				for i := range 5 {
					f = tp.a(time.Duration(i) * audioStep)
				}
				return f
			},
		},
		{
			name: "audio only, frames not marked key", audio: true,
			before: func(tp *testPublisher) *Frame {
				for i := range 5 {
					tp.write(tp.audio, time.Duration(i)*audioStep, time.Duration(i)*audioStep, false)
				}
				return nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStream(t, time.Second)
			tp := publish(t, s, tt.video, tt.audio)
			want := tt.before(tp)
			r, err := s.Subscribe(ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if want == nil {
				expectWaiting(t, r)
				if tt.video {
					want = tp.v(time.Hour, true)
				} else {
					want = tp.a(time.Hour)
				}
			}
			if got := mustNext(t, r); got != want {
				t.Fatalf("first frame = %s, want %s", describe(got), describe(want))
			}
			if r.Skipped() != 0 {
				t.Errorf("Skipped = %d, want 0", r.Skipped())
			}
		})
	}
}

func TestSubscribeNotLive(t *testing.T) {
	s := newTestStream(t, time.Second)
	if _, err := s.Subscribe(ReaderOptions{}); !errors.Is(err, ErrNotLive) {
		t.Fatalf("Subscribe on an idle stream: %v, want ErrNotLive", err)
	}
}

// writeScript writes a frame for each character of script: a video keyframe 'K', a video
// frame 'P' or an audio frame 'a'; spaces are for the eye. Timestamps start at 0 on the
// publisher's first script and go on in the next.
func writeScript(tp *testPublisher, script string) []*Frame {
	tp.t.Helper()
	var fs []*Frame
	for _, c := range script {
		switch c {
		case 'K', 'P':
			fs = append(fs, tp.v(time.Duration(tp.nv)*videoStep, c == 'K'))
			tp.nv++
		case 'a':
			fs = append(fs, tp.a(time.Duration(tp.na)*audioStep))
			tp.na++
		case ' ':
		default:
			tp.t.Fatalf("bad script character %q", c)
		}
	}
	return fs
}

func TestReaderSkipsWhenBehind(t *testing.T) {
	tests := []struct {
		name   string
		maxLag time.Duration
		// script is what the publisher writes: the reader reads the first frame, a keyframe,
		// then the publisher writes the rest. The ring holds 16 frames.
		script string
		// skipTo is the index in script of the frame the reader gets after the first, or -1
		// when it must wait for the next frame.
		skipTo  int
		skipped uint64
	}{
		{
			name:   "keeps up",
			script: "K PPPPPPPPPPPPPP", // the whole script fits the ring
			skipTo: 1, skipped: 0,
		},
		{
			name:   "out of the ring, skips to the newest keyframe",
			script: "K PPPPPPPPPPPPPPPPPPP K PPPPPPPPP", // 30 frames, the last keyframe at 20
			skipTo: 20, skipped: 19,
		},
		{
			name:   "out of the ring, audio counted",
			script: "K aPaPaPaPaPaPaPaPaPaPa KaPaPaPaPa", // 32 frames, the last keyframe at 22
			skipTo: 22, skipped: 21,
		},
		{
			name:   "out of the ring, several keyframes: the newest",
			script: "K PPPP K PPPPPPPPP K PPPPPP K PPPPPPPP", // keyframes at 0, 5, 15, 22
			skipTo: 22, skipped: 21,
		},
		{
			name:   "out of the ring, no keyframe in it: waits",
			script: "K PPPPPPPPPPPPPPPPPPPPPPPPPPPPP", // 30 frames
			skipTo: -1, skipped: 29,
		},
		{
			name:   "lag over MaxLag, skips to the newest keyframe",
			maxLag: 100 * time.Millisecond,
			script: "K PPPP K P", // 200 ms of video, keyframe at 5
			skipTo: 5, skipped: 4,
		},
		{
			name:   "lag over MaxLag, audio counted",
			maxLag: 100 * time.Millisecond,
			script: "K aPaPaPaPa K", // keyframe at 10
			skipTo: 10, skipped: 9,
		},
		{
			name:   "lag over MaxLag, no newer keyframe: no skip",
			maxLag: 100 * time.Millisecond,
			script: "K PPPPPPPPPP", // 333 ms
			skipTo: 1, skipped: 0,
		},
		{
			name:   "lag within MaxLag",
			maxLag: time.Second,
			script: "K PPPP K P",
			skipTo: 1, skipped: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStream(t, time.Second)
			tp := publish(t, s, true, true)
			r, err := s.Subscribe(ReaderOptions{MaxLag: tt.maxLag})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			fs := writeScript(tp, tt.script[:1])
			if got := mustNext(t, r); got != fs[0] {
				t.Fatalf("first frame = %s, want the first keyframe", describe(got))
			}
			fs = append(fs, writeScript(tp, tt.script[1:])...)
			// The frames also waited in the ring: lag is media time and wall-clock time.
			s.clock = func() time.Time { return time.Now().Add(time.Hour) }
			got := readAll(t, r)
			var want []*Frame
			if tt.skipTo >= 0 {
				want = fs[tt.skipTo:]
			}
			if !slices.Equal(got, want) {
				t.Errorf("read %d frames starting at %s, want %d starting at script[%d]",
					len(got), describe(first(got)), len(want), tt.skipTo)
			}
			if r.Skipped() != tt.skipped {
				t.Errorf("Skipped = %d, want %d", r.Skipped(), tt.skipped)
			}
			// Whatever it skipped, the reader follows the stream afterwards.
			f := tp.v(time.Hour, true)
			if got := mustNext(t, r); got != f {
				t.Errorf("after the skip: %s, want the frame just published", describe(got))
			}
		})
	}
}

func first(fs []*Frame) *Frame {
	if len(fs) == 0 {
		return nil
	}
	return fs[0]
}

// A reader that lost frames and found no keyframe in the ring must not resume on a frame
// that depends on frames it never got.
func TestReaderSkipResumesAtKeyframe(t *testing.T) {
	s := newTestStream(t, time.Second)
	tp := publish(t, s, true, true)
	r, err := s.Subscribe(ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	writeScript(tp, "K")
	mustNext(t, r)
	writeScript(tp, "PPPPPPPPPPPPPPPPPPPPPPPPPPPPP") // the keyframe falls out of the ring
	expectWaiting(t, r)
	tp.v(30*videoStep, false)
	k := tp.v(31*videoStep, true)
	if got := mustNext(t, r); got != k {
		t.Errorf("after losing frames the reader got %s, want the next keyframe", describe(got))
	}
}

func TestPublisherNeverBlocks(t *testing.T) {
	s := newTestStream(t, time.Second)
	tp := publish(t, s, true, true)
	idle, err := s.Subscribe(ReaderOptions{}) // never reads
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	stalled, err := s.Subscribe(ReaderOptions{}) // reads one frame, then is stuck (in a write, say)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		defer stalled.Close()
		if _, err := stalled.Next(ctx); err == nil {
			<-ctx.Done()
		}
	})

	const n = 100 * 16
	done := make(chan error, 1)
	go func() {
		for i := range n {
			f := &Frame{Track: tp.video, DTS: time.Duration(i) * videoStep, Key: i%30 == 0,
				Units: [][]byte{{0}}}
			if err := tp.p.WriteFrame(f); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testTimeout):
		t.Fatal("publisher blocked")
	}
	// The idle reader then skips to the newest keyframe (frame 1590).
	f := mustNext(t, idle)
	if !f.Key || f.DTS != 1590*videoStep {
		t.Errorf("idle reader resumed at %s, want the keyframe at %v", describe(f), 1590*videoStep)
	}
	if idle.Skipped() != 1590 {
		t.Errorf("idle reader Skipped = %d, want 1590", idle.Skipped())
	}
}

func TestManyReadersReadEveryFrame(t *testing.T) {
	const (
		readers = 50
		frames  = 400
		burst   = 12 // less than the ring
	)
	s := newTestStream(t, time.Second)
	tp := publish(t, s, true, true)

	var progress [readers]atomic.Int64
	got := make([][]*Frame, readers)
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for i := range readers {
		r, err := s.Subscribe(ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer r.Close()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			for {
				f, err := r.Next(ctx)
				if err != nil {
					if !errors.Is(err, ErrEnded) {
						errs[i] = err
					}
					break
				}
				got[i] = append(got[i], f)
				progress[i].Add(1)
			}
			if r.Skipped() != 0 {
				errs[i] = fmt.Errorf("skipped %d frames", r.Skipped())
			}
		})
	}

	var published []*Frame
	var nv, na int
	for len(published) < frames {
		for range burst {
			// Interleave in DTS order: 30 fps video, 46.875 fps audio.
			vd, ad := time.Duration(nv)*videoStep, time.Duration(na)*audioStep
			if vd <= ad {
				published = append(published, tp.v(vd, nv%30 == 0))
				nv++
			} else {
				published = append(published, tp.a(ad))
				na++
			}
		}
		// The readers keep up: the publisher waits for them before the next burst, so the
		// ring never overflows.
		deadline := time.Now().Add(testTimeout)
		for i := range readers {
			for progress[i].Load() < int64(len(published)) {
				if time.Now().After(deadline) {
					t.Fatalf("reader %d stuck at %d frames of %d", i, progress[i].Load(), len(published))
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	s.Stop()
	wg.Wait()

	for i := range readers {
		if errs[i] != nil {
			t.Errorf("reader %d: %v", i, errs[i])
		}
		if !slices.Equal(got[i], published) {
			t.Errorf("reader %d read %d frames, not the %d published in order", i, len(got[i]), len(published))
			continue
		}
		checkIncreasing(t, got[i])
	}
}

func TestReconnectWithinGrace(t *testing.T) {
	s := newTestStream(t, 5*time.Second)
	tp1 := publish(t, s, true, true)
	r, err := s.Subscribe(ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	session := s.Info().Session

	var read []*Frame
	read = append(read, writeScript(tp1, "KaPaPaPaPa")...)
	lastWrite := time.Now()
	if got := readAll(t, r); !slices.Equal(got, read) {
		t.Fatalf("reader got %d frames, want %d", len(got), len(read))
	}
	lastVideo, lastAudio := read[8].DTS, read[9].DTS

	tp1.p.Close()
	if st, _ := s.State(); st != Reconnecting {
		t.Fatalf("state after the publisher left = %v, want reconnecting", st)
	}
	expectWaiting(t, r) // no error during the grace

	time.Sleep(60 * time.Millisecond) // the publisher's gap, on purpose

	// The publisher comes back; its encoder restarts its timestamps at 0, with the same
	// parameters.
	p2 := s.Publish(SourceInfo{Protocol: "rtmp", RemoteAddr: "192.0.2.1:1936"})
	if st, _ := s.State(); st != Live {
		t.Fatalf("state after the publisher came back = %v, want live", st)
	}
	tp2 := &testPublisher{t: t, p: p2}
	if tp2.video, err = p2.SetTrack(h264Track(t, testutil.SPS720())); err != nil {
		t.Fatal(err)
	}
	if tp2.audio, err = p2.SetTrack(aacTrack(t)); err != nil {
		t.Fatal(err)
	}
	if tp2.video != tp1.video || tp2.audio != tp1.audio {
		t.Error("SetTrack with the same parameters did not keep the stream's tracks")
	}
	gap := time.Since(lastWrite)
	fs := writeScript(tp2, "KaPaPaPa")
	got := readAll(t, r)
	if !slices.Equal(got, fs) {
		t.Fatalf("reader got %d frames after the reconnect, want %d", len(got), len(fs))
	}
	read = append(read, got...)
	checkIncreasing(t, read)
	for _, c := range []struct {
		kind       string
		last, next time.Duration
	}{
		{"video", lastVideo, fs[0].DTS},
		{"audio", lastAudio, fs[1].DTS},
	} {
		step := c.next - c.last
		if step < gap/2 {
			t.Errorf("%s DTS stepped %v across a %v gap", c.kind, step, gap)
		}
		if step > gap+time.Second {
			t.Errorf("%s DTS stepped %v across a %v gap: does not follow the wall clock", c.kind, step, gap)
		}
	}
	// The frames of one publisher keep their spacing.
	if d := fs[2].DTS - fs[0].DTS; d != videoStep {
		t.Errorf("video frames after the reconnect are %v apart, want %v", d, videoStep)
	}

	// New parameters (a new resolution): a new track, seen by readers on the next frames.
	v360, err := p2.SetTrack(h264Track(t, testutil.SPS360()))
	if err != nil {
		t.Fatal(err)
	}
	if v360 == tp1.video || v360.Width != 640 || v360.Height != 360 {
		t.Fatalf("SetTrack with a new SPS returned %p %dx%d", v360, v360.Width, v360.Height)
	}
	if s.Track(Video) != v360 || s.Track(Audio) != tp1.audio {
		t.Error("Stream.Track does not return the current tracks")
	}
	tp2.video = v360
	k := tp2.v(4*videoStep, true)
	if got := mustNext(t, r); got != k || got.Track != v360 {
		t.Errorf("after the new SPS the reader got %s", describe(got))
	}

	in := s.Info()
	if in.Session != session || in.Publishes != 2 || in.State != Live {
		t.Errorf("Info: session %d (was %d), publishes %d, state %v; want the same session, 2 publishes, live",
			in.Session, session, in.Publishes, in.State)
	}
	if in.Source.RemoteAddr != "192.0.2.1:1936" {
		t.Errorf("Info.Source = %+v, want the new publisher", in.Source)
	}
}

func TestGraceExpiry(t *testing.T) {
	for _, grace := range []time.Duration{0, 50 * time.Millisecond} {
		t.Run(fmt.Sprintf("grace=%v", grace), func(t *testing.T) {
			s := newTestStream(t, grace)
			tp := publish(t, s, true, true)
			r, err := s.Subscribe(ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			writeScript(tp, "KaPaPaPaPaPaPa")
			mustNext(t, r)
			session := s.Info().Session

			tp.p.Close()
			if grace > 0 {
				// During the grace the reader reads what is left, then waits.
				if n := len(readAll(t, r)); n != 13 {
					t.Errorf("read %d frames during the grace, want the 13 left", n)
				}
				if st, _ := s.State(); st != Reconnecting {
					t.Errorf("state during the grace = %v", st)
				}
			}
			// Without a grace, unread frames are dropped at once.
			expectEnded(t, r)
			waitState(t, s, Idle)
			expectEnded(t, r)
			if _, err := s.Subscribe(ReaderOptions{}); !errors.Is(err, ErrNotLive) {
				t.Errorf("Subscribe after the grace: %v, want ErrNotLive", err)
			}
			if in := s.Info(); in.State != Idle || in.Tracks != nil {
				t.Errorf("Info after the grace: %+v", in)
			}
			if err := tp.p.WriteFrame(&Frame{Track: tp.video}); !errors.Is(err, ErrReplaced) {
				t.Errorf("WriteFrame after Close: %v", err)
			}

			// A new session starts a new timeline at 0.
			tp2 := publish(t, s, true, true)
			if s.Info().Session != session+1 {
				t.Errorf("session = %d, want %d", s.Info().Session, session+1)
			}
			r2, err := s.Subscribe(ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			k := tp2.v(5*time.Second, true)
			a := tp2.a(5 * time.Second)
			if k.DTS != 0 || a.DTS != 0 {
				t.Errorf("new session starts at video %v, audio %v; want 0", k.DTS, a.DTS)
			}
			if got := mustNext(t, r2); got != k {
				t.Errorf("new reader got %s", describe(got))
			}
			expectEnded(t, r)
		})
	}
}

// A session's timeline starts afresh: nothing of the previous session's timeline leaks into
// the next one.
func TestNewSessionTimeline(t *testing.T) {
	s := newTestStream(t, 50*time.Millisecond)
	tp := publish(t, s, true, false)
	for i := range 300 { // 10 s
		tp.v(time.Duration(i)*videoStep, i%30 == 0)
	}
	s.Stop()

	t.Run("MaxLag", func(t *testing.T) {
		tp := publish(t, s, true, false)
		k := writeScript(tp, "K")[0]
		r, err := s.Subscribe(ReaderOptions{MaxLag: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		writeScript(tp, "PPPP K") // 166 ms behind at most
		if got := mustNext(t, r); got != k || r.Skipped() != 0 {
			t.Errorf("reader 166 ms behind with MaxLag 1s got %s, skipped %d", describe(got), r.Skipped())
		}
		s.Stop()
	})
	t.Run("reconnect", func(t *testing.T) {
		tp := publish(t, s, true, false)
		last := writeScript(tp, "KPPP")[3]
		start := time.Now()
		tp.p.Close()
		tp2 := publish(t, s, true, false)
		f := tp2.v(0, true)
		gap := time.Since(start)
		if step := f.DTS - last.DTS; step > gap+time.Second {
			t.Errorf("DTS stepped %v across a %v gap", step, gap)
		}
		s.Stop()
	})
}

func TestTakeover(t *testing.T) {
	s := newTestStream(t, time.Second)
	tp1 := publish(t, s, true, true)
	r, err := s.Subscribe(ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	read := writeScript(tp1, "KaPa")
	session := s.Info().Session

	tp2 := publish(t, s, true, true)
	if !isClosed(tp1.p.Done()) {
		t.Error("the replaced publisher's Done is not closed")
	}
	if isClosed(tp2.p.Done()) {
		t.Error("the new publisher's Done is closed")
	}
	if err := tp1.p.WriteFrame(&Frame{Track: tp1.video, Key: true}); !errors.Is(err, ErrReplaced) {
		t.Errorf("replaced publisher's WriteFrame: %v, want ErrReplaced", err)
	}
	if _, err := tp1.p.SetTrack(h264Track(t, testutil.SPS360())); !errors.Is(err, ErrReplaced) {
		t.Errorf("replaced publisher's SetTrack: %v, want ErrReplaced", err)
	}
	tp1.p.Close()
	if st, _ := s.State(); st != Live {
		t.Errorf("state after the replaced publisher closed = %v, want live", st)
	}
	if tp2.video != tp1.video {
		t.Error("the new publisher with the same parameters got a new track")
	}
	read = append(read, writeScript(tp2, "KaPa")...)
	got := readAll(t, r)
	if !slices.Equal(got, read) {
		t.Fatalf("reader got %d frames across the takeover, want %d", len(got), len(read))
	}
	checkIncreasing(t, got)
	if in := s.Info(); in.Session != session || in.Publishes != 2 {
		t.Errorf("Info: session %d (was %d), publishes %d", in.Session, session, in.Publishes)
	}

	s.Stop()
	if !isClosed(tp2.p.Done()) {
		t.Error("Stop did not close the publisher's Done")
	}
	expectEnded(t, r)
}

func TestWriteFrameWithoutTrack(t *testing.T) {
	s := newTestStream(t, time.Second)
	tp := publish(t, s, true, true)
	if err := tp.p.WriteFrame(&Frame{Key: true}); !errors.Is(err, ErrNoTrack) {
		t.Errorf("WriteFrame without a track: %v, want ErrNoTrack", err)
	}
}

func TestNegativeDTS(t *testing.T) {
	type frame struct {
		audio    bool
		dts, pts time.Duration
		key      bool
	}
	ms := time.Millisecond
	tests := []struct {
		name   string
		frames []frame
	}{
		{
			name: "first frame decoded before 0",
			frames: []frame{
				{dts: -66 * ms, pts: 0, key: true},
				{dts: -33 * ms, pts: 100 * ms},
				{dts: 0, pts: 33 * ms},
				{dts: 33 * ms, pts: 66 * ms},
			},
		},
		{
			name: "audio first, then video decoded before it",
			frames: []frame{
				{audio: true, dts: 0, pts: 0},
				{dts: -66 * ms, pts: 0, key: true},
				{audio: true, dts: 21 * ms, pts: 21 * ms},
				{dts: -33 * ms, pts: 100 * ms},
				{audio: true, dts: 42 * ms, pts: 42 * ms},
				{dts: 0, pts: 33 * ms},
			},
		},
		{
			name: "publisher starting far from 0",
			frames: []frame{
				{dts: 3*time.Hour - 66*ms, pts: 3 * time.Hour, key: true},
				{audio: true, dts: 3 * time.Hour, pts: 3 * time.Hour},
				{dts: 3*time.Hour - 33*ms, pts: 3*time.Hour + 100*ms},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStream(t, time.Second)
			tp := publish(t, s, true, true)
			r, err := s.Subscribe(ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var fs []*Frame
			for _, f := range tt.frames {
				tr := tp.video
				if f.audio {
					tr = tp.audio
				}
				fs = append(fs, tp.write(tr, f.dts, f.pts, f.key || f.audio))
			}
			got := readAll(t, r)
			if !slices.Equal(got, fs) {
				t.Fatalf("reader got %d frames, want %d", len(got), len(fs))
			}
			checkIncreasing(t, got)
			for i, f := range fs {
				if want := tt.frames[i].pts - tt.frames[i].dts; f.PTS-f.DTS != want {
					t.Errorf("frame %d: PTS-DTS = %v, want %v", i, f.PTS-f.DTS, want)
				}
			}
			if fs[0].DTS > 100*ms {
				t.Errorf("timeline starts at %v, want near 0", fs[0].DTS)
			}
		})
	}
}

func TestFrameMemo(t *testing.T) {
	key := NewMemoKey("test")
	t.Run("sequential", func(t *testing.T) {
		f := &Frame{Units: [][]byte{{1, 2, 3}}}
		var builds atomic.Int32
		build := func(f *Frame) any {
			builds.Add(1)
			b := append([]byte{0xff}, f.Units[0]...)
			return &b
		}
		v := f.Memo(key, build)
		for range 10 {
			if f.Memo(key, build) != v {
				t.Fatal("Memo returned another value")
			}
		}
		if builds.Load() != 1 {
			t.Errorf("built %d times, want 1", builds.Load())
		}
	})

	t.Run("concurrent, one key", func(t *testing.T) {
		const n = 32
		for range 20 {
			f := &Frame{Units: [][]byte{{1, 2, 3}}}
			var builds atomic.Int32
			vals := make([]any, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					vals[i] = f.Memo(key, func(f *Frame) any {
						builds.Add(1)
						b := append([]byte(nil), f.Units[0]...)
						return &b
					})
				})
			}
			close(start)
			wg.Wait()
			for i, v := range vals {
				if v != vals[0] {
					t.Fatalf("caller %d got %p, caller 0 got %p", i, v, vals[0])
				}
			}
			if b := builds.Load(); b < 1 || b > n {
				t.Fatalf("built %d times for %d callers", b, n)
			}
			if f.Memo(key, func(*Frame) any { panic("built again") }) != vals[0] {
				t.Fatal("a later caller got another value")
			}
		}
	})

	t.Run("separate keys", func(t *testing.T) {
		keys := []*MemoKey{NewMemoKey("a"), NewMemoKey("b"), NewMemoKey("c")}
		f := &Frame{}
		var builds [3]atomic.Int32
		const n = 32
		vals := make([][3]any, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				for j := range keys {
					k := (i + j) % len(keys)
					vals[i][k] = f.Memo(keys[k], func(*Frame) any {
						builds[k].Add(1)
						return fmt.Sprintf("value %d", k)
					})
				}
			})
		}
		close(start)
		wg.Wait()
		for k := range keys {
			if builds[k].Load() < 1 {
				t.Errorf("key %d never built", k)
			}
			for i := range n {
				if vals[i][k] != fmt.Sprintf("value %d", k) {
					t.Errorf("caller %d key %d got %v", i, k, vals[i][k])
				}
			}
			// Sequential calls after the race build nothing.
			before := builds[k].Load()
			f.Memo(keys[k], func(*Frame) any { builds[k].Add(1); return nil })
			if builds[k].Load() != before {
				t.Errorf("key %d built again", k)
			}
		}
	})
}

func TestRegistry(t *testing.T) {
	reg := NewRegistry(RegistryOptions{Grace: time.Second, RingSize: 16})
	t.Cleanup(reg.StopAll)
	changed := reg.Changed()
	for _, n := range []string{"conseil", "annonces", "marche"} {
		if _, err := reg.Add(n, "key-"+n+"-7f3a9c"); err != nil {
			t.Fatal(err)
		}
	}
	if !isClosed(changed) {
		t.Error("Changed not closed by Add")
	}

	for _, tt := range []struct{ name, key string }{
		{"conseil", "another-key-4d2e"},
		{"nouveau", "key-annonces-7f3a9c"},
	} {
		_, err := reg.Add(tt.name, tt.key)
		if err == nil {
			t.Errorf("Add(%q, %q) accepted a duplicate", tt.name, tt.key)
			continue
		}
		if strings.Contains(err.Error(), tt.key) {
			t.Errorf("Add error reveals the key: %v", err)
		}
	}
	if len(reg.List()) != 3 {
		t.Errorf("refused Adds changed the registry: %d streams", len(reg.List()))
	}

	for _, tt := range []struct{ key, want string }{
		{"key-marche-7f3a9c", "marche"},
		{"key-conseil-7f3a9c", "conseil"},
		{"key-marche-7f3a9", ""},
		{"KEY-MARCHE-7F3A9C", ""},
		{"", ""},
	} {
		got := reg.Authenticate(tt.key)
		switch {
		case tt.want == "" && got != nil:
			t.Errorf("Authenticate(%q) = %q, want nil", tt.key, got.Name())
		case tt.want != "" && (got == nil || got.Name() != tt.want):
			t.Errorf("Authenticate(%q) = %v, want %q", tt.key, got, tt.want)
		}
	}

	var names []string
	for _, s := range reg.List() {
		names = append(names, s.Name())
	}
	if want := []string{"annonces", "conseil", "marche"}; !slices.Equal(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}

	s := reg.Get("conseil")
	if s == nil {
		t.Fatal("Get(conseil) = nil")
	}
	tp := publish(t, s, true, true)
	r, err := s.Subscribe(ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	writeScript(tp, "Ka")
	mustNext(t, r)
	changed = reg.Changed()
	if !reg.Remove("conseil") {
		t.Fatal("Remove(conseil) = false")
	}
	if !isClosed(changed) {
		t.Error("Changed not closed by Remove")
	}
	expectEnded(t, r)
	if !isClosed(tp.p.Done()) {
		t.Error("Remove did not close the publisher's Done")
	}
	if reg.Get("conseil") != nil || reg.Authenticate("key-conseil-7f3a9c") != nil {
		t.Error("removed stream still found")
	}
	if reg.Remove("conseil") {
		t.Error("Remove of a removed stream = true")
	}
}

func TestInfo(t *testing.T) {
	s := newTestStream(t, time.Second)
	if in := s.Info(); in.State != Idle || in.Name != "test" || in.Tracks != nil {
		t.Errorf("idle Info = %+v", in)
	}
	before := time.Now()
	tp := publish(t, s, true, true)
	r, err := s.Subscribe(ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	// Frames spread over more than a second of wall clock, so that the per-second rates are
	// measured: about 30 fps video with a keyframe every 10 frames, audio alongside.
	const videoSize, audioSize = 1000, 200
	var nv, na int
	for time.Since(before) < 1200*time.Millisecond {
		dts := time.Duration(nv) * videoStep
		tp.writeSized(tp.video, dts, dts, nv%10 == 0, videoSize)
		nv++
		for ; time.Duration(na)*audioStep <= dts; na++ {
			ad := time.Duration(na) * audioStep
			tp.writeSized(tp.audio, ad, ad, true, audioSize)
		}
		time.Sleep(videoStep) // the wall-clock spread, on purpose
	}

	in := s.Info()
	if in.State != Live || in.Readers != 1 || in.Publishes != 1 || in.Source.Protocol != "rtmp" ||
		in.LiveSince.Before(before) || in.LiveSince.After(time.Now()) {
		t.Errorf("Info = %+v", in)
	}
	if len(in.Tracks) != 2 {
		t.Fatalf("Info.Tracks = %+v, want video and audio", in.Tracks)
	}
	v, a := in.Tracks[0], in.Tracks[1]
	if v.Kind != "video" || v.Codec != H264 || v.Width != 1280 || v.Height != 720 {
		t.Errorf("video track = %+v", v)
	}
	if v.Frames != uint64(nv) || v.Bytes != uint64(nv*videoSize) {
		t.Errorf("video: %d frames, %d bytes; want %d, %d", v.Frames, v.Bytes, nv, nv*videoSize)
	}
	// The publisher sleeps a frame time between frames: at most about 30 fps.
	if v.FPS < 5 || v.FPS > 35 {
		t.Errorf("video FPS = %v, want about 30", v.FPS)
	}
	// The bitrate is measured on arrival (wall clock), the frame rate from the timestamps:
	// only bound the bitrate by what the publisher can have sent.
	if max := 35.0 * videoSize * 8; v.Bitrate <= 0 || v.Bitrate > max {
		t.Errorf("video bitrate = %v, want between 0 and %v", v.Bitrate, max)
	}
	if v.KeyframeInterval != 10*videoStep {
		t.Errorf("keyframe interval = %v, want %v", v.KeyframeInterval, 10*videoStep)
	}
	if a.Kind != "audio" || a.Codec != AAC || a.SampleRate != 48000 || a.Channels != 2 {
		t.Errorf("audio track = %+v", a)
	}
	if a.Frames != uint64(na) || a.Bytes != uint64(na*audioSize) || a.Bitrate <= 0 {
		t.Errorf("audio: %d frames, %d bytes, %v bit/s; want %d, %d, > 0", a.Frames, a.Bytes, a.Bitrate, na, na*audioSize)
	}

	r.Close()
	r.Close()
	if n := s.Info().Readers; n != 0 {
		t.Errorf("Readers after Close = %d, want 0", n)
	}
}

func TestSetKey(t *testing.T) {
	reg := NewRegistry(RegistryOptions{})
	defer reg.StopAll()
	if _, err := reg.Add("a", "key-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add("b", "key-b"); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetKey("a", "key-b"); err == nil {
		t.Fatal("SetKey took another stream's key")
	}
	if err := reg.SetKey("a", ""); err == nil {
		t.Fatal("SetKey took an empty key")
	}
	if err := reg.SetKey("nope", "k"); err == nil {
		t.Fatal("SetKey of an unknown stream")
	}
	if err := reg.SetKey("a", "key-a2"); err != nil {
		t.Fatal(err)
	}
	if reg.Authenticate("key-a") != nil || reg.Authenticate("key-a2") != reg.Get("a") {
		t.Fatal("the old key still works or the new one does not")
	}
}

// TestWaitMedia: an idle stream answers ErrNotLive at once; a live one without frames waits
// and wakes at the first frame, however close to the wait it comes; a deadline ends the wait.
func TestWaitMedia(t *testing.T) {
	s := newTestStream(t, time.Minute)
	if err := s.WaitMedia(t.Context()); !errors.Is(err, ErrNotLive) {
		t.Fatalf("idle stream: %v, want ErrNotLive", err)
	}
	p := s.Publish(SourceInfo{Protocol: "test"})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := s.WaitMedia(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no frame yet: %v, want the deadline", err)
	}
	v, err := p.SetTrack(h264Track(t, testutil.SPS720()))
	if err != nil {
		t.Fatal(err)
	}
	for range 200 { // the frame races the wait: it must never be missed
		s2 := newTestStream(t, time.Minute)
		p2 := s2.Publish(SourceInfo{Protocol: "test"})
		v2, _ := p2.SetTrack(h264Track(t, testutil.SPS720()))
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			done <- s2.WaitMedia(ctx)
		}()
		if err := p2.WriteFrame(&Frame{Track: v2, Key: true, Units: [][]byte{{5}}}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("the first frame was missed: %v", err)
		}
		s2.Stop()
	}
	if err := p.WriteFrame(&Frame{Track: v, Key: true, Units: [][]byte{{5}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitMedia(t.Context()); err != nil {
		t.Fatalf("after a frame: %v", err)
	}
}
