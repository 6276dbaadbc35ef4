package report

import (
	"math"
	"sort"
	"time"

	"github.com/beffroi/beffroi/relay/audience"
)

// Report is one event's report, as the API serves it (GET /api/v1/streams/{name}/report).
type Report struct {
	Stream string `json:"stream"`
	// Event names the event; it stays the same across a restart that the event survives.
	Event    string     `json:"event,omitempty"`
	Live     bool       `json:"live"`
	Start    *time.Time `json:"start"`
	End      *time.Time `json:"end"`
	Duration float64    `json:"duration"` // seconds
	// Peak is our own viewers' highest concurrency (HLS, WHEP, RTMP players).
	Peak struct {
		Total int        `json:"total"`
		At    *time.Time `json:"at"`
	} `json:"peak"`
	PeakByProtocol map[string]int `json:"peak_by_protocol"`
	// PeakAll is the highest sum of our viewers and the platforms' counts in the series.
	PeakAll struct {
		Total int        `json:"total"`
		At    *time.Time `json:"at"`
	} `json:"peak_all"`
	Average   float64 `json:"average"` // mean concurrency over the event (our viewers)
	Distinct  int     `json:"distinct"`
	WatchTime float64 `json:"watch_time"` // seconds
	// AverageWatchTime is WatchTime over Distinct, seconds.
	AverageWatchTime float64 `json:"average_watch_time"`
	// Estimates names the figures that are estimates, with why (see Estimate*).
	Estimates    []string      `json:"estimates"`
	Platforms    []Platform    `json:"platforms"`
	Destinations []Destination `json:"destinations"`
	// Periods are the event's standby, paused and failover stretches.
	Periods    []Period          `json:"periods"`
	Recordings []Recording       `json:"recordings"`
	Series     []audience.Sample `json:"series"`
}

// The figures that are estimates.
const (
	// EstimateDistinct: HLS viewers are known by a session token; a viewer who reloads the
	// page in another browser counts twice, and beyond 8192 tokens the count is a
	// HyperLogLog estimate (about 1%).
	EstimateDistinct = "distinct"
	// EstimatePlatforms: the platforms' counts are their own figures, read every poll.
	EstimatePlatforms = "platforms"
)

// Platform is one destination's platform audience over the event.
type Platform struct {
	Destination string     `json:"destination"`
	Platform    string     `json:"platform,omitempty"`
	Peak        int        `json:"peak"`
	PeakAt      *time.Time `json:"peak_at"`
	Average     float64    `json:"average"` // over the samples that had a count
	Samples     int        `json:"samples"`
}

// Destination is a destination's figures during the event.
type Destination struct {
	Name       string  `json:"name"`
	Protocol   string  `json:"protocol"`
	Host       string  `json:"host"`
	Platform   string  `json:"platform,omitempty"`
	State      string  `json:"state"`
	Uptime     float64 `json:"uptime"` // seconds
	Reconnects uint64  `json:"reconnects"`
}

// Period is a stretch of the event: kind is "standby" (the publisher was away), "paused"
// (the operator's standby) or "failover".
type Period struct {
	Kind     string     `json:"kind"`
	Start    time.Time  `json:"start"`
	End      *time.Time `json:"end"`
	Duration float64    `json:"duration"` // seconds
}

// Recording is a recording made during the event.
type Recording struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Start    time.Time `json:"start"`
	Duration float64   `json:"duration"` // seconds
	URL      string    `json:"url"`      // the MP4 download
	Console  string    `json:"console"`  // the recording in the console
}

