package record

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// catalog records what a Recorder tells its Catalog.
type catalog struct {
	mu    sync.Mutex
	calls []Info
}

func (c *catalog) Recorded(in Info) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, in)
}

func (c *catalog) last(id string) (Info, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.calls) - 1; i >= 0; i-- {
		if c.calls[i].ID == id {
			return c.calls[i], true
		}
	}
	return Info{}, false
}

// rig is a registry with one stream "event" and a Recorder running on it.
type rig struct {
	t    *testing.T
	reg  *relay.Registry
	st   *relay.Stream
	rec  *Recorder
	cat  *catalog
	root string
	stop func()
	sent atomic.Uint64 // frames published by the test's sources
	logs *testutil.LogBuffer
}

func newRig(t *testing.T, grace time.Duration) *rig {
	t.Helper()
	return newRigRing(t, grace, 8192)
}

// newRigRing is newRig with a ring of ring frames.
func newRigRing(t *testing.T, grace time.Duration, ring int) *rig {
	t.Helper()
	return newRigWrites(t, grace, ring, nil)
}

// newRigWrites is newRigRing with a hook called before each segment is written (a full or
// slow disk).
func newRigWrites(t *testing.T, grace time.Duration, ring int, beforeWrite func(name string) error) *rig {
	t.Helper()
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: grace, RingSize: ring})
	st, err := reg.Add("event", "event-publish-key")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	cat := &catalog{}
	logs := &testutil.LogBuffer{}
	rec := New(reg, Options{Root: root, SegmentDuration: 2 * time.Second, RetryInterval: 50 * time.Millisecond, Catalog: cat, Logger: logs.Logger(),
		beforeWrite: beforeWrite})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = rec.Run(ctx)
	}()
	r := &rig{t: t, reg: reg, st: st, rec: rec, cat: cat, root: root, logs: logs}
	r.stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(r.stop)
	return r
}

// source publishes synthetic H.264 (30 fps, a keyframe every second) and AAC frames on a
// timeline of its own, as an encoder would.
type source struct {
	t          *testing.T
	pub        *relay.Publisher
	video      *relay.Track
	audio      *relay.Track
	nv, na     int
	keyEvery   int
	videoBytes int
	rec        *Recorder
	sent       *atomic.Uint64
	first      time.Duration // stream timestamp of the first frame published
}

// drain waits until the recorder has read every frame published so far: the relay ends a
// session at once, without the frames a reader has not read yet.
func (s *source) drain() {
	s.t.Helper()
	testutil.WaitFor(s.t, "the recorder to read every frame", func() bool { return s.rec.frames.Load() >= s.sent.Load() })
}

func (r *rig) publish(sps []byte, withVideo, withAudio bool) *source {
	r.t.Helper()
	s := &source{t: r.t, pub: r.st.Publish(relay.SourceInfo{Protocol: "test"}), keyEvery: 30, videoBytes: 3000, rec: r.rec, sent: &r.sent}
	if withVideo {
		v, err := relay.NewH264Track(sps, testutil.PPS())
		if err != nil {
			r.t.Fatal(err)
		}
		if s.video, err = s.pub.SetTrack(v); err != nil {
			r.t.Fatal(err)
		}
	}
	if withAudio {
		a, err := relay.NewAACTrack(testutil.ASC())
		if err != nil {
			r.t.Fatal(err)
		}
		if s.audio, err = s.pub.SetTrack(a); err != nil {
			r.t.Fatal(err)
		}
	}
	if r.rec.Status("event").State != "off" {
		testutil.WaitFor(r.t, "the recorder to subscribe", func() bool { return r.st.Info().Readers == 1 })
	}
	return s
}

