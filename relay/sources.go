package relay

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"time"
)

// Errors of the backup sources.
var (
	// ErrNoSource is returned by PublishSource and SetManualSource for a source the stream
	// does not have.
	ErrNoSource = errors.New("no such source")
	// ErrSourceNotLive is returned by SetManualSource for a source that is not sending.
	ErrSourceNotLive = errors.New("the source is not sending")
)

// Defaults of the failover between a stream's sources.
const (
	// DefaultFailoverAfter is how long the source on air may send nothing before the next
	// live one takes over.
	DefaultFailoverAfter = 1500 * time.Millisecond
	// DefaultFailbackAfter is how long a source of higher priority than the one on air must
	// have been sending without a gap before it comes back on air.
	DefaultFailbackAfter = 10 * time.Second
	// DefaultPrimarySource is the name of a stream's primary source when none is given.
	DefaultPrimarySource = "primary"
)

// maxGOPAge is the oldest keyframe a failover replays from a backup's kept GOP: the switch
// is then immediate, at the cost of showing the backup that much behind real time. With an
// older one (a long keyframe interval) the backup goes on air at its next keyframe.
const maxGOPAge = 2 * time.Second

// SourceSpec is one of a stream's backup sources.
type SourceSpec struct {
	// Name is how the console, the API and the event log name the source ("phone").
	Name string
	// PublishKey is the secret its publisher presents; empty for a source pulled by
	// Beffroi itself (an RTSP camera), which publishes with PublishSource.
	PublishKey string
}

// SourcesOptions are a stream's sources: the primary (the stream's own publish key) and
// its backups by priority, with the failover delays.
type SourcesOptions struct {
	// Primary names the primary source; empty means DefaultPrimarySource.
	Primary string
	// Backups are the other sources, the first one of highest priority.
	Backups []SourceSpec
	// FailoverAfter and FailbackAfter: zero means the defaults.
	FailoverAfter, FailbackAfter time.Duration
}

// SourceStatus is a source as the API shows it.
type SourceStatus struct {
	Name     string `json:"name"`
	Priority int    `json:"priority"` // 0 is the primary
	// State is "offline" (no publisher), "stalled" (connected, nothing sent for the
	// failover delay), "standby" (sending, ready to take over) or "on_air".
	State      string  `json:"state"`
	Protocol   string  `json:"protocol,omitempty"`
	RemoteAddr string  `json:"remote_addr,omitempty"`
	Bitrate    float64 `json:"bitrate"` // bits per second over the last second
	// LastFrameAge is how long ago its last frame arrived (seconds; absent when none did).
	LastFrameAge *float64 `json:"last_frame_age,omitempty"`
	// Pulled: Beffroi pulls it (no publish key).
	Pulled bool `json:"pulled,omitempty"`
}

// OnAirPeriod is a time a source was on air during the live session.
type OnAirPeriod struct {
	Source string    `json:"source"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"` // zero while it is still on air
}

// source is one of a stream's publishers' places: its publisher, its tracks and, while it
// is not on air, its current GOP, so that it can take over at once.
type source struct {
	name   string
	prio   int
	key    []byte // nil for the primary (the stream's key) and pulled sources
	pulled bool

	pub    *Publisher
	tracks [numKinds]*Track
	// gop holds its frames since its newest keyframe while it is not on air (source
	// timestamps); gopWall is when that keyframe arrived.
	gop     []*Frame
	gopWall time.Time
	// lastFrame is when its last frame arrived; sendingSince when it started sending
	// without a gap longer than the failover delay (for the failback).
	lastFrame, sendingSince time.Time
	// connected is when its publisher connected: a source on air keeps the air while it
	// starts (ingest analysing its tracks) for up to the failover delay.
	connected time.Time
	stats     trackStats
}

// sending reports whether the source's publisher sent a frame within the failover delay.
func (s *Stream) sending(src *source, now time.Time) bool {
	return src != nil && src.pub != nil && !src.lastFrame.IsZero() && now.Sub(src.lastFrame) <= s.failoverAfter
}

