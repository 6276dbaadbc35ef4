package relay

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
)

// failoverRig is a stream with a primary "camera" (720p) and a backup "phone" (360p) on a
// fake clock: tick moves the clock one video frame on and has every sending source write a
// video frame (a keyframe every gop frames) and an audio frame.
type failoverRig struct {
	t       *testing.T
	s       *Stream
	now     time.Time
	sources map[string]*rigSource
	r       *Reader
}

type rigSource struct {
	tp      *testPublisher
	sending bool
	gop, n  int
}

func newFailoverRig(t *testing.T, o SourcesOptions) *failoverRig {
	t.Helper()
	reg := NewRegistry(RegistryOptions{Grace: time.Minute, RingSize: 4096})
	s, err := reg.Add("concert", "camera-key")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := reg.SetSources("concert", o); err != nil {
		t.Fatal(err)
	}
	rig := &failoverRig{t: t, s: s, now: time.Unix(1_000_000, 0), sources: map[string]*rigSource{}}
	s.clock = func() time.Time { return rig.now }
	return rig
}

// connect publishes a source with its own picture size and keyframe interval.
func (rig *failoverRig) connect(name string, sps []byte, gop int) *rigSource {
	rig.t.Helper()
	p, err := rig.s.PublishSource(name, SourceInfo{Protocol: "srt", RemoteAddr: "192.0.2.9:1"})
	if err != nil {
		rig.t.Fatal(err)
	}
	tp := &testPublisher{t: rig.t, p: p}
	if tp.video, err = p.SetTrack(h264Track(rig.t, sps)); err != nil {
		rig.t.Fatal(err)
	}
	if tp.audio, err = p.SetTrack(aacTrack(rig.t)); err != nil {
		rig.t.Fatal(err)
	}
	src := &rigSource{tp: tp, sending: true, gop: gop}
	rig.sources[name] = src
	return src
}

// run ticks for d.
func (rig *failoverRig) run(d time.Duration) {
	rig.t.Helper()
	for end := rig.now.Add(d); rig.now.Before(end); {
		rig.now = rig.now.Add(videoStep)
		for _, name := range []string{"camera", "phone", "ipcam"} {
			src := rig.sources[name]
			if src == nil || !src.sending {
				continue
			}
			dts := time.Duration(src.n) * videoStep
			src.tp.v(dts, src.n%src.gop == 0)
			src.tp.a(dts + time.Millisecond)
			src.n++
		}
	}
}

// onAir checks which source is on air, and returns the frames the reader got meanwhile.
func (rig *failoverRig) onAir(want string) []*Frame {
	rig.t.Helper()
	if got, _ := rig.s.OnAir(); got != want {
		rig.t.Fatalf("on air: %q, want %q", got, want)
	}
	if rig.r == nil {
		r, err := rig.s.Subscribe(ReaderOptions{})
		if err != nil {
			rig.t.Fatal(err)
		}
		rig.t.Cleanup(r.Close)
		rig.r = r
	}
	return readAll(rig.t, rig.r)
}

// only checks that every video frame comes from the source whose track is tr, and returns
// the first one.
func only(t *testing.T, fs []*Frame, tr *Track, what string) *Frame {
	t.Helper()
	var first *Frame
	for _, f := range fs {
		if f.Track.Kind() != Video {
			continue
		}
		if f.Track != tr {
			t.Fatalf("%s: frame %s is not from the expected source", what, describe(f))
		}
		if first == nil {
			first = f
		}
	}
	if first == nil {
		t.Fatalf("%s: no video frame", what)
	}
	return first
}

// switchedAt checks that the switch to a source is at its keyframe, carrying its
// parameter sets in band.
func switchedAt(t *testing.T, f *Frame, what string) {
	t.Helper()
	if !f.Key {
		t.Errorf("%s: the first frame of the new source is not a keyframe: %s", what, describe(f))
	}
	if len(f.Units) < 3 || !bytes.Equal(f.Units[0], f.Track.SPS) {
		t.Errorf("%s: the new source's keyframe does not carry its SPS/PPS in band", what)
	}
}

func sourceState(t *testing.T, s *Stream, name string) string {
	t.Helper()
	for _, st := range s.Sources() {
		if st.Name == name {
			return st.State
		}
	}
	t.Fatalf("no source %q in %+v", name, s.Sources())
	return ""
}

