package relay

import (
	"errors"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
)

// standIn starts a stand-in on s with its own (slate) video track and the stream's audio
// track, as the standby package does.
func standIn(t *testing.T, s *Stream) *testPublisher {
	t.Helper()
	p, err := s.StandIn()
	if err != nil {
		t.Fatalf("StandIn: %v", err)
	}
	return &testPublisher{t: t, p: p, video: h264Track(t, testutil.SPS360()), audio: s.Track(Audio)}
}

// TestStandInDuringGrace: the stand-in writes on the stream's timeline while the publisher
// is away, its frames are marked, and the returning publisher takes over at its first
// keyframe, its timeline continuing from the stand-in's.
func TestStandInDuringGrace(t *testing.T) {
	s := NewStream(StreamOptions{Name: "test", Grace: 5 * time.Second, RingSize: 64})
	t.Cleanup(s.Stop)
	tp := publish(t, s, true, true)
	r, err := s.Subscribe(ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := s.StandIn(); !errors.Is(err, ErrNoMedia) {
		t.Errorf("StandIn before media: %v, want ErrNoMedia", err)
	}
	read := writeScript(tp, "KaPaPa")
	if _, err := s.StandIn(); !errors.Is(err, ErrSourceSending) {
		t.Errorf("StandIn while the publisher sends: %v, want ErrSourceSending", err)
	}
	tp.p.Close()

	si := standIn(t, s)
	if !s.OnStandby() || !s.Info().Standby {
		t.Error("OnStandby/Info.Standby false while the stand-in is there")
	}
	slate := writeScript(si, "KaPaPaKaPa")
	for _, f := range slate {
		if !f.Standby {
			t.Errorf("stand-in frame %s not marked Standby", describe(f))
		}
	}
	if st, _ := s.State(); st != Reconnecting {
		t.Errorf("state with the stand-in = %v, want reconnecting (it does not change the state)", st)
	}
	if s.Track(Video) != tp.video {
		t.Error("the stand-in changed the stream's video track")
	}

	// The publisher comes back: its frames before its first keyframe are dropped, and the
	// stand-in goes on until then.
	p2 := s.Publish(SourceInfo{Protocol: "rtmp"})
	tp2 := &testPublisher{t: t, p: p2, video: tp.video, audio: tp.audio}
	tp2.nv, tp2.na = 10, 10 // the encoder's own timestamps, far from the stream's
	dropped := writeScript(tp2, "aP")
	slate = append(slate, writeScript(si, "aP")...)
	back := writeScript(tp2, "KaPa")
	if !isClosed(si.p.Done()) || s.OnStandby() {
		t.Error("the stand-in is still on after the publisher's keyframe")
	}
	if err := si.p.WriteFrame(&Frame{Track: si.video, Key: true}); !errors.Is(err, ErrReplaced) {
		t.Errorf("stand-in WriteFrame after the hand-back: %v, want ErrReplaced", err)
	}
	got := readAll(t, r)
	want := append(append(append([]*Frame(nil), read...), slate...), back...)
	if len(got) != len(want) {
		t.Fatalf("reader got %d frames, want %d (the %d before the keyframe dropped)", len(got), len(want), len(dropped))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("frame %d: got %s, want %s", i, describe(got[i]), describe(want[i]))
		}
	}
	checkIncreasing(t, got)
	last := slate[len(slate)-1].DTS
	if d := back[0].DTS - last; d <= 0 || d > 100*time.Millisecond {
		t.Errorf("the publisher's keyframe is %v after the stand-in's last frame, want just after", d)
	}
}

// TestPause: paused, the publisher's frames are dropped, the grace does not run while the
// publisher is away, and resuming hands back at the next keyframe.
func TestPause(t *testing.T) {
	s := newTestStream(t, 30*time.Millisecond)
	if err := s.SetPaused(true); !errors.Is(err, ErrNotLive) {
		t.Errorf("SetPaused on an idle stream: %v, want ErrNotLive", err)
	}
	tp := publish(t, s, true, true)
	if err := s.SetPaused(true); !errors.Is(err, ErrNoMedia) {
		t.Errorf("SetPaused before media: %v, want ErrNoMedia", err)
	}
	writeScript(tp, "KaPa")
	r, err := s.Subscribe(ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	readAll(t, r)
	if err := s.SetPaused(true); err != nil {
		t.Fatal(err)
	}
	if !s.Paused() || !s.Info().Paused {
		t.Error("Paused false after SetPaused(true)")
	}
	writeScript(tp, "PaKa") // dropped: the council is in closed session
	expectWaiting(t, r)
	si := standIn(t, s)
	slate := writeScript(si, "Ka")

	// The publisher leaves during the pause: the grace does not run.
	tp.p.Close()
	time.Sleep(100 * time.Millisecond) // more than the grace, on purpose
	if st, _ := s.State(); st != Reconnecting {
		t.Fatalf("state after the publisher left a paused stream, beyond the grace: %v, want reconnecting", st)
	}
	p2 := s.Publish(SourceInfo{Protocol: "rtmp"})
	tp2 := &testPublisher{t: t, p: p2, video: tp.video, audio: tp.audio}
	writeScript(tp2, "Ka") // still paused: dropped
	slate = append(slate, writeScript(si, "Pa")...)
	if err := s.SetPaused(false); err != nil {
		t.Fatal(err)
	}
	writeScript(tp2, "Pa") // waits for a keyframe
	back := writeScript(tp2, "Ka")
	got := readAll(t, r)
	if want := append(slate, back...); len(got) != len(want) {
		t.Fatalf("reader got %d frames, want %d", len(got), len(want))
	}
	checkIncreasing(t, got)
	if !isClosed(si.p.Done()) {
		t.Error("the stand-in is still on after resuming")
	}

	// Resumed with no publisher: the grace starts then.
	tp2.p.Close()
	if err := s.SetPaused(true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if st, _ := s.State(); st != Reconnecting {
		t.Fatalf("paused stream ended by the grace: %v", st)
	}
	if err := s.SetPaused(false); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, Idle)
	expectEnded(t, r)
}

// TestStopEndsStandIn: ending the stream (the operator's "end now") closes the stand-in and
// the readers at once.
func TestStopEndsStandIn(t *testing.T) {
	s := newTestStream(t, time.Hour)
	tp := publish(t, s, true, true)
	writeScript(tp, "KaPa")
	r, err := s.Subscribe(ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tp.p.Close()
	si := standIn(t, s)
	s.Stop()
	if !isClosed(si.p.Done()) || s.OnStandby() {
		t.Error("stand-in still on after Stop")
	}
	expectEnded(t, r)
	if _, err := s.StandIn(); !errors.Is(err, ErrNotLive) {
		t.Errorf("StandIn on an idle stream: %v, want ErrNotLive", err)
	}
}
