package record

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/beffroi/beffroi/relay"
)

// gapLimit: when the stream's timestamps step further than this with no frame of any track
// in between (the publisher was away within the reconnect grace, or the recorder fell behind
// the ring and skipped to the newest keyframe), the segment is closed and the next one starts
// after an EXT-X-DISCONTINUITY, so that the gap is not counted as media. One track alone going
// quiet (a browser's camera sending a frame a second while it ramps up, audio going on) is
// no gap: its last frame lasts until the next.
const gapLimit = time.Second

// cutSlack is the part of the target duration a keyframe may come early and still cut the
// segment: timestamps rounded down (2 s at 30 fps is 1.99999998 s in nanoseconds), jitter,
// or a keyframe moved by the relay's timeline must not make a segment one keyframe interval
// longer.
const cutSlack = 10 // percent

// maxSegment: a segment is cut at this many times the target duration even without a
// keyframe (an encoder that sends none would otherwise grow one segment in memory).
const maxSegment = 10

// Track IDs in the init segments.
const (
	videoID = 1
	audioID = 2
)

// frameSource is what a session reads: a relay.Reader.
type frameSource interface {
	Next(ctx context.Context) (*relay.Frame, error)
}

var _ frameSource = (*relay.Reader)(nil)

// sessionConfig is what a session needs from its Recorder.
type sessionConfig struct {
	root    string
	stream  *relay.Stream
	target  time.Duration // segment duration
	retry   time.Duration // how often a paused recording tries to write again
	catalog Catalog
	log     *slog.Logger
	status  func(State, string) // reports the state and the recording ID
	now     func() time.Time
	frames  *atomic.Uint64 // counts the frames read, when set
	// beforeWrite is Options.beforeWrite (tests), or nil.
	beforeWrite func(name string) error
	// uploads is Options.Uploads, or nil.
	uploads Uploads
}

// trackWriter accumulates the samples of one track for the segment being built.
type trackWriter struct {
	id      int
	track   *relay.Track
	scale   uint32
	pending *relay.Frame // the newest frame: its duration is known when the next one comes
	samples []*fmp4.Sample
	base    uint64 // decode time of samples[0], in scale units from the recording's origin
	lastDur uint32
	dur     uint64 // sum of the samples' durations
}

// session records one live session of a stream: one recording, possibly with several init
// segments (new codec parameters, a resume after a full disk).
type session struct {
	sessionConfig

	rec    *recording      // nil until the first init segment is written
	tracks [2]*trackWriter // by relay.Kind; nil when not in the current init segment
	seen   [2]*relay.Track // the newest track of each kind met in frames
	origin time.Duration   // stream DTS at the recording's time zero

	started      bool // an init segment is current and media goes into segments
	discont      bool // the next segment follows a gap
	paused       bool
	lastTry      time.Time
	segStart     time.Duration // DTS of the first frame of the main track in the segment
	hasStart     bool
	newest       time.Duration // newest DTS of any recordable frame read
	hasNewest    bool
	unrecordable map[relay.Codec]bool // logged once each
}

func newSession(c sessionConfig) *session {
	if c.now == nil {
		c.now = time.Now
	}
	return &session{sessionConfig: c, unrecordable: map[relay.Codec]bool{}}
}

// run records what src reads until the session ends or ctx is cancelled, then closes the
// recording (state finished).
//
// Stopped by ctx (shutdown, recording switched off), it still records the frames already
// published (relay.Reader.Next returns what is ready before looking at ctx): at shutdown
// ingest stops first, and the recording holds everything the publishers sent. Ending the
// stream instead (relay.Stream.Stop) would drop what the recorder had not read yet.
func (s *session) run(ctx context.Context, src frameSource) {
	for {
		f, err := src.Next(ctx)
		if err != nil {
			break
		}
		s.read(f)
	}
	s.finish()
}