// sourceNamed returns the source of that name ("" is the primary), or nil.
func (s *Stream) sourceNamed(name string) *source {
	if name == "" {
		return s.sources[0]
	}
	for _, src := range s.sources {
		if src.name == name {
			return src
		}
	}
	return nil
}

// keySource returns the backup whose publish key is key, or nil, comparing every key.
func (s *Stream) keySource(key string) *source {
	var found *source
	for _, src := range s.sources[1:] {
		if len(src.key) > 0 && subtle.ConstantTimeCompare(src.key, []byte(key)) == 1 {
			found = src
		}
	}
	return found
}

// ownsKey reports whether key is the stream's publish key or one of its backups'.
func (s *Stream) ownsKey(key string) bool {
	if s.CheckKey(key) {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keySource(key) != nil
}

// authenticate returns the name of the source whose key is key ("" for the primary) and
// whether one is.
func (s *Stream) authenticate(key string) (string, bool) {
	primary := s.CheckKey(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if src := s.keySource(key); src != nil {
		return src.name, true
	}
	return "", primary
}

// setSources replaces the stream's sources. A source kept (same name) keeps its publisher;
// the publisher of a source removed is closed, as if it had left.
func (s *Stream) setSources(o SourcesOptions) error {
	primary := o.Primary
	if primary == "" {
		primary = DefaultPrimarySource
	}
	if o.FailoverAfter < 0 || o.FailbackAfter < 0 {
		return fmt.Errorf("stream %q: negative failover delay", s.name)
	}
	names := map[string]bool{primary: true}
	for _, b := range o.Backups {
		if b.Name == "" {
			return fmt.Errorf("stream %q: a source has no name", s.name)
		}
		if names[b.Name] {
			return fmt.Errorf("stream %q: two sources are named %q", s.name, b.Name)
		}
		names[b.Name] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := map[string]*source{}
	for _, src := range s.sources {
		old[src.name] = src
	}
	old[primary] = s.sources[0] // renaming the primary keeps its publisher
	list := []*source{s.sources[0]}
	s.sources[0].name = primary
	delete(old, primary)
	for i, b := range o.Backups {
		src := old[b.Name]
		delete(old, b.Name)
		if src == nil {
			src = &source{name: b.Name}
		}
		src.prio, src.key, src.pulled = i+1, []byte(b.PublishKey), b.PublishKey == ""
		list = append(list, src)
	}
	s.sources = list
	s.failoverAfter, s.failbackAfter = o.FailoverAfter, o.FailbackAfter
	if s.failoverAfter == 0 {
		s.failoverAfter = DefaultFailoverAfter
	}
	if s.failbackAfter == 0 {
		s.failbackAfter = DefaultFailbackAfter
	}
	for _, src := range old {
		if p := src.pub; p != nil {
			s.log.Info("source removed: its publisher is closed", "source", src.name)
			close(p.done)
			s.sourceGone(src, s.clock())
		}
	}
	return nil
}

// Sources returns the stream's sources by priority, the primary first.
func (s *Stream) Sources() []SourceStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sourcesLocked(s.clock())
}

func (s *Stream) sourcesLocked(now time.Time) []SourceStatus {
	out := make([]SourceStatus, 0, len(s.sources))
	for _, src := range s.sources {
		st := SourceStatus{Name: src.name, Priority: src.prio, State: "offline", Pulled: src.pulled}
		if p := src.pub; p != nil {
			st.Protocol, st.RemoteAddr = p.src.Protocol, p.src.RemoteAddr
			switch {
			case s.state != Idle && s.onAir == src:
				st.State = "on_air"
			case s.sending(src, now):
				st.State = "standby"
			default:
				st.State = "stalled"
			}
			if !src.lastFrame.IsZero() {
				age := math.Round(now.Sub(src.lastFrame).Seconds()*100) / 100
				st.LastFrameAge = &age
				if now.Sub(src.lastFrame) <= 2*time.Second {
					st.Bitrate = math.Round(src.stats.bitrate)
				}
			}
		}
		out = append(out, st)
	}
	return out
}

// OnAir returns the name of the source on air ("" when none is: the stream is idle, or
// between sources) and the one the operator chose by hand ("" in automatic mode).
func (s *Stream) OnAir() (onAir, manual string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.onAir != nil && s.state != Idle {
		onAir = s.onAir.name
	}
	if s.manual != nil {
		manual = s.manual.name
	}
	return onAir, manual
}

// FailoverDelays returns the stream's failover and failback delays.
func (s *Stream) FailoverDelays() (failover, failback time.Duration) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.failoverAfter, s.failbackAfter
}

// OnAirPeriods returns when each source was on air in the live session (or the last one,
// once it ended), oldest first: the event report's failover periods.
func (s *Stream) OnAirPeriods() []OnAirPeriod {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]OnAirPeriod(nil), s.periods...)
}