// run publishes d of media, interleaved by timestamp.
func (s *source) run(d time.Duration) {
	s.t.Helper()
	vts := func(n int) time.Duration { return time.Duration(n) * time.Second / 30 }
	ats := func(n int) time.Duration { return time.Duration(n) * 1024 * time.Second / 48000 }
	end := max(vts(s.nv), ats(s.na)) + d
	for {
		vd, ad := vts(s.nv), ats(s.na)
		if s.video == nil {
			vd = end
		}
		if s.audio == nil {
			ad = end
		}
		if vd >= end && ad >= end {
			return
		}
		var f *relay.Frame
		if vd <= ad {
			key := s.nv%s.keyEvery == 0
			typ := byte(1)
			if key {
				typ = 5
			}
			nalu := make([]byte, s.videoBytes)
			nalu[0] = typ
			f = &relay.Frame{Track: s.video, DTS: vd, PTS: vd, Key: key, Units: [][]byte{nalu}}
			s.nv++
		} else {
			f = &relay.Frame{Track: s.audio, DTS: ad, PTS: ad, Key: true, Units: [][]byte{make([]byte, 300)}}
			s.na++
		}
		if err := s.pub.WriteFrame(f); err != nil {
			s.t.Fatal(err)
		}
		if s.nv+s.na == 1 {
			s.first = f.DTS // now on the stream's timeline
		}
		s.sent.Add(1)
	}
}

// waitFinished waits until n recordings exist and none is in progress.
func (r *rig) waitFinished(n int) []Info {
	r.t.Helper()
	var l []Info
	testutil.WaitFor(r.t, "the recordings to be finished", func() bool {
		l = nil
		entries, _ := os.ReadDir(r.root)
		for _, e := range entries {
			in, err := ReadInfo(filepath.Join(r.root, e.Name()))
			if err != nil || in.State != Finished {
				return false
			}
			l = append(l, in)
		}
		return len(l) == n
	})
	return l
}

// checked is what checkRecording found in a recording.
type checked struct {
	playlist string
	inits    []string
	segments int
	duration float64 // sum of EXTINF
	// per track: first decode time and the end of the last sample, in seconds
	videoStart, videoEnd float64
	audioStart, audioEnd float64
	videoSamples         int
	audioSamples         int
}

// checkRecording parses every file of a recording: the playlist is VOD with ENDLIST, every
// segment decodes as fMP4 with the tracks of its init segment, each track's decode times
// continue exactly from one segment to the next (except across a discontinuity), and every
// segment starts with a keyframe.
func checkRecording(t *testing.T, in Info) checked {
	t.Helper()
	var c checked
	b, err := os.ReadFile(filepath.Join(in.Dir, PlaylistFile))
	if err != nil {
		t.Fatal(err)
	}
	c.playlist = string(b)
	for _, want := range []string{"#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-ENDLIST"} {
		if !strings.Contains(c.playlist, want) {
			t.Errorf("playlist without %s:\n%s", want, c.playlist)
		}
	}
	segs, closed, err := readPlaylist(in.Dir)
	if err != nil || !closed {
		t.Fatalf("readPlaylist: %v, closed=%v", err, closed)
	}
	scales := map[int]uint32{}
	next := map[int]uint64{}
	curInit := ""
	first := true
	for i, s := range segs {
		if s.Init != curInit {
			curInit = s.Init
			c.inits = append(c.inits, s.Init)
			ib, err := os.ReadFile(filepath.Join(in.Dir, s.Init))
			if err != nil {
				t.Fatal(err)
			}
			var init fmp4.Init
			if err := init.Unmarshal(bytes.NewReader(ib)); err != nil {
				t.Fatalf("%s: %v", s.Init, err)
			}
			scales = map[int]uint32{}
			for _, tr := range init.Tracks {
				scales[tr.ID] = tr.TimeScale
			}
		}
		sb, err := os.ReadFile(filepath.Join(in.Dir, s.URI))
		if err != nil {
			t.Fatal(err)
		}
		var parts fmp4.Parts
		if err := parts.Unmarshal(sb); err != nil {
			t.Fatalf("%s: %v", s.URI, err)
		}
		c.segments++
		c.duration += s.Duration
		for _, p := range parts {
			for _, pt := range p.Tracks {
				scale, ok := scales[pt.ID]
				if !ok {
					t.Fatalf("%s: track %d is not in %s", s.URI, pt.ID, s.Init)
				}
				if want, ok := next[pt.ID]; ok && !s.Discontinuity && s.Init == segs[max(i-1, 0)].Init && pt.BaseTime != want {
					t.Errorf("%s: track %d starts at %d, the previous segment ended at %d", s.URI, pt.ID, pt.BaseTime, want)
				}
				end := pt.BaseTime
				for _, smp := range pt.Samples {
					end += uint64(smp.Duration)
				}
				next[pt.ID] = end
				startS, endS := float64(pt.BaseTime)/float64(scale), float64(end)/float64(scale)
				if pt.ID == videoID {
					if pt.Samples[0].IsNonSyncSample {
						t.Errorf("%s: starts with a video frame that is not a keyframe", s.URI)
					}
					if first || startS < c.videoStart {
						c.videoStart = startS
					}
					c.videoEnd = endS
					c.videoSamples += len(pt.Samples)
				} else {
					if c.audioSamples == 0 {
						c.audioStart = startS
					}
					c.audioEnd = endS
					c.audioSamples += len(pt.Samples)
				}
			}
		}
		first = false
	}
	if c.segments != in.Segments {
		t.Errorf("recording.json: %d segments, the playlist lists %d", in.Segments, c.segments)
	}
	if math.Abs(c.duration-in.Duration) > 0.01 {
		t.Errorf("recording.json: duration %.3f, the playlist sums to %.3f", in.Duration, c.duration)
	}
	return c
}