func (s *session) read(f *relay.Frame) {
	s.handle(f)
	if s.frames != nil {
		s.frames.Add(1)
	}
}

// hasVideo reports whether the recording has (or will have) a video track: segments are then
// cut on video keyframes.
func (s *session) hasVideo() bool {
	if t := s.seen[relay.Video]; t != nil {
		return recordable(t)
	}
	t := s.stream.Track(relay.Video)
	return t != nil && recordable(t)
}

// startPoint reports whether a recording (or a segment after a gap) can start at f.
func (s *session) startPoint(f *relay.Frame) bool {
	if f.Track.Kind() == relay.Video {
		return f.Key
	}
	return !s.hasVideo()
}

func (s *session) handle(f *relay.Frame) {
	if f.Standby {
		// The standby picture is not recorded: the source's return after it is a gap, marked
		// with a discontinuity like any other.
		return
	}
	k := f.Track.Kind()
	if !recordable(f.Track) {
		if !s.unrecordable[f.Track.Codec] {
			s.unrecordable[f.Track.Codec] = true
			s.log.Warn("recording without the "+k.String()+" track: its codec cannot be recorded", "codec", string(f.Track.Codec))
		}
		return
	}
	s.seen[k] = f.Track

	if s.paused {
		if !s.startPoint(f) || s.now().Sub(s.lastTry) < s.retry {
			return // media is discarded while the disk is full
		}
		s.lastTry = s.now()
		if err := s.newInit(f); err != nil || !s.resume() {
			return
		}
	}

	if s.started {
		tw := s.tracks[k]
		switch {
		case tw == nil || tw.track != f.Track:
			// New codec parameters (a phone rotating, a publisher back with another encoder) or
			// a track that was not there: a new init segment, at the next start point.
			s.flush(true)
			s.started = false
		case s.hasNewest && f.DTS-s.newest > gapLimit:
			// After a reconnect or a skip the relay hands out a keyframe first, so the
			// segment still starts with one.
			s.flush(true)
			s.discont = true
			s.hasStart = false
		}
	}
	if !s.hasNewest || f.DTS > s.newest {
		s.newest, s.hasNewest = f.DTS, true
	}
	if !s.started {
		if !s.startPoint(f) {
			return
		}
		if s.tracks[k] == nil || s.tracks[k].track != f.Track || s.otherChanged(k) {
			if err := s.newInit(f); err != nil {
				return
			}
		}
		s.started = true
		s.hasStart = false
	}
	tw := s.tracks[k]
	if tw == nil {
		return
	}
	if f.DTS < s.origin {
		return // audio from before the first video keyframe
	}
	if tw.pending != nil {
		s.push(tw, f.DTS)
	}
	if s.mainKind() == k {
		if !s.hasStart {
			s.segStart, s.hasStart = f.DTS, true
		} else if el := f.DTS - s.segStart; (s.startPoint(f) && el >= s.target-s.target*cutSlack/100) || el >= maxSegment*s.target {
			// A source without keyframes for this long is cut anyway: memory stays bounded,
			// and the next segment decodes from the next keyframe.
			s.flush(false)
			s.segStart = f.DTS
		}
	}
	tw.pending = f
}

// otherChanged reports whether the track of the kind other than k changed since the current
// init segment was written.
func (s *session) otherChanged(k relay.Kind) bool {
	o := relay.Audio
	if k == relay.Audio {
		o = relay.Video
	}
	t := s.seen[o]
	if t == nil {
		t = s.stream.Track(o)
	}
	if t != nil && !recordable(t) {
		t = nil
	}
	tw := s.tracks[o]
	if tw == nil {
		return t != nil
	}
	return tw.track != t
}

// mainKind is the track whose time cuts segments: video when there is one.
func (s *session) mainKind() relay.Kind {
	if s.tracks[relay.Video] != nil {
		return relay.Video
	}
	return relay.Audio
}