// SetManualSource puts a source on air by hand: it holds until SetManualSource("") (back
// to automatic) or the source stops sending. The switch happens at the source's next
// keyframe (at once when the source on air has stopped).
func (s *Stream) SetManualSource(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	if name == "" {
		if s.manual != nil {
			s.log.Info("sources back to automatic", "was", s.manual.name)
			s.manual = nil
			s.signalChanged()
		}
		s.choose(now)
		return nil
	}
	src := s.sourceNamed(name)
	switch {
	case src == nil:
		return fmt.Errorf("%w: %q", ErrNoSource, name)
	case s.state == Idle:
		return ErrNotLive
	case !s.sending(src, now):
		return fmt.Errorf("source %q: %w", name, ErrSourceNotLive)
	}
	s.manual = src
	s.log.Info("source chosen by the operator", "source", src.name)
	s.signalChanged()
	s.choose(now)
	return nil
}

// pick returns the source that should be on air: the operator's choice while it sends;
// else the one on air while it sends, unless one of higher priority has been sending for
// the failback delay; else the first one sending. Called with mu held.
func (s *Stream) pick(now time.Time) *source {
	if m := s.manual; m != nil {
		if s.sending(m, now) {
			return m
		}
		s.log.Info("the source chosen by the operator stopped: sources back to automatic", "source", m.name)
		s.manual = nil
		s.signalChanged()
	}
	cur := s.onAir
	starting := cur != nil && cur.pub != nil && cur.lastFrame.IsZero() && now.Sub(cur.connected) <= s.failoverAfter
	if starting {
		return cur
	}
	if cur != nil && s.sending(cur, now) {
		for _, src := range s.sources[:cur.prio] {
			if s.sending(src, now) && now.Sub(src.sendingSince) >= s.failbackAfter {
				return src
			}
		}
		return cur
	}
	for _, src := range s.sources {
		if s.sending(src, now) {
			return src
		}
	}
	return cur
}

// choose moves the stream towards the source pick wants: at once when the one on air
// stopped (replaying the new one's GOP when its keyframe is recent), else at the new one's
// next keyframe, the one on air staying until then. Called with mu held.
func (s *Stream) choose(now time.Time) {
	if s.state == Idle || s.paused {
		return
	}
	want := s.pick(now)
	switch {
	case want == nil || want == s.onAir:
		s.pending = nil
	case s.onAir != nil && s.sending(s.onAir, now) && s.standIn == nil:
		s.pending = want // on air at its next keyframe
	default:
		gop, wall := want.gop, want.gopWall
		s.putOnAir(want, now, "switch", true)
		s.replayGOP(want, gop, wall, now)
	}
}

