package relay

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by streams, publishers and readers.
var (
	// ErrEnded is returned by Reader.Next when the live session the reader joined is over
	// (the publisher left and did not come back within the reconnect grace).
	ErrEnded = errors.New("stream ended")
	// ErrNotLive is returned by Subscribe when the stream has no live session.
	ErrNotLive = errors.New("stream is not live")
	// ErrReplaced is returned by Publisher.WriteFrame once another publisher took over.
	ErrReplaced = errors.New("publisher replaced by a newer connection")
	// ErrNoTrack is returned by Publisher.WriteFrame for a frame without a track set with
	// Publisher.SetTrack.
	ErrNoTrack = errors.New("frame has no track")
	// ErrSourceSending is returned by StandIn while the publisher is sending and the
	// broadcast is not paused: there is nothing to stand in for.
	ErrSourceSending = errors.New("the publisher is sending")
	// ErrNoMedia is returned by StandIn and SetPaused before the live session has media: the
	// stand-in picture takes the source's parameters, unknown until then.
	ErrNoMedia = errors.New("stream has no media yet")
)

// State is where a stream is in its life.
type State int

// Stream states.
const (
	// Idle: no live session.
	Idle State = iota
	// Live: a publisher is sending.
	Live
	// Reconnecting: the publisher went away; readers stay open for the reconnect grace.
	Reconnecting
)

func (s State) String() string {
	switch s {
	case Live:
		return "live"
	case Reconnecting:
		return "reconnecting"
	}
	return "idle"
}

// SourceInfo says where the publisher is.
type SourceInfo struct {
	Protocol   string // "rtmp", "rtmps", ...
	RemoteAddr string
}

// DefaultRingSize is the number of frames a stream keeps for its readers (about 13 s of a
// 30 fps video with AAC audio).
const DefaultRingSize = 1024

// minTimelineStep is the smallest step the timeline takes across a publisher change.
const minTimelineStep = 20 * time.Millisecond

// StreamOptions configures a stream.
type StreamOptions struct {
	// Name is the public slug of the stream.
	Name string
	// PublishKey is the secret a publisher must present.
	PublishKey string
	// Grace is how long readers stay open after the publisher goes away.
	Grace time.Duration
	// RingSize is the number of frames kept for readers; rounded up to a power of two.
	// Zero means DefaultRingSize.
	RingSize int
	// Logger receives the stream's events; nil discards them.
	Logger *slog.Logger
}

// Stream is one event channel: one publisher at a time, any number of readers, one timeline
// that survives the publisher reconnecting within the grace period.
type Stream struct {
	name  string
	key   atomic.Pointer[[]byte] // the publish key; replaced by Registry.SetKey
	grace time.Duration
	log   *slog.Logger

	mu      sync.RWMutex
	ring    []*Frame
	mask    uint64
	next    uint64 // sequence number of the next frame
	base    uint64 // first sequence number of the current session
	lastKey uint64 // sequence number of the newest keyframe (valid when hasKey)
	hasKey  bool
	newest  time.Duration // DTS of the newest frame
	// newestPTS is the latest PTS of any frame: with B-frames it runs ahead of newest, and a
	// new publisher's (or the stand-in's) first picture must be shown after it.
	newestPTS time.Duration

	notify  chan struct{} // closed when a frame arrives or the session ends
	waiters atomic.Bool   // someone holds notify

	changed chan struct{} // closed when the state changes

	state      State
	session    uint64
	graceTimer *time.Timer
	tracks     [numKinds]*Track
	liveSince  time.Time
	source     SourceInfo
	publishes  uint64 // publisher connections in this session
	// standIn writes the standby picture while the source is away or paused (nil when none);
	// paused: the operator put the broadcast on standby, the publisher's frames are dropped
	// and the grace does not run.
	standIn *Publisher
	paused  bool

	// sources are the places a publisher can publish from, by priority: the primary (the
	// stream's own key) first, then the backups (see sources.go). onAir is the one whose
	// frames the readers get (nil when none: idle, or the grace running); pending the one
	// going on air at its next keyframe; manual the one the operator chose (nil: automatic).
	sources                      []*source
	onAir, pending, manual       *source
	failoverAfter, failbackAfter time.Duration
	periods                      []OnAirPeriod // the session's on-air periods

	// timeline
	hasTimeline bool
	lastDTS     [numKinds]time.Duration
	hasLast     [numKinds]bool
	lastWall    time.Time

	stats   [numKinds]trackStats
	readers atomic.Int64

	clock func() time.Time // time.Now; tests move it
}