// ticks converts a stream timestamp to the track's time scale, from the recording's origin.
func (tw *trackWriter) ticks(d, origin time.Duration) uint64 {
	return uint64(relay.DurationToTicks(d-origin, int64(tw.scale)))
}

// push turns the pending frame into a sample lasting until next (a DTS), or lastDur when next
// is negative.
func (s *session) push(tw *trackWriter, next time.Duration) {
	f := tw.pending
	tw.pending = nil
	dts := tw.ticks(f.DTS, s.origin)
	var dur uint32
	if next >= 0 {
		if n := tw.ticks(next, s.origin); n > dts {
			dur = uint32(n - dts)
		}
	} else {
		dur = tw.lastDur
	}
	if dur == 0 {
		dur = max(tw.lastDur, 1)
	}
	tw.lastDur = dur
	payload, err := samplePayload(f)
	if err != nil {
		s.log.Debug("recording: frame skipped", "error", err)
		return
	}
	if len(tw.samples) == 0 {
		tw.base = dts
	}
	pts := tw.ticks(f.PTS, s.origin)
	tw.samples = append(tw.samples, &fmp4.Sample{
		Duration:        dur,
		PTSOffset:       int32(int64(pts) - int64(dts)),
		IsNonSyncSample: f.Track.Kind() == relay.Video && !f.Key,
		Payload:         payload,
	})
	tw.dur += uint64(dur)
}

// newInit writes a new init segment with f's track and the newest track of the other kind,
// creating the recording first if needed. On failure the recording pauses.
func (s *session) newInit(f *relay.Frame) error {
	k := f.Track.Kind()
	var tracks [2]*relay.Track
	tracks[k] = f.Track
	o := relay.Audio
	if k == relay.Audio {
		o = relay.Video
	}
	tracks[o] = s.seen[o]
	if tracks[o] == nil {
		tracks[o] = s.stream.Track(o)
	}
	var init fmp4.Init
	var tws [2]*trackWriter
	for kind, t := range tracks {
		if t == nil || !recordable(t) {
			continue
		}
		var key *relay.Frame
		if t == f.Track {
			key = f
		}
		c, err := fmp4Codec(t, key)
		if err != nil {
			if !s.unrecordable[t.Codec] {
				s.unrecordable[t.Codec] = true
				s.log.Warn("recording without the "+t.Kind().String()+" track", "error", err.Error())
			}
			continue
		}
		id := videoID
		if relay.Kind(kind) == relay.Audio {
			id = audioID
		}
		tw := &trackWriter{id: id, track: t, scale: timeScale(t)}
		if old := s.tracks[kind]; old != nil {
			tw.lastDur = old.lastDur
		}
		tws[kind] = tw
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: id, TimeScale: tw.scale, Codec: c})
	}
	if tws[k] == nil {
		return errNotRecordable // f's own track (AV1 without a sequence header, say)
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		s.log.Error("recording: cannot describe the tracks", "error", err)
		return err
	}
	if s.rec == nil {
		rec, err := createRecording(s.root, s.stream.Name(), s.now())
		if rec != nil {
			rec.beforeWrite = s.beforeWrite
			rec.uploads = s.uploads
			s.rec = rec
			s.origin = f.DTS
			s.log.Info("recording started", "recording", rec.info.ID, "dir", rec.info.Dir)
			s.report()
			s.publish()
		}
		if err != nil {
			s.pause(err)
			return err
		}
	}
	if err := s.rec.writeInit(buf.Bytes()); err != nil {
		s.pause(err)
		return err
	}
	s.tracks = tws
	s.discont = false // a new init segment is itself a discontinuity
	return nil
}