func TestRecordsOneSession(t *testing.T) {
	r := newRig(t, 0)
	src := r.publish(testutil.SPS720(), true, true)
	src.run(10 * time.Second)
	testutil.WaitFor(t, "the recorder to report recording", func() bool { return r.rec.Status("event").State == "recording" })
	id := r.rec.Status("event").Recording
	if !strings.HasPrefix(id, "event-") {
		t.Errorf("recording ID %q", id)
	}
	src.drain()
	src.pub.Close() // no grace: the session ends
	l := r.waitFinished(1)
	in := l[0]
	if in.ID != id || in.Stream != "event" || in.Ended.IsZero() {
		t.Errorf("recording.json: %+v", in)
	}
	c := checkRecording(t, in)
	t.Logf("%d segments, %.3f s; video %.3f-%.3f s (%d), audio %.3f-%.3f s (%d)\n%s", c.segments, c.duration,
		c.videoStart, c.videoEnd, c.videoSamples, c.audioStart, c.audioEnd, c.audioSamples, c.playlist)
	if c.segments != 5 {
		t.Errorf("%d segments for 10 s cut every 2 s, want 5", c.segments)
	}
	if c.videoSamples != src.nv {
		t.Errorf("%d video samples, want the %d published", c.videoSamples, src.nv)
	}
	if math.Abs(c.duration-10) > 0.05 {
		t.Errorf("duration %.3f s, want 10 s", c.duration)
	}
	if len(c.inits) != 1 || strings.Contains(c.playlist, "DISCONTINUITY") {
		t.Errorf("one init segment and no discontinuity expected:\n%s", c.playlist)
	}
	var size int64
	files, _ := os.ReadDir(in.Dir)
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".m4s") || strings.HasSuffix(f.Name(), ".mp4") {
			fi, _ := f.Info()
			size += fi.Size()
		}
		if isTemp(f.Name()) {
			t.Errorf("temporary file left: %s", f.Name())
		}
	}
	if size != in.Size {
		t.Errorf("recording.json size %d, files hold %d", in.Size, size)
	}
	if got, ok := r.cat.last(id); !ok || got.State != Finished || got.Segments != 5 {
		t.Errorf("catalogue last told %+v (%v), want the finished recording", got, ok)
	}
	if st := r.rec.Status("event"); st.State != "idle" {
		t.Errorf("status after the session: %+v", st)
	}
	r.stop()
	testutil.NoGoroutines(t, "outputs/record.(*Recorder)", "outputs/record.(*session)")
}

// TestStopRecordsWhatWasPublished: stopping the recorder while the stream is live (shutdown,
// after ingest stopped) first records every frame already published.
func TestStopRecordsWhatWasPublished(t *testing.T) {
	slow := func(string) error { // a slow disk keeps the recorder behind
		time.Sleep(50 * time.Millisecond)
		return nil
	}
	r := newRigWrites(t, time.Hour, 8192, slow)
	src := r.publish(testutil.SPS720(), true, true)
	src.run(10 * time.Second) // at once: the recorder is still far behind
	src.pub.Close()           // the publisher is gone, the stream waits in its grace
	r.stop()
	l, err := Recover(r.root, nil)
	if err != nil || len(l) != 1 {
		t.Fatalf("recordings: %v %+v", err, l)
	}
	if l[0].State != Finished {
		t.Errorf("state %q, want finished", l[0].State)
	}
	if c := checkRecording(t, l[0]); c.videoSamples != src.nv {
		t.Errorf("%d video samples recorded, %d published", c.videoSamples, src.nv)
	}
}

