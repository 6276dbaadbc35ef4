package audience

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"time"
)

// DefaultSaveEvery is how often Run writes the figures that changed to the Journal.
const DefaultSaveEvery = 5 * time.Second

// A Journal keeps the last event of each stream outside the process (the embedded database),
// so that a restart, even kill -9, loses at most the last SaveEvery of figures. Run is its
// only writer; Restore reads it.
type Journal interface {
	// SaveAudience writes an event's figures. s.Series holds the samples from index
	// s.SeriesFrom on: the journal keeps the ones before it and replaces the others. A
	// snapshot of another event than the one kept for s.Stream replaces it whole. A nil
	// s.Distinct keeps the stored set.
	SaveAudience(ctx context.Context, s EventSnapshot) error
	// LoadAudience returns the last event saved for stream, with its whole series
	// (SeriesFrom 0), and false when there is none.
	LoadAudience(ctx context.Context, stream string) (EventSnapshot, bool, error)
}

// EventSnapshot is one stream's event as the journal keeps it.
type EventSnapshot struct {
	Stream string
	// ID names the event (the report's "event"); it stays the same across a restart that
	// the event survives.
	ID    string
	Start time.Time
	// End is zero while the event may go on: live, or, after a restart, waiting for its
	// stream to come back within the reconnect grace.
	End time.Time
	// LiveAt is the last time the stream was seen live in this event.
	LiveAt time.Time
	Peak   Peak
	// DistinctExact counts the exact sessions (WHEP, RTMP players) of the event; Distinct
	// is the set of HLS tokens, encoded (the exact hashes up to the cap, the HyperLogLog
	// registers beyond).
	DistinctExact int
	Distinct      []byte
	// Watched is the time watched by every viewer up to the save, open sessions included:
	// a restart ends them.
	Watched time.Duration
	// Every is the series' spacing now (it doubles each time the series is thinned).
	Every      time.Duration
	Series     []Sample
	SeriesFrom int
	// Outputs are the destinations' figures during the event, Periods its periods
	// (event.go): written whole at each save.
	Outputs []Output
	Periods []Period
}

// saved is what the journal holds of a stream's event, to write only what changed.
type saved struct {
	id        string
	samples   int           // samples written
	every     time.Duration // spacing when they were written: a thinned series is written again
	distinctV uint64        // the set's changes when it was written
	end       time.Time
	liveAt    time.Time
	peak      Peak
	exact     int
	watched   time.Duration
	extraV    uint64
}

func (s *saved) same(o *saved) bool {
	return s.id == o.id && s.samples == o.samples && s.every == o.every && s.distinctV == o.distinctV &&
		s.end.Equal(o.end) && s.liveAt.Equal(o.liveAt) && s.peak.Total == o.peak.Total && s.peak.At.Equal(o.peak.At) &&
		maps.Equal(s.peak.ByProtocol, o.peak.ByProtocol) && s.exact == o.exact && s.watched == o.watched &&
		s.extraV == o.extraV
}

func newEventID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// watchTime is the time watched by every viewer of the event so far. Called with a.mu held.
func (a *streamAudience) watchTime(now time.Time) time.Duration {
	w := a.watched + time.Duration(int64(a.exactN)*now.UnixNano()-a.exactSum)
	for _, h := range a.hls {
		w += time.Duration(h.last - h.first)
	}
	return w
}

// journalSnapshot returns what to write of the event (only what changed since the last
// write) and what the journal holds once it is written, or false when nothing changed.
// Called with a.mu held.
func (a *streamAudience) journalSnapshot(stream string, now time.Time) (EventSnapshot, saved, bool) {
	if a.id == "" {
		return EventSnapshot{}, saved{}, false
	}
	next := saved{
		id: a.id, samples: len(a.series), every: a.every, distinctV: a.seen.changes,
		liveAt: a.liveAt, exact: a.distinctExact, watched: a.watchTime(now),
		peak: Peak{Total: a.peak, At: a.peakAt, ByProtocol: maps.Clone(a.peakBy)}, extraV: a.extraV,
	}
	if !a.live && a.resumeBy.IsZero() {
		next.end = a.end
	}
	if next.same(&a.saved) {
		return EventSnapshot{}, next, false
	}
	s := EventSnapshot{
		Stream: stream, ID: a.id, Start: a.start, End: next.end, LiveAt: next.liveAt, Peak: next.peak,
		DistinctExact: a.distinctExact, Watched: next.watched, Every: a.every,
		Outputs: a.outputList(), Periods: append([]Period(nil), a.periods...),
	}
	if a.saved.id == a.id && a.saved.every == a.every && a.saved.samples <= len(a.series) {
		s.SeriesFrom = a.saved.samples
	}
	s.Series = append([]Sample(nil), a.series[s.SeriesFrom:]...)
	if a.saved.id != a.id || a.saved.distinctV != a.seen.changes {
		s.Distinct = a.seen.marshal()
	}
	return s, next, true
}