type trackStats struct {
	frames, bytes      uint64
	winStart           time.Time
	winDTS             time.Duration
	winFrames, winByte uint64
	fps                float64
	bitrate            float64
	lastKeyDTS         time.Duration
	hasKeyDTS          bool
	keyInterval        time.Duration
}

// NewStream returns an idle stream.
func NewStream(o StreamOptions) *Stream {
	size := uint64(o.RingSize)
	if size == 0 {
		size = DefaultRingSize
	}
	p := uint64(1)
	for p < size {
		p <<= 1
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stream{
		name:    o.Name,
		grace:   o.Grace,
		log:     log.With("stream", o.Name),
		ring:    make([]*Frame, p),
		mask:    p - 1,
		notify:  make(chan struct{}),
		changed: make(chan struct{}),
		clock:   time.Now,

		sources:       []*source{{name: DefaultPrimarySource}},
		failoverAfter: DefaultFailoverAfter,
		failbackAfter: DefaultFailbackAfter,
	}
	key := []byte(o.PublishKey)
	s.key.Store(&key)
	return s
}

// Grace returns the stream's reconnect grace.
func (s *Stream) Grace() time.Duration { return s.grace }

// Name returns the stream's public name.
func (s *Stream) Name() string { return s.name }

// CheckKey reports whether key is the stream's publish key, in constant time.
func (s *Stream) CheckKey(key string) bool {
	k := s.key.Load()
	return k != nil && len(*k) > 0 && subtle.ConstantTimeCompare(*k, []byte(key)) == 1
}

// State returns the stream's state and a channel closed at its next change.
func (s *Stream) State() (State, <-chan struct{}) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state, s.changed
}

// HasMedia reports whether the live session has frames: its tracks are then known (ingest
// declares them before the first frame). A change of it is signalled like a state change.
func (s *Stream) HasMedia() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state != Idle && s.hasTimeline
}