// TestStreamRemovedWhileLive: a stream removed from the registry while live closes its
// recording (finished).
func TestStreamRemovedWhileLive(t *testing.T) {
	r := newRig(t, time.Hour)
	src := r.publish(testutil.SPS720(), true, true)
	src.run(3 * time.Second)
	src.drain()
	r.reg.Remove("event")
	in := r.waitFinished(1)[0]
	if c := checkRecording(t, in); c.duration < 2.9 {
		t.Errorf("recorded %.3f s of 3 s", c.duration)
	}
}

func TestNewParametersMakeANewInitSegment(t *testing.T) {
	r := newRig(t, 0)
	src := r.publish(testutil.SPS720(), true, true)
	src.run(4 * time.Second)
	// The phone rotates: new SPS in band, a new track from the same publisher.
	v, err := relay.NewH264Track(testutil.SPS360(), testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	if src.video, err = src.pub.SetTrack(v); err != nil {
		t.Fatal(err)
	}
	src.nv = (src.nv + 29) / 30 * 30 // the encoder starts the new parameters with a keyframe
	src.run(4 * time.Second)
	src.drain()
	src.pub.Close()
	in := r.waitFinished(1)[0]
	c := checkRecording(t, in)
	t.Logf("%s", c.playlist)
	if len(c.inits) != 2 || c.inits[0] != "init-1.mp4" || c.inits[1] != "init-2.mp4" {
		t.Errorf("init segments %v, want init-1.mp4 then init-2.mp4", c.inits)
	}
	if n := strings.Count(c.playlist, "#EXT-X-DISCONTINUITY\n"); n != 1 {
		t.Errorf("%d discontinuities, want 1", n)
	}
	if math.Abs(c.duration-8) > 0.2 {
		t.Errorf("duration %.3f s, want about 8 s", c.duration)
	}
	// The second init describes 640x360.
	ib, _ := os.ReadFile(filepath.Join(in.Dir, "init-2.mp4"))
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(ib)); err != nil {
		t.Fatal(err)
	}
	if h, ok := init.Tracks[0].Codec.(*codecs.H264); !ok || !bytes.Equal(h.SPS, testutil.SPS360()) || len(init.Tracks) != 2 {
		t.Errorf("init-2.mp4 tracks: %+v", init.Tracks)
	}
}

func TestGraceKeepsOneRecording(t *testing.T) {
	r := newRig(t, time.Hour)
	src := r.publish(testutil.SPS720(), true, true)
	src.run(3 * time.Second)
	src.drain()
	src.pub.Close()
	// Back within the grace: the relay moves the new publisher's timestamps past the gap.
	src2 := r.publish(testutil.SPS720(), true, true)
	src2.run(3 * time.Second)
	src2.drain()
	r.st.Stop()
	in := r.waitFinished(1)[0]
	c := checkRecording(t, in)
	t.Logf("%s", c.playlist)
	if len(c.inits) != 1 {
		t.Errorf("init segments %v, want one (same parameters)", c.inits)
	}
	// The relay's timeline follows the wall clock across the gap: a gap shorter than
	// gapLimit is held on the last frame (media); a longer one is a discontinuity.
	want := 6.0
	if step := src2.first - 3*time.Second; step < gapLimit {
		want += (step - time.Second/30).Seconds()
	}
	if math.Abs(c.duration-want) > 0.05 {
		t.Errorf("duration %.3f s, want %.3f s (6 s of media, and the gap if under a second; second publisher at %s)", c.duration, want, src2.first)
	}
	if c.videoSamples != src.nv+src2.nv {
		t.Errorf("%d video samples, want the %d published", c.videoSamples, src.nv+src2.nv)
	}
	// A new session after the grace is a new recording.
	testutil.WaitFor(t, "the recorder to leave the session", func() bool { return r.st.Info().Readers == 0 })
	src3 := r.publish(testutil.SPS720(), true, true)
	src3.run(2 * time.Second)
	src3.drain()
	r.st.Stop()
	l := r.waitFinished(2)
	if l[0].ID == l[1].ID {
		t.Errorf("same ID twice: %v", l)
	}
}