// save writes what changed of every stream's event: each one due (SaveEvery after its last
// write, or at once when its event began, ended or resumed), or all with force.
func (c *Counter) save(ctx context.Context, force bool) {
	if c.o.Journal == nil {
		return
	}
	now := c.clock()
	for _, name := range c.Streams() {
		a := c.get(name)
		a.mu.Lock()
		if !force && !a.dirty && now.Sub(a.savedAt) < c.o.SaveEvery {
			a.mu.Unlock()
			continue
		}
		s, next, changed := a.journalSnapshot(name, now)
		a.savedAt = now
		a.mu.Unlock()
		if !changed {
			continue
		}
		err := c.o.Journal.SaveAudience(ctx, s)
		a.mu.Lock()
		if err != nil {
			// Write everything at the next attempt: the journal may hold part of this one.
			a.saved = saved{}
			if !a.saveFailed {
				c.o.Logger.Error("audience: cannot save the event's figures; retrying", "stream", name, "event", s.ID, "error", err.Error())
			}
		} else {
			if a.saveFailed {
				c.o.Logger.Info("audience: the event's figures are saved again", "stream", name, "event", s.ID)
			}
			a.saved, a.dirty = next, false
		}
		a.saveFailed = err != nil
		a.mu.Unlock()
	}
}

// Restore reads the last event of each of streams from the journal, once per stream, before
// the counter follows them (Run restores the streams it meets later). An event that was
// live at its last write waits for its stream: live again within SaveEvery plus the
// reconnect grace of that write, it continues (same event, its series, peak and distinct
// viewers); otherwise it ends as of that write.
func (c *Counter) Restore(ctx context.Context, streams []string) {
	for _, name := range streams {
		c.restore(ctx, name)
	}
}

func (c *Counter) restore(ctx context.Context, name string) {
	a := c.get(name)
	a.mu.Lock()
	done := a.restored
	a.restored = true
	a.mu.Unlock()
	if done || c.o.Journal == nil {
		return
	}
	s, ok, err := c.o.Journal.LoadAudience(ctx, name)
	if err != nil {
		c.o.Logger.Error("audience: cannot read the last event's figures; they start again", "stream", name, "error", err.Error())
		return
	}
	if !ok {
		return
	}
	seen, err := unmarshalDistinct(s.Distinct)
	if err != nil {
		c.o.Logger.Error("audience: the last event's distinct viewers cannot be read; they count from zero", "stream", name, "event", s.ID, "error", err.Error())
		seen = newDistinct()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.id != "" || a.live {
		return // an event began meanwhile: it is the one to follow
	}
	a.id, a.start, a.end, a.liveAt = s.ID, s.Start, s.End, s.LiveAt
	a.peak, a.peakAt = s.Peak.Total, s.Peak.At
	a.peakBy = maps.Clone(s.Peak.ByProtocol)
	if a.peakBy == nil {
		a.peakBy = map[string]int{}
	}
	a.distinctExact, a.seen, a.watched = s.DistinctExact, seen, s.Watched
	a.series = s.Series
	if s.Every > 0 {
		a.every = s.Every
	}
	if n := len(s.Series); n > 0 {
		a.lastSample = s.Series[n-1].At
	}
	a.periods = s.Periods
	a.outputs = map[string]Output{}
	for _, o := range s.Outputs {
		a.outputs[o.Name] = o
	}
	if s.End.IsZero() {
		// Live at the last write: the report ends there until the stream comes back.
		a.end = s.LiveAt
		a.closePeriods(s.LiveAt)
		a.resumeBy = s.LiveAt.Add(c.o.SaveEvery + c.o.Grace)
	}
	a.saved = saved{
		id: s.ID, samples: len(s.Series), every: a.every, distinctV: seen.changes, end: s.End, liveAt: s.LiveAt,
		peak: Peak{Total: a.peak, At: a.peakAt, ByProtocol: maps.Clone(a.peakBy)}, exact: a.distinctExact, watched: s.Watched,
		extraV: a.extraV,
	}
}

// resume continues a restored event: its stream is live again within the grace. Called with
// a.mu held.
func (a *streamAudience) resume(now time.Time) {
	a.live, a.end, a.resumeBy = true, time.Time{}, time.Time{}
	a.updatePeak(now)
	a.startOutputs(a.outputList())
	a.dirty = true
}