// WaitMedia waits until the live session has media (its tracks are then known). It returns
// ErrNotLive when the stream is idle or its session ends first, and ctx's error when ctx ends
// first (a caller's deadline included).
func (s *Stream) WaitMedia(ctx context.Context) error {
	for {
		// The channel first, then the check: media arriving in between still wakes us.
		st, changed := s.State()
		if s.HasMedia() {
			return nil
		}
		if st == Idle {
			return ErrNotLive
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// Track returns the stream's current track of a kind, or nil.
func (s *Stream) Track(k Kind) *Track {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tracks[k]
}

// signalChanged wakes whoever waits on a state change. Called with mu held.
func (s *Stream) signalChanged() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// wakeReaders wakes readers waiting for a frame. Called with mu held.
func (s *Stream) wakeReaders() {
	if s.waiters.Swap(false) {
		close(s.notify)
		s.notify = make(chan struct{})
	}
}

// Publish makes a new publisher the stream's primary source (see PublishSource).
func (s *Stream) Publish(src SourceInfo) *Publisher {
	p, _ := s.PublishSource("", src) // the primary always exists
	return p
}

// PublishSource makes a new publisher one of the stream's sources ("" is the primary). A
// publisher already there for that source is replaced (a phone that changed network leaves
// a half-open connection behind: the newest connection with the right key wins). A
// publisher arriving within the reconnect grace continues the same session and timeline.
// When another source is on air, this one stands by until the failover rules put it on air.
func (s *Stream) PublishSource(name string, info SourceInfo) (*Publisher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.sourceNamed(name)
	if src == nil {
		return nil, fmt.Errorf("stream %q: %w: %q", s.name, ErrNoSource, name)
	}
	now := s.clock()
	p := &Publisher{s: s, from: src, src: info, done: make(chan struct{}), created: now}
	if old := src.pub; old != nil {
		s.log.Warn("publisher replaced by a newer connection", "source", src.name,
			"old", old.src.RemoteAddr, "new", info.RemoteAddr)
		close(old.done)
	}
	src.pub, src.gop = p, nil
	src.lastFrame, src.sendingSince, src.connected = time.Time{}, time.Time{}, now
	switch s.state {
	case Idle:
		s.session++
		s.base = s.next
		s.hasKey = false
		s.hasTimeline = false
		s.newest, s.newestPTS, s.lastWall = 0, 0, time.Time{}
		s.hasLast = [numKinds]bool{}
		s.tracks = [numKinds]*Track{}
		s.stats = [numKinds]trackStats{}
		s.liveSince = time.Now()
		s.publishes = 0
		s.periods = nil
		s.manual, s.pending = nil, nil
		for _, o := range s.sources {
			o.tracks = [numKinds]*Track{}
		}
		s.log.Info("stream live", "protocol", info.Protocol, "from", info.RemoteAddr)
		s.putOnAir(src, now, "", false)
	case Reconnecting:
		s.log.Info("publisher back within the reconnect grace", "protocol", info.Protocol, "from", info.RemoteAddr)
		s.putOnAir(src, now, "", s.standIn != nil)
	default:
		if s.onAir == src {
			// Its own new connection: on air at once, as after a reconnect.
			s.putOnAir(src, now, "", s.standIn != nil)
		} else {
			s.log.Info("source connected, standing by", "source", src.name, "protocol", info.Protocol, "from", info.RemoteAddr)
		}
	}
	s.publishes++
	s.signalChanged()
	return p, nil
}

// publisherGone starts the reconnect grace after the last source on air left. Called with
// mu held.
func (s *Stream) publisherGone() {
	if s.grace <= 0 && !s.paused {
		s.end()
		return
	}
	s.state = Reconnecting
	if s.paused {
		s.log.Info("publisher gone while the broadcast is paused: the stream waits for the operator")
	} else {
		s.log.Info("publisher gone, waiting for it to come back", "grace", s.grace)
		s.startGrace()
	}
	s.signalChanged()
}

// startGrace starts the reconnect grace timer. Called with mu held.
func (s *Stream) startGrace() {
	if s.grace <= 0 {
		s.end()
		return
	}
	var t *time.Timer
	t = time.AfterFunc(s.grace, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		// A timer stopped too late (a publisher came back, then left again) is not ours.
		if s.graceTimer == t && s.state == Reconnecting {
			s.log.Info("reconnect grace over")
			s.end()
		}
	})
	s.graceTimer = t
}

// end closes the live session. Called with mu held.
func (s *Stream) end() {
	s.state = Idle
	s.graceTimer = nil
	s.paused = false
	s.endStandIn()
	s.endPeriod(s.clock())
	s.onAir, s.pending, s.manual = nil, nil, nil
	for i := range s.ring {
		s.ring[i] = nil // let the session's frames be collected
	}
	s.base = s.next
	s.hasKey = false
	s.log.Info("stream ended")
	s.waiters.Store(true)
	s.wakeReaders()
	s.signalChanged()
}

// Stop ends the live session at once, closing the publisher; used at shutdown.
func (s *Stream) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.graceTimer != nil {
		s.graceTimer.Stop()
	}
	for _, src := range s.sources {
		if src.pub != nil {
			close(src.pub.done)
			src.pub, src.gop = nil, nil
		}
	}
	if s.state != Idle {
		s.end()
	}
}

// StandIn returns a publisher of the standby picture: while the source is away (the
// reconnect grace) or the operator paused the broadcast, its frames keep every reader fed on
// the stream's timeline, marked Frame.Standby. It does not declare tracks (the stream's
// tracks stay the source's, and the frames carry their own) and does not change the state.
// It stands in until the publisher's first keyframe after its return (or the end of the
// pause), the end of the session, or Close; its Done is closed then, and WriteFrame returns
// ErrReplaced. A stand-in already there is replaced.
func (s *Stream) StandIn() (*Publisher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state == Idle:
		return nil, ErrNotLive
	case !s.hasTimeline:
		return nil, ErrNoMedia
	case s.state == Live && !s.paused:
		return nil, ErrSourceSending
	}
	s.endStandIn()
	p := &Publisher{s: s, src: SourceInfo{Protocol: "standby"}, done: make(chan struct{}), created: s.clock(), standIn: true}
	s.standIn = p
	s.log.Info("standby picture on")
	s.signalChanged()
	return p, nil
}

// endStandIn stops the stand-in, if any. Called with mu held.
func (s *Stream) endStandIn() {
	if p := s.standIn; p != nil {
		s.standIn = nil
		close(p.done)
		s.signalChanged()
	}
}

// SetPaused puts the broadcast on standby (on) or back to the source (off): while paused,
// the publisher's frames are dropped (the readers get the standby picture, see StandIn) and
// the reconnect grace does not run, so a publisher that leaves during the pause does not end
// the session. Back to the source, the publisher's next keyframe takes over from the
// stand-in; with no publisher, the grace starts then.
func (s *Stream) SetPaused(on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == Idle {
		return ErrNotLive
	}
	if on && !s.hasTimeline {
		return ErrNoMedia
	}
	if s.paused == on {
		return nil
	}
	s.paused = on
	if on {
		s.log.Info("broadcast paused by the operator")
		if s.graceTimer != nil {
			s.graceTimer.Stop()
			s.graceTimer = nil
		}
	} else {
		s.log.Info("broadcast resumed by the operator")
		if s.state == Reconnecting {
			s.startGrace()
		}
	}
	s.signalChanged()
	return nil
}

