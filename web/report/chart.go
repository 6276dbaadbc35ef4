package report

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"time"

	"github.com/beffroi/beffroi/relay/audience"
)

// The chart's size in SVG units; it scales to its container.
const (
	chartW, chartH                   = 900, 320
	padL, padR, padT, padB           = 48, 16, 16, 64
	plotW, plotH                     = chartW - padL - padR, chartH - padT - padB
	maxPoints                        = 1500 // beyond, the series is thinned for the drawing only
	strokeThin, strokeThick, fontPx  = 1.5, 2.5, 12
	legendY                          = chartH - 18
	legendStep                       = 150
	periodOpacity, gridStrokeOpacity = 0.18, 0.25
)

// palette colours the lines: our sources first, then the platforms.
var palette = []string{"#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"} //nolint:gochecknoglobals // read-only colours

type line struct {
	label string
	color string
	width float64
	value func(audience.Sample) (int, bool)
}

// Chart draws the concurrent viewers over the event: one line per source (HLS, WebRTC,
// RTMP players), one per platform, and the total of all, with the standby and failover
// periods shaded. Times are shown in loc.
func Chart(r Report, loc *time.Location, t Texts) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="%s" font-family="sans-serif" font-size="%d">`,
		chartW, chartH, html.EscapeString(t.ChartTitle), fontPx)
	fmt.Fprintf(&b, `<title>%s</title><rect width="%d" height="%d" fill="#fff"/>`, html.EscapeString(t.ChartTitle), chartW, chartH)
	series := thin(r.Series)
	if len(series) < 2 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#555">%s</text></svg>`, chartW/2, chartH/2, html.EscapeString(t.NoData))
		return b.Bytes()
	}
	lines := []line{
		{t.HLS, palette[0], strokeThin, func(s audience.Sample) (int, bool) { return s.HLS, true }},
		{t.WHEP, palette[1], strokeThin, func(s audience.Sample) (int, bool) { return s.WHEP, true }},
		{t.Other, palette[2], strokeThin, func(s audience.Sample) (int, bool) { return s.Other, true }},
	}
	for i, p := range r.Platforms {
		label := p.Destination
		if p.Platform != "" && p.Platform != p.Destination {
			label += " (" + p.Platform + ")"
		}
		d := p.Destination
		lines = append(lines, line{label, palette[(3+i)%len(palette)], strokeThin, func(s audience.Sample) (int, bool) {
			n, ok := s.Platforms[d]
			return n, ok
		}})
	}
	lines = append(lines, line{t.All, "#111", strokeThick, func(s audience.Sample) (int, bool) {
		n := s.Total
		for _, v := range s.Platforms {
			n += v
		}
		return n, true
	}})
	t0, t1 := series[0].At, series[len(series)-1].At
	top := 1
	for _, s := range series {
		for _, l := range lines {
			if v, ok := l.value(s); ok && v > top {
				top = v
			}
		}
	}
	top = niceCeil(top)
	x := func(at time.Time) float64 {
		return padL + float64(plotW)*float64(at.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(v int) float64 { return padT + float64(plotH)*(1-float64(v)/float64(top)) }
	// The periods, shaded behind the lines.
	for _, p := range r.Periods {
		e := t1
		if p.End != nil && p.End.Before(t1) {
			e = *p.End
		}
		s := p.Start
		if s.Before(t0) {
			s = t0
		}
		if !e.After(s) {
			continue
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#888" fill-opacity="%.2f"><title>%s</title></rect>`,
			x(s), padT, x(e)-x(s), plotH, periodOpacity, html.EscapeString(t.PeriodName(p.Kind)))
	}
	// The grid: five counts up, about six times across.
	for i := 0; i <= 4; i++ {
		v := top * i / 4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#000" stroke-opacity="%.2f"/><text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%d</text>`,
			padL, chartW-padR, y(v), y(v), gridStrokeOpacity, padL-6, y(v), v)
	}
	step := tickStep(t1.Sub(t0))
	for tk := t0.Truncate(step).Add(step); tk.Before(t1); tk = tk.Add(step) {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#000" stroke-opacity="%.2f"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>`,
			x(tk), x(tk), padT, padT+plotH, gridStrokeOpacity, x(tk), padT+plotH+16, tk.In(loc).Format("15:04"))
	}
	for i, l := range lines {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%.1f" stroke-linejoin="round" points="`, l.color, l.width)
		var lone []audience.Sample // points with no neighbour: a line does not show them
		for j, s := range series {
			if v, ok := l.value(s); ok {
				fmt.Fprintf(&b, "%.1f,%.1f ", x(s.At), y(v))
				_, before := valueAt(l, series, j-1)
				_, after := valueAt(l, series, j+1)
				if !before && !after {
					lone = append(lone, s)
				}
			}
		}
		b.WriteString(`"/>`)
		for _, s := range lone {
			v, _ := l.value(s)
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, x(s.At), y(v), l.color)
		}
		lx := padL + (i%6)*legendStep
		ly := legendY + (i/6)*14 - 14*((len(lines)-1)/6)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/><text x="%d" y="%d" dominant-baseline="middle">%s</text>`,
			lx, ly-2, l.color, lx+18, ly, html.EscapeString(l.label))
	}
	if r.PeakAll.At != nil && !r.PeakAll.At.Before(t0) && !r.PeakAll.At.After(t1) {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="#111"><title>%s %d</title></circle>`,
			x(*r.PeakAll.At), y(r.PeakAll.Total), html.EscapeString(t.Peak), r.PeakAll.Total)
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// valueAt is l's value at series[i], false when i is outside or l has none there.
func valueAt(l line, series []audience.Sample, i int) (int, bool) {
	if i < 0 || i >= len(series) {
		return 0, false
	}
	return l.value(series[i])
}

// thin keeps at most maxPoints samples (every n-th, and the last), so a 12-hour event
// draws quickly.
func thin(s []audience.Sample) []audience.Sample {
	if len(s) <= maxPoints {
		return s
	}
	n := (len(s) + maxPoints - 1) / maxPoints
	out := make([]audience.Sample, 0, maxPoints+1)
	for i := 0; i < len(s); i += n {
		out = append(out, s[i])
	}
	if out[len(out)-1].At != s[len(s)-1].At {
		out = append(out, s[len(s)-1])
	}
	return out
}

// niceCeil rounds a count up to 1, 2, 2.5 or 5 times a power of ten, for the axis.
func niceCeil(v int) int {
	if v <= 4 {
		return 4
	}
	p := math.Pow(10, math.Floor(math.Log10(float64(v))))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if c := int(m * p); c >= v {
			return c
		}
	}
	return int(10 * p)
}

// tickStep is the spacing of the time labels: about six across.
func tickStep(d time.Duration) time.Duration {
	for _, s := range []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute,
		15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour} {
		if d/s <= 7 {
			return s
		}
	}
	return 6 * time.Hour
}