// Input is what a report is made of.
type Input struct {
	Stream string
	Snap   audience.Snapshot
	// PlatformOf names the platform of a destination, when known.
	PlatformOf map[string]string
	// Destinations replace Snap.Outputs when the counter does not follow the destinations.
	Destinations []Destination
	Recordings   []Recording
	Now          time.Time
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Build makes the report.
func Build(in Input) Report {
	a := in.Snap
	r := Report{Stream: in.Stream, Event: a.Event, Live: a.Live, Start: timePtr(a.Start), End: timePtr(a.End),
		Distinct: a.Distinct, WatchTime: math.Round(a.WatchTime.Seconds()), Series: a.Series,
		PeakByProtocol: a.Peak.ByProtocol, Estimates: []string{}, Platforms: []Platform{}, Destinations: []Destination{},
		Periods: []Period{}, Recordings: in.Recordings}
	if r.Series == nil {
		r.Series = []audience.Sample{}
	}
	if r.PeakByProtocol == nil {
		r.PeakByProtocol = map[string]int{}
	}
	if r.Recordings == nil {
		r.Recordings = []Recording{}
	}
	end := a.End
	if end.IsZero() {
		end = in.Now
	}
	if !a.Start.IsZero() {
		d := end.Sub(a.Start)
		r.Duration = math.Round(d.Seconds())
		if d > 0 {
			r.Average = math.Round(a.WatchTime.Seconds()/d.Seconds()*100) / 100
		}
	}
	if a.Distinct > 0 {
		r.AverageWatchTime = math.Round(a.WatchTime.Seconds() / float64(a.Distinct))
	}
	r.Peak.Total, r.Peak.At = a.Peak.Total, timePtr(a.Peak.At)
	if a.Peak.ByProtocol[audience.HLS] > 0 {
		r.Estimates = append(r.Estimates, EstimateDistinct)
	}
	r.platforms(in.PlatformOf)
	if len(r.Platforms) > 0 {
		r.Estimates = append(r.Estimates, EstimatePlatforms)
	}
	for _, o := range a.Outputs {
		r.Destinations = append(r.Destinations, Destination{Name: o.Name, Protocol: o.Protocol, Host: o.Host,
			Platform: in.PlatformOf[o.Name], State: o.State, Uptime: math.Round(o.Uptime*10) / 10, Reconnects: o.Reconnects})
	}
	if len(a.Outputs) == 0 && in.Destinations != nil {
		r.Destinations = in.Destinations
	}
	for _, p := range a.Periods {
		q := Period{Kind: p.Kind, Start: p.Start, End: timePtr(p.End)}
		e := p.End
		if e.IsZero() {
			e = end
		}
		q.Duration = math.Round(e.Sub(p.Start).Seconds())
		r.Periods = append(r.Periods, q)
	}
	return r
}

// platforms fills Platforms and PeakAll from the series.
func (r *Report) platforms(of map[string]string) {
	by := map[string]*Platform{}
	sums := map[string]int{}
	for _, s := range r.Series {
		all := s.Total
		for d, n := range s.Platforms {
			all += n
			p := by[d]
			if p == nil {
				p = &Platform{Destination: d, Platform: of[d]}
				by[d] = p
			}
			if n > p.Peak || p.PeakAt == nil {
				p.Peak, p.PeakAt = n, timePtr(s.At)
			}
			p.Samples++
			sums[d] += n
		}
		if all > r.PeakAll.Total {
			r.PeakAll.Total, r.PeakAll.At = all, timePtr(s.At)
		}
	}
	// Our own peak is exact (between samples too): the sum is never below it.
	if r.Peak.Total > r.PeakAll.Total {
		r.PeakAll.Total, r.PeakAll.At = r.Peak.Total, r.Peak.At
	}
	for d, p := range by {
		p.Average = math.Round(float64(sums[d])/float64(p.Samples)*10) / 10
		r.Platforms = append(r.Platforms, *p)
	}
	sort.Slice(r.Platforms, func(i, j int) bool { return r.Platforms[i].Destination < r.Platforms[j].Destination })
}

// PlatformNames returns the destinations with platform counts, sorted.
func (r *Report) PlatformNames() []string {
	l := make([]string, 0, len(r.Platforms))
	for _, p := range r.Platforms {
		l = append(l, p.Destination)
	}
	return l
}