// flush closes the segment being built and writes it. With final, the pending frames are
// included, lasting as long as the frame before them.
func (s *session) flush(final bool) {
	if final {
		for _, tw := range s.tracks {
			if tw != nil && tw.pending != nil {
				s.push(tw, -1)
			}
		}
	}
	var part fmp4.Part
	main := s.tracks[s.mainKind()]
	var dur float64
	if main != nil {
		dur = float64(main.dur) / float64(main.scale)
	}
	for _, tw := range s.tracks {
		if tw == nil || len(tw.samples) == 0 {
			continue
		}
		part.Tracks = append(part.Tracks, &fmp4.PartTrack{ID: tw.id, BaseTime: tw.base, Samples: tw.samples})
	}
	for _, tw := range s.tracks {
		if tw != nil {
			tw.samples, tw.dur = nil, 0
		}
	}
	if len(part.Tracks) == 0 || s.rec == nil || s.paused {
		return
	}
	if dur == 0 {
		// Only the other track had samples (audio before the first video frame's successor).
		for _, pt := range part.Tracks {
			for _, tw := range s.tracks {
				if tw != nil && tw.id == pt.ID {
					var d uint64
					for _, smp := range pt.Samples {
						d += uint64(smp.Duration)
					}
					dur = max(dur, float64(d)/float64(tw.scale))
				}
			}
		}
	}
	part.SequenceNumber = uint32(s.rec.nextSeg)
	var buf seekablebuffer.Buffer
	if err := part.Marshal(&buf); err != nil {
		s.log.Error("recording: cannot build a segment", "error", err)
		return
	}
	discont := s.discont
	s.discont = false
	if err := s.rec.writeSegment(buf.Bytes(), dur, discont); err != nil {
		s.pause(err)
		return
	}
	s.publish()
}

// pause stops writing after a write error: media is discarded until a write works again.
func (s *session) pause(err error) {
	if s.paused { // a retry failed: still paused, said once already
		s.lastTry = s.now()
		s.log.Debug("recording still paused", "error", err.Error())
		return
	}
	s.paused = true
	s.started = false
	s.lastTry = s.now()
	for _, tw := range s.tracks {
		if tw != nil {
			tw.pending, tw.samples, tw.dur = nil, nil, 0
		}
	}
	what := "write error"
	if errors.Is(err, syscall.ENOSPC) {
		what = "disk full"
	}
	id := ""
	if s.rec != nil {
		id = s.rec.info.ID
		s.rec.info.State = Paused
		_ = s.rec.saveInfo() // may fail too: Recover copes
		s.publish()
	}
	s.log.Error(fmt.Sprintf("recording paused: %s; live relaying goes on, recording resumes when writing works again (tried every %s)", what, s.retry),
		"recording", id, "error", err.Error())
	s.report()
}

// resume follows a successful write after a pause; it reports whether recording goes on.
func (s *session) resume() bool {
	s.rec.info.State = Recording
	if err := s.rec.saveInfo(); err != nil {
		s.rec.info.State = Paused
		s.lastTry = s.now()
		return false // still paused
	}
	s.paused = false
	s.log.Info("recording resumed", "recording", s.rec.info.ID)
	s.publish()
	s.report()
	return true
}

// finish writes what is pending and closes the recording.
func (s *session) finish() {
	if s.rec == nil {
		return
	}
	if s.started && !s.paused {
		s.flush(true)
	}
	if err := s.rec.close(Finished, s.now()); err != nil {
		s.log.Error("recording: closing failed; it will be closed at the next start", "recording", s.rec.info.ID, "error", err.Error())
	} else {
		s.log.Info("recording finished", "recording", s.rec.info.ID,
			"duration", time.Duration(s.rec.info.Duration*float64(time.Second)).Round(time.Millisecond).String(),
			"segments", s.rec.info.Segments, "bytes", s.rec.info.Size)
	}
	s.publish()
}

// publish tells the catalogue about the recording's current Info.
func (s *session) publish() {
	if s.catalog != nil && s.rec != nil {
		s.catalog.Recorded(s.rec.info)
	}
}

func (s *session) report() {
	if s.status == nil {
		return
	}
	id := ""
	if s.rec != nil {
		id = s.rec.info.ID
	}
	st := Recording
	if s.paused {
		st = Paused
	}
	s.status(st, id)
}