// TestFailover: the camera stops sending; after the failover delay the phone takes over at
// once from the GOP it kept, on the same timeline; the camera sends again, and is back on air
// at its next keyframe once it has been sending for the failback delay.
func TestFailover(t *testing.T) {
	rig := newFailoverRig(t, SourcesOptions{
		Primary: "camera", Backups: []SourceSpec{{Name: "phone", PublishKey: "phone-key"}},
		FailoverAfter: 1500 * time.Millisecond, FailbackAfter: 3 * time.Second,
	})
	camera := rig.connect("camera", testutil.SPS720(), 30)
	phone := rig.connect("phone", testutil.SPS360(), 30)
	rig.run(2 * time.Second)
	before := rig.onAir("camera")
	only(t, before, camera.tp.video, "both sending")
	if st := sourceState(t, rig.s, "phone"); st != "standby" {
		t.Errorf("phone while the camera is on air: %q, want standby", st)
	}

	camera.sending = false
	rig.run(1400 * time.Millisecond)
	if read := rig.onAir("camera"); len(read) > 0 { // not yet: within the failover delay
		t.Fatalf("frames on air while the camera sends nothing, within the failover delay: %s", describe(read[0]))
	}
	rig.run(200 * time.Millisecond)
	if st := sourceState(t, rig.s, "camera"); st != "stalled" {
		t.Errorf("camera after it stopped: %q, want stalled", st)
	}
	onPhone := rig.onAir("phone")
	first := only(t, onPhone, phone.tp.video, "after the failover")
	switchedAt(t, first, "failover")
	all := append(before, onPhone...)
	checkIncreasing(t, all)
	var lastCam time.Duration
	for _, f := range before {
		if f.Track.Kind() == Video {
			lastCam = f.DTS
		}
	}
	// The phone's kept GOP is replayed: its keyframe follows the camera's last picture by at
	// most the failover delay (the time the picture was frozen), not by a GOP more.
	if gap := first.DTS - lastCam; gap <= 0 || gap > 1600*time.Millisecond {
		t.Errorf("the phone's first picture is %v after the camera's last, want within the failover delay", gap)
	}
	if st, _ := rig.s.State(); st != Live {
		t.Errorf("state after the failover: %v, want live", st)
	}

	camera.sending = true
	rig.run(2500 * time.Millisecond)
	only(t, rig.onAir("phone"), phone.tp.video, "camera back, within the failback delay")
	rig.run(1500 * time.Millisecond) // the failback delay passes, then the camera's keyframe
	back := rig.onAir("camera")
	var firstCam *Frame
	for _, f := range back {
		if f.Track == camera.tp.video {
			firstCam = f
			break
		}
		if f.Track.Kind() == Video && f.Track != phone.tp.video {
			t.Fatalf("unexpected frame %s", describe(f))
		}
	}
	if firstCam == nil {
		t.Fatal("no camera frame after the failback")
	}
	switchedAt(t, firstCam, "failback")
	all = append(all, back...)
	checkIncreasing(t, all)

	periods := rig.s.OnAirPeriods()
	var names []string
	for _, p := range periods {
		names = append(names, p.Source)
	}
	if len(names) != 3 || names[0] != "camera" || names[1] != "phone" || names[2] != "camera" {
		t.Fatalf("on-air periods %v, want camera, phone, camera", names)
	}
	if !periods[2].To.IsZero() || periods[0].To.IsZero() || !periods[1].From.Equal(periods[0].To) {
		t.Errorf("on-air periods not contiguous: %+v", periods)
	}
}