func TestAudioOnlyCutsOnTime(t *testing.T) {
	r := newRig(t, 0)
	src := r.publish(nil, false, true)
	src.run(7 * time.Second)
	src.drain()
	src.pub.Close()
	in := r.waitFinished(1)[0]
	c := checkRecording(t, in)
	if c.segments != 4 || math.Abs(c.duration-7) > 0.05 || c.videoSamples != 0 {
		t.Errorf("audio only: %d segments, %.3f s, %d video samples; want 4, 7 s, 0\n%s", c.segments, c.duration, c.videoSamples, c.playlist)
	}
}

func TestDisabledStreamIsNotRecorded(t *testing.T) {
	r := newRig(t, 0)
	r.rec.SetEnabled("event", false)
	src := r.publish(testutil.SPS720(), true, true)
	src.run(3 * time.Second)
	if st := r.rec.Status("event"); st.State != "off" {
		t.Errorf("status %+v, want off", st)
	}
	// Switched on while live: a recording starts at the next keyframe.
	r.rec.SetEnabled("event", true)
	testutil.WaitFor(t, "the recorder to subscribe", func() bool { return r.st.Info().Readers == 1 })
	before := r.sent.Load()
	src.run(3 * time.Second)
	testutil.WaitFor(t, "the recorder to read", func() bool { return r.rec.frames.Load() >= r.sent.Load()-before })
	src.pub.Close()
	in := r.waitFinished(1)[0]
	c := checkRecording(t, in)
	// From the keyframe before switching on (at most 1 s before) to the end.
	if c.duration < 2.9 || c.duration > 4.1 {
		t.Errorf("recorded %.3f s; 3 s were published after switching on, keyframes every second", c.duration)
	}
}

// TestPauseAndResume: a write fails (the disk is full): the recording pauses, discards media,
// and resumes in the same recording with a new init segment and a discontinuity.
func TestPauseAndResume(t *testing.T) {
	var mu sync.Mutex
	full := false
	diskFull := func(string) error {
		mu.Lock()
		defer mu.Unlock()
		if full {
			return syscall.ENOSPC
		}
		return nil
	}
	setFull := func(v bool) {
		mu.Lock()
		full = v
		mu.Unlock()
	}
	r := newRigWrites(t, 0, 8192, diskFull)
	src := r.publish(testutil.SPS720(), true, true)
	src.run(4 * time.Second)
	testutil.WaitFor(t, "the first segment", func() bool { in, ok := r.cat.last(r.rec.Status("event").Recording); return ok && in.Segments >= 1 })
	setFull(true)
	src.run(4 * time.Second)
	testutil.WaitFor(t, "the recorder to pause", func() bool { return r.rec.Status("event").State == "paused" })
	// Still full: retries fail quietly.
	for range 10 {
		src.run(100 * time.Millisecond)
		time.Sleep(10 * time.Millisecond)
	}
	if st := r.rec.Status("event"); st.State != "paused" {
		t.Errorf("status while the disk is full: %+v", st)
	}
	setFull(false)
	// Media keeps coming; the retry interval is 50 ms of wall-clock time: publish paced.
	for range 40 {
		src.run(100 * time.Millisecond)
		time.Sleep(10 * time.Millisecond)
	}
	testutil.WaitFor(t, "the recorder to resume", func() bool { return r.rec.Status("event").State == "recording" })
	src.run(4 * time.Second)
	src.drain()
	src.pub.Close()
	in := r.waitFinished(1)[0]
	c := checkRecording(t, in)
	t.Logf("%s", c.playlist)
	if len(c.inits) != 2 || !strings.Contains(c.playlist, "#EXT-X-DISCONTINUITY\n") {
		t.Errorf("want a second init segment after a discontinuity:\n%s", c.playlist)
	}
	if c.duration < 5 || c.duration > 12 {
		t.Errorf("duration %.3f s", c.duration)
	}
	if n := strings.Count(r.logs.String(), "recording paused: disk full"); n != 1 {
		t.Errorf("%d log lines about the pause, want 1:\n%s", n, r.logs.String())
	}
	if n := strings.Count(r.logs.String(), "recording resumed"); n != 1 {
		t.Errorf("%d log lines about resuming, want 1", n)
	}
}