// recording is one recording's directory and what has been written to it.
type recording struct {
	info     Info
	segs     []segment
	nextInit int
	nextSeg  int
	curInit  string
	newInit  bool // the next segment is the first with curInit
	// beforeWrite is Options.beforeWrite (tests), or nil.
	beforeWrite func(name string) error
	// uploads is told of each file once durable, and of the close; nil when not set.
	uploads Uploads
}

// idTime is the time part of recording IDs: sortable, URL-safe.
const idTime = "20060102T150405Z"

// createRecording makes the directory of a new recording, named <stream>-<UTC time>, with a
// suffix (-2, -3, ...) when that name is taken: nothing is ever overwritten.
func createRecording(root, stream string, now time.Time) (*recording, error) {
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, err
	}
	base := stream + "-" + now.UTC().Format(idTime)
	id := base
	for n := 2; ; n++ {
		err := os.Mkdir(filepath.Join(root, id), 0o750)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || n > 1000 {
			return nil, err
		}
		id = fmt.Sprintf("%s-%d", base, n)
	}
	r := &recording{
		info:     Info{ID: id, Stream: stream, Started: now.UTC(), State: Recording, Dir: filepath.Join(root, id)},
		nextInit: 1, nextSeg: 1,
	}
	if err := syncDir(root); err != nil {
		return r, err
	}
	if err := r.writePlaylist(false); err != nil {
		return r, err
	}
	return r, r.saveInfo()
}

func (r *recording) saveInfo() error { return WriteInfo(r.info) }

// writeFile writes a new file of the recording (see writeNew).
func (r *recording) writeFile(name string, data []byte) (int64, error) {
	if r.beforeWrite != nil {
		if err := r.beforeWrite(name); err != nil {
			return 0, err
		}
	}
	return writeNew(r.info.Dir, name, data)
}

func (r *recording) writeInit(data []byte) error {
	name := fmt.Sprintf("init-%d.mp4", r.nextInit)
	r.nextInit++ // a failed attempt's number is not reused
	n, err := r.writeFile(name, data)
	if err != nil {
		return err
	}
	r.info.Size += n
	r.curInit, r.newInit = name, true
	r.closed(name)
	return nil
}

// closed tells the uploads of a file now durable.
func (r *recording) closed(name string) {
	if r.uploads != nil {
		r.uploads.FileClosed(r.info.Dir, name)
	}
}

func (r *recording) writeSegment(data []byte, dur float64, discont bool) error {
	name := fmt.Sprintf("seg-%d.m4s", r.nextSeg)
	r.nextSeg++
	n, err := r.writeFile(name, data)
	if err != nil {
		return err
	}
	// The segment is complete and durable: it is part of the recording from now on, even if
	// the playlist cannot be written this time (the next playlist lists it).
	r.segs = append(r.segs, segment{URI: name, Duration: dur, Size: n, Init: r.curInit, Discontinuity: discont && !r.newInit})
	r.newInit = false
	r.info.Size += n
	r.info.Segments = len(r.segs)
	r.info.Duration += dur
	r.closed(name)
	if err := r.writePlaylist(false); err != nil {
		return err
	}
	return r.saveInfo()
}

func (r *recording) writePlaylist(closed bool) error {
	b, err := encodePlaylist(r.segs, closed)
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(r.info.Dir, PlaylistFile), b)
}

// close writes the final playlist (VOD, ENDLIST) and Info.
func (r *recording) close(st State, now time.Time) error {
	r.info.State = st
	r.info.Ended = now.UTC()
	if err := r.writePlaylist(true); err != nil {
		return err
	}
	if err := r.saveInfo(); err != nil {
		return err
	}
	if r.uploads != nil {
		r.uploads.RecordingClosed(r.info.Dir)
	}
	return nil
}