// TestFailoverOnDisconnect: the source on air leaving hands over to the next one sending at
// once (the stream stays live, no grace); the last one leaving starts the grace.
func TestFailoverOnDisconnect(t *testing.T) {
	rig := newFailoverRig(t, SourcesOptions{
		Backups: []SourceSpec{{Name: "phone", PublishKey: "phone-key"}, {Name: "ipcam"}},
	})
	rig.sources["camera"] = rig.connect("", testutil.SPS720(), 30) // "" is the primary
	ipcam := rig.connect("ipcam", testutil.SPS360(), 15)
	rig.run(time.Second)
	rig.onAir(DefaultPrimarySource)

	_, changed := rig.s.State()
	rig.sources["camera"].tp.p.Close()
	delete(rig.sources, "camera")
	if st, _ := rig.s.State(); st != Live {
		t.Fatalf("state after the primary left with a backup sending: %v, want live", st)
	}
	if !isClosed(changed) {
		t.Error("the switch was not signalled as a change")
	}
	rig.run(time.Second)
	switchedAt(t, only(t, rig.onAir("ipcam"), ipcam.tp.video, "after the primary left"), "disconnect")

	ipcam.tp.p.Close()
	delete(rig.sources, "ipcam")
	if st, _ := rig.s.State(); st != Reconnecting {
		t.Fatalf("state with no source left: %v, want reconnecting (the standby picture, the grace)", st)
	}
	rig.onAir("")
	if in := rig.s.Info(); in.OnAir != "" || len(in.Sources) != 3 || in.Sources[2].State != "offline" {
		t.Errorf("Info with no source left: on air %q, sources %+v", in.OnAir, in.Sources)
	}
}

// TestManualSource: the operator's choice goes on air at its next keyframe and holds while
// the primary sends; it ends when the chosen source stops, or back to automatic.
func TestManualSource(t *testing.T) {
	rig := newFailoverRig(t, SourcesOptions{
		Primary: "camera", Backups: []SourceSpec{{Name: "phone", PublishKey: "phone-key"}},
		FailbackAfter: time.Second,
	})
	camera := rig.connect("camera", testutil.SPS720(), 30)
	rig.run(time.Second)
	rig.onAir("camera")
	if err := rig.s.SetManualSource("phone"); !errors.Is(err, ErrSourceNotLive) {
		t.Errorf("choosing a source not connected: %v, want ErrSourceNotLive", err)
	}
	if err := rig.s.SetManualSource("drone"); !errors.Is(err, ErrNoSource) {
		t.Errorf("choosing an unknown source: %v, want ErrNoSource", err)
	}
	phone := rig.connect("phone", testutil.SPS360(), 20)
	rig.run(500 * time.Millisecond)
	if err := rig.s.SetManualSource("phone"); err != nil {
		t.Fatal(err)
	}
	// The camera stays on air until the phone's next keyframe.
	rig.run(videoStep)
	rig.onAir("camera")
	rig.run(700 * time.Millisecond)
	switchedAt(t, firstOf(t, rig.onAir("phone"), phone.tp.video), "manual")
	rig.run(3 * time.Second) // longer than the failback delay: the choice holds
	only(t, rig.onAir("phone"), phone.tp.video, "manual choice")
	if _, manual := rig.s.OnAir(); manual != "phone" {
		t.Errorf("manual choice %q, want phone", manual)
	}

	if err := rig.s.SetManualSource(""); err != nil {
		t.Fatal(err)
	}
	rig.run(1100 * time.Millisecond)
	switchedAt(t, firstOf(t, rig.onAir("camera"), camera.tp.video), "automatic again")

	if err := rig.s.SetManualSource("phone"); err != nil {
		t.Fatal(err)
	}
	rig.run(time.Second)
	rig.onAir("phone")
	phone.sending = false
	rig.run(1600 * time.Millisecond)
	rig.onAir("camera")
	if _, manual := rig.s.OnAir(); manual != "" {
		t.Errorf("manual choice %q after the chosen source stopped, want automatic", manual)
	}
}

// firstOf returns the first video frame of track tr in fs.
func firstOf(t *testing.T, fs []*Frame, tr *Track) *Frame {
	t.Helper()
	for _, f := range fs {
		if f.Track == tr {
			return f
		}
	}
	t.Fatal("no frame of the expected source")
	return nil
}

