package audience

import (
	"slices"
	"time"
)

// This file holds what an event's report keeps beside the viewers: the platforms' own
// counts (outputs/platforms), the destinations' uptime and reconnects during the event,
// and its periods (standby, and later failover).

// PlatformViewers tells the viewers each platform counts for a stream's destinations
// (outputs/platforms.Poller): by destination name, only the counts that are fresh.
type PlatformViewers interface {
	PlatformViewers(stream string) map[string]int
}

// OutputFigures tells a stream's destinations' figures since Beffroi started (the
// destinations' manager, adapted where it is wired).
type OutputFigures interface {
	OutputFigures(stream string) []Output
}

// Output is one destination's figures. From OutputFigures they count since Beffroi
// started; in a Snapshot and the journal, during the event only.
type Output struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Host     string `json:"host"`
	// Platform is the preset's platform when known ("youtube"...), for the report.
	Platform   string  `json:"platform,omitempty"`
	State      string  `json:"state"`  // the last state seen in the event
	Uptime     float64 `json:"uptime"` // seconds live
	Reconnects uint64  `json:"reconnects"`
}

// The kinds of Period the counter follows by itself; others come through SetPeriod.
const (
	// PeriodStandby: the publisher was away, the standby picture was shown (relay/standby).
	PeriodStandby = "standby"
	// PeriodPaused: the operator put the broadcast on standby.
	PeriodPaused = "paused"
	// PeriodFailover: a backup source was on air instead of the stream's primary one.
	PeriodFailover = "failover"
)

// maxPeriods bounds the periods of one event (a flapping source): beyond, the last one
// is extended.
const maxPeriods = 1000

// Period is a stretch of an event in a state worth reporting. End is zero while it lasts.
type Period struct {
	Kind  string    `json:"kind"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
}

// SetPeriod opens (on) or closes a period of kind in stream's current event. It is the hook
// for what the counter does not see by itself (a failover to a backup source); a period
// still open when the event ends ends with it.
func (c *Counter) SetPeriod(stream, kind string, on bool) {
	a := c.get(stream)
	now := c.clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.setPeriod(kind, on, now)
}

// setPeriod: called with a.mu held.
func (a *streamAudience) setPeriod(kind string, on bool, now time.Time) {
	if !a.live {
		return
	}
	open := -1
	for i := len(a.periods) - 1; i >= 0; i-- {
		if a.periods[i].Kind == kind && a.periods[i].End.IsZero() {
			open = i
			break
		}
	}
	switch {
	case on && open < 0:
		if len(a.periods) >= maxPeriods {
			return
		}
		a.periods = append(a.periods, Period{Kind: kind, Start: now})
		a.extraV++
	case !on && open >= 0:
		a.periods[open].End = now
		a.extraV++
	}
}

// closePeriods ends the open periods at now. Called with a.mu held.
func (a *streamAudience) closePeriods(now time.Time) {
	for i := range a.periods {
		if a.periods[i].End.IsZero() {
			a.periods[i].End = now
			a.extraV++
		}
	}
}

// observe follows a live stream's state and its destinations: the standby, paused and
// failover periods, and the destinations' figures during the event.
func (c *Counter) observe(stream string, paused, standby, backup bool) {
	var figs []Output
	if c.o.Outputs != nil {
		figs = c.o.Outputs.OutputFigures(stream) // outside a.mu: it asks the outputs
	}
	a := c.get(stream)
	now := c.clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.live {
		return
	}
	a.setPeriod(PeriodPaused, paused, now)
	a.setPeriod(PeriodStandby, standby && !paused, now)
	a.setPeriod(PeriodFailover, backup && !standby && !paused, now)
	if c.o.Outputs == nil {
		return
	}
	if a.outBase == nil {
		// The event began or resumed: what the destinations did before is not its own.
		a.outBase = map[string]Output{}
		for _, f := range figs {
			a.outBase[f.Name] = f
		}
	}
	for _, f := range figs {
		base, prev := a.outBase[f.Name], a.outPrev[f.Name]
		ev := f
		ev.Uptime = prev.Uptime + max(0, f.Uptime-base.Uptime)
		ev.Reconnects = prev.Reconnects
		if f.Reconnects > base.Reconnects {
			ev.Reconnects += f.Reconnects - base.Reconnects
		}
		if old, ok := a.outputs[f.Name]; !ok || old != ev {
			a.outputs[f.Name] = ev
			a.extraV++
		}
	}
}

// startOutputs resets the destinations' figures at an event's beginning (prev nil) or
// resumption (prev the restored figures). Called with a.mu held.
func (a *streamAudience) startOutputs(prev []Output) {
	a.outBase = nil
	a.outputs, a.outPrev = map[string]Output{}, map[string]Output{}
	for _, o := range prev {
		a.outputs[o.Name], a.outPrev[o.Name] = o, o
	}
	a.extraV++
}

// outputList returns the event's destinations' figures by name. Called with a.mu held.
func (a *streamAudience) outputList() []Output {
	l := make([]Output, 0, len(a.outputs))
	for _, o := range a.outputs {
		l = append(l, o)
	}
	slices.SortFunc(l, func(x, y Output) int {
		switch {
		case x.Name < y.Name:
			return -1
		case x.Name > y.Name:
			return 1
		}
		return 0
	})
	return l
}

// DistinctCount returns the count of an encoded distinct set (EventSnapshot.Distinct), for
// the report of a past event.
func DistinctCount(encoded []byte) (int, error) {
	d, err := unmarshalDistinct(encoded)
	if err != nil {
		return 0, err
	}
	return d.count(), nil
}