// TestSlowDisk: a disk slower than the stream makes the recorder fall behind and skip to the
// newest keyframe, as any relay reader does; the publisher never waits for it, and the
// recording goes on after a discontinuity, every segment starting with a keyframe.
func TestSlowDisk(t *testing.T) {
	slow := func(name string) error {
		if strings.HasPrefix(name, "seg-") {
			time.Sleep(300 * time.Millisecond)
		}
		return nil
	}
	r := newRigWrites(t, 0, 128, slow) // a ring of about 1.6 s of media
	src := r.publish(testutil.SPS720(), true, true)
	src.run(20 * time.Second) // at once: WriteFrame never waits for a reader
	testutil.WaitFor(t, "the recorder to reach the newest frame", func() bool {
		return r.rec.frames.Load()+r.rec.Status("event").Skipped >= r.sent.Load()
	})
	skipped := r.rec.Status("event").Skipped
	src.pub.Close()
	in := r.waitFinished(1)[0]
	c := checkRecording(t, in)
	t.Logf("skipped %d of %d frames; recorded %.3f s\n%s", skipped, r.sent.Load(), c.duration, c.playlist)
	if skipped == 0 || !strings.Contains(c.playlist, "#EXT-X-DISCONTINUITY\n") {
		t.Errorf("want frames skipped (%d) and a discontinuity where they were", skipped)
	}
	if st := r.rec.Status("event"); st.Skipped != skipped {
		t.Errorf("skipped frames after the session: %d, want %d (counted since start-up)", st.Skipped, skipped)
	}
}

// TestSparseVideoIsNoGap: a camera sending a frame every 1.5 s (a browser ramping up) while
// the audio goes on is not a gap: no discontinuity, no frame dropped.
func TestSparseVideoIsNoGap(t *testing.T) {
	r := newRig(t, 0)
	src := r.publish(testutil.SPS720(), true, true)
	audio := 0
	for i := range 6 {
		vd := time.Duration(i) * 1500 * time.Millisecond
		nalu := []byte{1, 0, 0}
		if i%2 == 0 {
			nalu[0] = 5
		}
		frames := []*relay.Frame{{Track: src.video, DTS: vd, PTS: vd, Key: i%2 == 0, Units: [][]byte{nalu}}}
		for ; time.Duration(audio)*1024*time.Second/48000 < vd+1500*time.Millisecond; audio++ {
			ad := time.Duration(audio) * 1024 * time.Second / 48000
			frames = append(frames, &relay.Frame{Track: src.audio, DTS: ad, PTS: ad, Key: true, Units: [][]byte{make([]byte, 300)}})
		}
		for _, f := range frames {
			if f.Track == src.audio && f.DTS < vd {
				continue // written with the previous video frame
			}
			if err := src.pub.WriteFrame(f); err != nil {
				t.Fatal(err)
			}
			r.sent.Add(1)
		}
	}
	src.drain()
	src.pub.Close()
	in := r.waitFinished(1)[0]
	c := checkRecording(t, in)
	t.Logf("%s", c.playlist)
	if strings.Contains(c.playlist, "DISCONTINUITY") || c.videoSamples != 6 || c.audioSamples != audio {
		t.Errorf("sparse video: %d video and %d audio samples (want 6 and %d), discontinuity: %v",
			c.videoSamples, c.audioSamples, audio, strings.Contains(c.playlist, "DISCONTINUITY"))
	}
}