// TestSourceKeys: each source's key publishes to its source; keys are unique across the
// registry's streams and sources.
func TestSourceKeys(t *testing.T) {
	reg := NewRegistry(RegistryOptions{})
	if _, err := reg.Add("concert", "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add("council", "k2"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    SourcesOptions
		want string
	}{
		{SourcesOptions{Backups: []SourceSpec{{Name: "phone", PublishKey: "k2"}}}, `stream "concert": source "phone": publish key already used by another stream`},
		{SourcesOptions{Backups: []SourceSpec{{Name: "phone", PublishKey: "k1"}}}, `stream "concert": source "phone": publish key is the stream's own key`},
		{SourcesOptions{Backups: []SourceSpec{{Name: "a", PublishKey: "x"}, {Name: "b", PublishKey: "x"}}}, `stream "concert": sources "a" and "b" have the same publish key`},
		{SourcesOptions{Backups: []SourceSpec{{Name: "primary", PublishKey: "x"}}}, `stream "concert": two sources are named "primary"`},
		{SourcesOptions{Backups: []SourceSpec{{PublishKey: "x"}}}, `stream "concert": a source has no name`},
	} {
		if err := reg.SetSources("concert", c.o); err == nil || err.Error() != c.want {
			t.Errorf("SetSources(%+v): %v, want %q", c.o.Backups, err, c.want)
		}
	}
	if err := reg.SetSources("concert", SourcesOptions{Backups: []SourceSpec{{Name: "phone", PublishKey: "k3"}}}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"k1": "", "k3": "phone"} {
		st, name := reg.AuthenticateSource(key)
		if st == nil || st.Name() != "concert" || name != want {
			t.Errorf("AuthenticateSource(%s) = %v, %q; want concert, %q", key, st, name, want)
		}
	}
	if st, _ := reg.AuthenticateSource("k4"); st != nil {
		t.Errorf("AuthenticateSource(unknown key) = %s", st.Name())
	}
	if reg.Authenticate("k3") != nil {
		t.Error("Authenticate (the primary's key) accepted a backup's key")
	}
	if _, err := reg.Add("gig", "k3"); err == nil {
		t.Error("a new stream took a backup source's key")
	}
	if err := reg.SetKey("concert", "k3"); err == nil {
		t.Error("the stream's key was set to its backup's")
	}
	if _, err := reg.Get("concert").PublishSource("drone", SourceInfo{}); !errors.Is(err, ErrNoSource) {
		t.Errorf("PublishSource(unknown): %v, want ErrNoSource", err)
	}
}

// TestTrackStepBack: a publisher whose first audio frames are older than its first picture
// (an encoder that sends its buffered audio after the keyframe) lands after the previous
// publisher's audio; its whole timeline moves on once, so its audio keeps its own spacing
// instead of being squashed a millisecond apart.
func TestTrackStepBack(t *testing.T) {
	s := newTestStream(t, time.Minute)
	s.ring = make([]*Frame, 256)
	s.mask = 255
	tp := publish(t, s, true, true)
	writeScript(tp, "KaPaPaPa")
	r, err := s.Subscribe(ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	readAll(t, r)
	tp.p.Close()
	tp2 := publish(t, s, true, true)
	tp2.v(time.Second, true)
	for i := range 20 {
		tp2.a(500*time.Millisecond + time.Duration(i)*audioStep)
	}
	got := readAll(t, r)
	checkIncreasing(t, got)
	var prev time.Duration
	for i, f := range got[1:] {
		if i > 0 && f.DTS-prev < audioStep-time.Millisecond {
			t.Fatalf("audio frame %d is %v after the previous one, want its own spacing %v", i, f.DTS-prev, audioStep)
		}
		prev = f.DTS
	}
}

// TestPrimaryStarting: a primary that connected and has not sent yet (ingest analysing its
// tracks) keeps the air for the failover delay against a backup already sending.
func TestPrimaryStarting(t *testing.T) {
	rig := newFailoverRig(t, SourcesOptions{
		Primary: "camera", Backups: []SourceSpec{{Name: "phone", PublishKey: "phone-key"}},
	})
	camera := rig.connect("camera", testutil.SPS720(), 30)
	camera.sending = false
	rig.connect("phone", testutil.SPS360(), 30)
	rig.run(time.Second)
	rig.onAir("camera")
	camera.sending = true
	rig.run(time.Second)
	only(t, rig.onAir("camera"), camera.tp.video, "the camera started")

	rig2 := newFailoverRig(t, SourcesOptions{
		Primary: "camera", Backups: []SourceSpec{{Name: "phone", PublishKey: "phone-key"}},
	})
	rig2.connect("camera", testutil.SPS720(), 30).sending = false
	rig2.connect("phone", testutil.SPS360(), 30)
	rig2.run(1600 * time.Millisecond)
	rig2.onAir("phone") // the camera never sent: the phone after the failover delay
}