// putOnAir makes src the source on air; with needKey its frames go to the readers from its
// next keyframe. why is "switch" when it takes over from another source, "" when it is the
// session's start or a reconnect. Called with mu held.
func (s *Stream) putOnAir(src *source, now time.Time, why string, needKey bool) {
	prev := s.onAir
	var prevName string
	if n := len(s.periods); n > 0 {
		prevName = s.periods[n-1].Source
	}
	if prev != nil && prev != src {
		prev.gop = nil
	}
	s.onAir, s.pending = src, nil
	p := src.pub
	p.started = false
	p.needKey = needKey && s.hasTimeline
	p.switching = why != ""
	p.resumeAt = time.Time{}
	p.fromKey = false
	src.gop = nil
	s.tracks = src.tracks
	s.source = p.src
	if prev != src || len(s.periods) == 0 || !s.periods[len(s.periods)-1].To.IsZero() {
		s.endPeriod(now)
		s.periods = append(s.periods, OnAirPeriod{Source: src.name, From: now})
	}
	if s.graceTimer != nil {
		s.graceTimer.Stop()
		s.graceTimer = nil
	}
	s.state = Live
	if prevName != "" && prevName != src.name {
		prio := len(s.sources)
		if o := s.sourceNamed(prevName); o != nil {
			prio = o.prio
		}
		switch {
		case s.manual == src:
			s.log.Info("source switched by the operator", "from", prevName, "to", src.name)
		case src.prio < prio:
			s.log.Info("back to "+src.name, "from", prevName)
		default:
			s.log.Warn("failover to "+src.name, "from", prevName)
		}
	}
	s.signalChanged()
}

// endPeriod closes the on-air period of the source on air. Called with mu held.
func (s *Stream) endPeriod(now time.Time) {
	if n := len(s.periods); n > 0 && s.periods[n-1].To.IsZero() {
		s.periods[n-1].To = now
	}
}

// replayGOP writes the GOP src kept while it was not on air, when its keyframe is recent
// enough; otherwise src goes on air at its next keyframe. Called with mu held.
func (s *Stream) replayGOP(src *source, gop []*Frame, wall, now time.Time) {
	if len(gop) == 0 || now.Sub(wall) > maxGOPAge {
		return
	}
	src.pub.resumeAt = wall
	for _, f := range gop {
		s.writeOnAir(src.pub, f, now)
	}
}

// keep adds a frame of a source not on air to its GOP. Called with mu held.
func (s *Stream) keep(src *source, f *Frame, now time.Time) {
	if key := f.Key && (f.Track.Kind() == Video || src.tracks[Video] == nil); key {
		src.gop = append(src.gop[:0], f)
		src.gopWall = now
		return
	}
	if len(src.gop) == 0 {
		return
	}
	if len(src.gop) >= len(s.ring)/2 {
		// A GOP longer than the ring could hold for the readers: wait for the next one.
		clear(src.gop)
		src.gop = src.gop[:0]
		return
	}
	src.gop = append(src.gop, f)
}

// sourceGone is called when src's publisher left (closed, replaced by a removal). Called
// with mu held.
func (s *Stream) sourceGone(src *source, now time.Time) {
	src.pub, src.gop = nil, nil
	src.lastFrame, src.sendingSince = time.Time{}, time.Time{}
	if s.pending == src {
		s.pending = nil
	}
	if s.manual == src {
		s.log.Info("the source chosen by the operator left: sources back to automatic", "source", src.name)
		s.manual = nil
	}
	if s.onAir != src {
		s.signalChanged()
		return
	}
	if !s.hasTimeline {
		// Nothing was broadcast yet: another connected source may start the session.
		for _, o := range s.sources {
			if o.pub != nil {
				s.putOnAir(o, now, "", false)
				return
			}
		}
		s.onAir = nil
		s.end()
		return
	}
	s.choose(now)
	if s.onAir == src {
		// No source is sending: the standby picture stands in while the grace runs.
		s.endPeriod(now)
		s.onAir = nil
		s.publisherGone()
	}
}