// TestNoKeyframesStaysBounded: a source that sends one keyframe and never another is still
// cut into segments (at ten times the target), not held in memory.
func TestNoKeyframesStaysBounded(t *testing.T) {
	r := newRig(t, 0)
	src := r.publish(testutil.SPS720(), true, true)
	src.keyEvery = 1 << 30
	src.run(25 * time.Second)
	src.drain()
	src.pub.Close()
	in := r.waitFinished(1)[0]
	segs, _, err := readPlaylist(in.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 2 || math.Abs(segs[0].Duration-20) > 0.05 || math.Abs(in.Duration-25) > 0.05 {
		t.Errorf("segments %+v (%.3f s), want 20 s then 5 s", segs, in.Duration)
	}
}

func TestRecoverClosesInterruptedRecordings(t *testing.T) {
	root := t.TempDir()
	start := time.Date(2026, 11, 27, 14, 23, 1, 0, time.UTC)
	rec, err := createRecording(root, "concert", start)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.writeInit([]byte("init")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := rec.writeSegment(make([]byte, 1000), 2.002, false); err != nil {
			t.Fatal(err)
		}
	}
	// The crash: a half-written segment and playlist, never renamed.
	_ = os.WriteFile(filepath.Join(rec.info.Dir, ".seg-4.m4s.tmp123"), make([]byte, 10), 0o600)
	_ = os.WriteFile(filepath.Join(rec.info.Dir, "."+PlaylistFile+".tmp456"), []byte("#EXTM3U\n#EXT"), 0o600)
	// A second recording of the same second gets a suffix; a finished one is left as it is.
	rec2, err := createRecording(root, "concert", start)
	if err != nil {
		t.Fatal(err)
	}
	if rec2.info.ID != "concert-20261127T142301Z-2" {
		t.Errorf("second ID %q", rec2.info.ID)
	}
	if err := rec2.close(Finished, start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Not a recording.
	_ = os.Mkdir(filepath.Join(root, "lost+found"), 0o700)

	l, err := Recover(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 {
		t.Fatalf("Recover found %d recordings, want 2: %+v", len(l), l)
	}
	in := l[0]
	last, _ := os.Stat(filepath.Join(in.Dir, "seg-3.m4s"))
	if in.ID != "concert-20261127T142301Z" || in.State != Interrupted || in.Segments != 3 ||
		math.Abs(in.Duration-6.006) > 0.001 || in.Size != 3004 || !in.Ended.Equal(last.ModTime().UTC()) {
		t.Errorf("recovered %+v", in)
	}
	if l[1].State != Finished {
		t.Errorf("the finished recording became %q", l[1].State)
	}
	onDisk, _ := ReadInfo(in.Dir)
	if onDisk.State != Interrupted {
		t.Errorf("recording.json still says %q", onDisk.State)
	}
	b, _ := os.ReadFile(filepath.Join(in.Dir, PlaylistFile))
	if !strings.Contains(string(b), "#EXT-X-PLAYLIST-TYPE:VOD") || !strings.HasSuffix(string(b), "#EXT-X-ENDLIST\n") ||
		strings.Count(string(b), "#EXTINF") != 3 {
		t.Errorf("playlist after Recover:\n%s", b)
	}
	left, _ := filepath.Glob(filepath.Join(in.Dir, ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// Recover again: nothing changes.
	l2, err := Recover(root, nil)
	if err != nil || len(l2) != 2 || l2[0] != l[0] {
		t.Errorf("second Recover: %v %+v", err, l2)
	}
}

func TestPlaylistSeveralInitSegments(t *testing.T) {
	segs := []segment{
		{URI: "seg-1.m4s", Duration: 2, Init: "init-1.mp4"},
		{URI: "seg-2.m4s", Duration: 1.5, Init: "init-1.mp4"},
		{URI: "seg-3.m4s", Duration: 2, Init: "init-2.mp4", Discontinuity: true}, // implied by the new map
		{URI: "seg-4.m4s", Duration: 2, Init: "init-2.mp4", Discontinuity: true},
	}
	b, err := encodePlaylist(segs, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-ALLOW-CACHE:NO\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-TARGETDURATION:2\n" +
		"#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXTINF:2.000,\nseg-1.m4s\n#EXTINF:1.500,\nseg-2.m4s\n" +
		"#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-2.mp4\"\n#EXTINF:2.000,\nseg-3.m4s\n" +
		"#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nseg-4.m4s\n"
	if string(b) != want {
		t.Errorf("playlist:\n%s\nwant:\n%s", b, want)
	}
	dir := t.TempDir()
	if err := WriteFileAtomic(filepath.Join(dir, PlaylistFile), b); err != nil {
		t.Fatal(err)
	}
	got, closed, err := readPlaylist(dir)
	if err != nil || closed {
		t.Fatal(err, closed)
	}
	for i := range segs {
		if got[i] != segs[i] {
			t.Errorf("segment %d read back as %+v, want %+v", i, got[i], segs[i])
		}
	}
}

func TestWriteNewNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeNew(dir, "seg-1.m4s", []byte("first")); err != nil {
		t.Fatal(err)
	}
	if _, err := writeNew(dir, "seg-1.m4s", []byte("second")); err == nil {
		t.Errorf("writing an existing name succeeded")
	}
	b, _ := os.ReadFile(filepath.Join(dir, "seg-1.m4s"))
	if string(b) != "first" {
		t.Errorf("seg-1.m4s holds %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