// Paused reports whether the operator paused the broadcast (SetPaused).
func (s *Stream) Paused() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.paused
}

// OnStandby reports whether the standby picture is being shown.
func (s *Stream) OnStandby() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.standIn != nil
}

// Publisher feeds a stream. It is used by one goroutine.
type Publisher struct {
	s       *Stream
	from    *source // the source it publishes for (nil for the stand-in)
	src     SourceInfo
	done    chan struct{}
	created time.Time
	started bool
	offset  time.Duration
	closed  bool
	standIn bool // writes the standby picture (see Stream.StandIn)
	// needKey: its frames go on air from its next keyframe (it takes over from another
	// source or the stand-in); resumeAt, when set, is when the first frame it puts on air
	// arrived (a replayed GOP), for the timeline's step across the switch.
	// switching: it goes on air after another source (not after a gap it caused).
	needKey, switching bool
	resumeAt           time.Time
	// fromKey: it took over from another source at a keyframe of DTS keyDTS (its own
	// clock).
	fromKey bool
	keyDTS  time.Duration
}

// Stream returns the stream published to.
func (p *Publisher) Stream() *Stream { return p.s }

// Done is closed when another publisher took over this one's stream, or the stream stopped.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// SetTrack declares the publisher's track of t's kind and returns the track its frames must
// carry. When t has the same parameters as the current track (of the stream, or of its
// source), the current one is kept, so readers see no change across a reconnect or a
// switch between like sources; otherwise t becomes the new current track.
func (p *Publisher) SetTrack(t *Track) (*Track, error) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	src := p.from
	if src == nil || src.pub != p {
		return nil, ErrReplaced
	}
	k := t.Kind()
	cur := s.tracks[k]
	if s.onAir != src && (cur == nil || !cur.SameParams(t)) {
		cur = src.tracks[k]
	}
	if cur != nil && cur.SameParams(t) {
		src.tracks[k] = cur
		return cur, nil
	}
	src.tracks[k] = t
	if s.onAir != src {
		return t, nil
	}
	if cur := s.tracks[k]; cur != nil {
		s.log.Info("new track parameters", "kind", k.String(), "codec", string(t.Codec),
			"width", t.Width, "height", t.Height)
	}
	s.tracks[k] = t
	s.signalChanged() // readers choosing a rendition wait for the tracks
	return t, nil
}

// WriteFrame publishes f. The publisher must not touch f afterwards. f's timestamps are the
// publisher's own; they are moved onto the stream's timeline here, so that every reader sees
// timestamps that keep increasing across publisher reconnects and source switches, and that
// follow the wall clock across the gap (so a platform's latency does not grow with every
// reconnect). The frames of a source not on air are kept (its current GOP) for a switch.
func (p *Publisher) WriteFrame(f *Frame) error {
	if f.Track == nil {
		return ErrNoTrack
	}
	s := p.s
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.standIn {
		if s.standIn != p {
			return ErrReplaced
		}
		f.Standby = true
		s.append(p, f, now)
		return nil
	}
	src := p.from
	if src.pub != p {
		return ErrReplaced
	}
	if src.lastFrame.IsZero() || now.Sub(src.lastFrame) > s.failoverAfter {
		src.sendingSince = now
	}
	src.lastFrame = now
	src.stats.add(f, now)
	switch {
	case s.paused:
		return nil // the broadcast is paused: the readers get the standby picture
	case s.onAir == src:
		s.writeOnAir(p, f, now)
	case s.pending == src && f.Key && (f.Track.Kind() == Video || src.tracks[Video] == nil):
		s.putOnAir(src, now, "switch", true)
		s.writeOnAir(p, f, now)
	default:
		s.keep(src, f, now)
		s.choose(now)
	}
	return nil
}

