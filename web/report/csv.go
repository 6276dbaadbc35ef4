package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSV columns (README, "The event report", lists them): four tables, each with its header
// row, separated by an empty line.
//
//nolint:gochecknoglobals // read-only: the documented columns
var (
	// SummaryColumns head the summary, one key,value row per figure.
	SummaryColumns = []string{"key", "value"}
	// DestinationColumns head the destinations' table.
	DestinationColumns = []string{"destination", "protocol", "host", "state", "uptime_seconds", "reconnects", "platform"}
	// SeriesColumns head the series before the platforms' columns ("platform:<destination>"
	// each) and the last one, "all" (our viewers plus the platforms').
	SeriesColumns = []string{"time", "total", "hls", "whep", "other"}
	// PeriodColumns head the periods' table.
	PeriodColumns = []string{"period", "start", "end", "duration_seconds"}
)

func ts(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// WriteCSV writes r as CSV.
func WriteCSV(w io.Writer, r Report) error {
	c := csv.NewWriter(w)
	rows := [][]string{
		SummaryColumns,
		{"stream", r.Stream},
		{"start", ts(r.Start)},
		{"end", ts(r.End)},
		{"duration_seconds", num(r.Duration)},
		{"peak", strconv.Itoa(r.Peak.Total)},
		{"peak_at", ts(r.Peak.At)},
		{"average", num(r.Average)},
		{"distinct", strconv.Itoa(r.Distinct)},
		{"watch_time_seconds", num(r.WatchTime)},
		{"event", r.Event},
		{"peak_all", strconv.Itoa(r.PeakAll.Total)},
		{"peak_all_at", ts(r.PeakAll.At)},
		{"average_watch_time_seconds", num(r.AverageWatchTime)},
		{"estimates", strings.Join(r.Estimates, ";")},
		{},
		DestinationColumns,
	}
	for _, d := range r.Destinations {
		rows = append(rows, []string{d.Name, d.Protocol, d.Host, d.State, num(d.Uptime), strconv.FormatUint(d.Reconnects, 10), d.Platform})
	}
	names := r.PlatformNames()
	head := append([]string(nil), SeriesColumns...)
	for _, n := range names {
		head = append(head, "platform:"+n)
	}
	rows = append(rows, []string{}, append(head, "all"))
	for _, p := range r.Series {
		row := []string{p.At.UTC().Format(time.RFC3339), strconv.Itoa(p.Total), strconv.Itoa(p.HLS), strconv.Itoa(p.WHEP), strconv.Itoa(p.Other)}
		all := p.Total
		for _, n := range names {
			v, ok := p.Platforms[n]
			if ok {
				row = append(row, strconv.Itoa(v))
			} else {
				row = append(row, "")
			}
			all += v
		}
		rows = append(rows, append(row, strconv.Itoa(all)))
	}
	rows = append(rows, []string{}, PeriodColumns)
	for _, p := range r.Periods {
		rows = append(rows, []string{p.Kind, p.Start.UTC().Format(time.RFC3339), ts(p.End), num(p.Duration)})
	}
	if err := c.WriteAll(rows); err != nil {
		return err
	}
	return c.Error()
}