// writeOnAir writes a frame of the source on air. Called with mu held.
func (s *Stream) writeOnAir(p *Publisher, f *Frame, now time.Time) {
	if p.needKey || s.standIn != nil {
		// After a switch (from another source or the stand-in) the frames go on air from
		// the first keyframe, and the timeline continues from what the readers had.
		if !f.Key || f.Track.Kind() != Video && s.tracks[Video] != nil {
			return
		}
		if s.standIn != nil {
			s.endStandIn()
			s.log.Info("standby picture off: back to the source")
		}
		p.needKey = false
		p.started = false
		p.keyDTS, p.fromKey = f.DTS, p.switching
		// In band: the previous picture's parameter sets came in band too, and a platform
		// that does not act on a new sequence header mid-session (nginx-rtmp's recorder)
		// would otherwise decode the source with the previous picture's.
		f.Units = WithParamSets(f.Track, f.Units)
	} else if p.fromKey && f.DTS < p.keyDTS {
		// Audio captured before the keyframe it took over at belongs with the picture
		// before the switch: on the timeline it would step back.
		return
	}
	s.append(p, f, now)
}

// append moves f onto the stream's timeline and into the ring. Called with mu held.
func (s *Stream) append(p *Publisher, f *Frame, now time.Time) {
	k := f.Track.Kind()
	if !p.started {
		p.started = true
		if s.hasTimeline {
			// The gap is measured up to when this publisher connected (or when the first
			// frame it puts on air arrived, after a switch), not to its first frame: ingest
			// may hold the first frames back while it analyses the tracks, and they were
			// captured from about the moment the encoder connected. Its first picture is
			// also shown after the newest one shown (B-frames put PTS ahead).
			from := p.created
			if p.switching {
				from = now
				if !p.resumeAt.IsZero() {
					from = p.resumeAt
				}
			}
			step := max(from.Sub(s.lastWall), minTimelineStep)
			p.offset = max(s.newest+step-f.DTS, s.newestPTS+minTimelineStep-f.PTS)
		} else {
			p.offset = -f.DTS
			s.hasTimeline = true
			defer s.signalChanged() // the session has media: see HasMedia
		}
	}
	dts, pts := f.DTS+p.offset, f.PTS+p.offset
	if dts < 0 {
		// Frames decoded before the first one (B-frames) on a fresh timeline: shift the
		// publisher's whole timeline once rather than emit negative timestamps.
		p.offset -= dts
		pts -= dts
		dts = 0
	}
	if s.hasLast[k] && dts <= s.lastDTS[k] {
		// A track would step back (the previous publisher's last frames of this kind ran
		// ahead of its other kind's): the publisher's whole timeline moves on, so that its
		// tracks stay in sync and the next frames do not step back again.
		shift := s.lastDTS[k] + time.Millisecond - dts
		p.offset += shift
		dts += shift
		pts += shift
	}
	f.DTS, f.PTS, f.Published = dts, pts, now
	s.lastDTS[k], s.hasLast[k] = dts, true
	if pts > s.newestPTS {
		s.newestPTS = pts
	}
	if dts > s.newest {
		s.newest = dts
	}
	s.lastWall = now

	s.ring[s.next&s.mask] = f
	if f.Key && (k == Video || s.tracks[Video] == nil) {
		s.lastKey, s.hasKey = s.next, true
	}
	s.next++
	s.stats[k].add(f, now)
	s.wakeReaders()
}

// Close tells the stream this publisher is gone: another source takes over, or the
// reconnect grace starts.
func (p *Publisher) Close() {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.standIn {
		if s.standIn == p {
			s.endStandIn()
		}
		return
	}
	if p.from.pub == p {
		s.sourceGone(p.from, s.clock())
	}
}

func (t *trackStats) add(f *Frame, now time.Time) {
	n := uint64(f.Size())
	t.frames++
	t.bytes += n
	t.winFrames++
	t.winByte += n
	if t.winStart.IsZero() {
		t.winStart, t.winDTS = now, f.DTS
	}
	if el := now.Sub(t.winStart); el >= time.Second {
		t.bitrate = float64(t.winByte*8) / el.Seconds()
		// The frame rate comes from the timestamps: arrival times bunch up after a network
		// hiccup, timestamps say what the encoder produces.
		if span := f.DTS - t.winDTS; span > 0 {
			t.fps = float64(t.winFrames-1) / span.Seconds()
		}
		t.winStart, t.winDTS, t.winFrames, t.winByte = now, f.DTS, 1, 0
	}
	if f.Key && f.Track.Kind() == Video {
		if t.hasKeyDTS && f.DTS > t.lastKeyDTS {
			t.keyInterval = f.DTS - t.lastKeyDTS
		}
		t.lastKeyDTS, t.hasKeyDTS = f.DTS, true
	}
}
