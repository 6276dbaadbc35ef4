package report

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

// PageLinks are the page's links to the exports, relative to the page.
type PageLinks struct {
	JSON, CSV, Other string // Other: the same page in the other language
	OtherLang        string
}

// WritePage writes the printable report page in t's language, times in loc.
func WritePage(w io.Writer, r Report, t Texts, loc *time.Location, links PageLinks) error {
	p, err := page.Clone()
	if err != nil {
		return err
	}
	p.Funcs(template.FuncMap{
		"When": func(tp *time.Time) string {
			if tp == nil {
				return "–"
			}
			return tp.In(loc).Format("2006-01-02 15:04:05")
		},
		"At":  func(tp time.Time) string { return tp.In(loc).Format("15:04:05") },
		"Dur": duration,
		"Has": func(kind string) bool {
			for _, e := range r.Estimates {
				if e == kind {
					return true
				}
			}
			return false
		},
		"Period": t.PeriodName,
	})
	return p.Execute(w, map[string]any{
		"R": r, "T": t, "Loc": loc.String(), "Chart": template.HTML(Chart(r, loc, t)), //nolint:gosec // Chart escapes every text it draws
		"Links": links,
	})
}

// pageFuncs are WritePage's functions, bound to the report's zone and language there.
var pageFuncs = template.FuncMap{ //nolint:gochecknoglobals // read-only; WritePage binds its own
	"When": func(*time.Time) string { return "" }, "At": func(time.Time) string { return "" },
	"Dur": duration, "Has": func(string) bool { return false }, "Period": func(string) string { return "" },
}

// duration writes seconds as "1 h 02 min 05 s".
func duration(sec float64) string {
	d := time.Duration(sec) * time.Second
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%d h %02d min", h, m)
	case m > 0:
		return fmt.Sprintf("%d min %02d s", m, s)
	}
	return fmt.Sprintf("%d s", s)
}

var page = template.Must( //nolint:gochecknoglobals // parsed once, read-only (cloned per page)
	template.New("report").Funcs(pageFuncs).Parse(`<!doctype html>
<html lang="{{.T.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.T.Title}} – {{.R.Stream}}</title>
<style>
body { font-family: system-ui, sans-serif; color: #111; margin: 2rem auto; max-width: 960px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 1.8rem; border-bottom: 1px solid #ccc; }
.sub { color: #555; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: .6rem; margin: 1rem 0; }
.figure { border: 1px solid #ddd; border-radius: 6px; padding: .5rem .7rem; }
.figure b { display: block; font-size: 1.5rem; }
.figure small { color: #555; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eee; }
td.n, th.n { text-align: right; }
svg { width: 100%; height: auto; }
nav a { margin-right: 1rem; }
.note { color: #555; font-size: .9rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  nav, .noprint { display: none; }
  h2, table, .figures, svg { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
</style>
</head>
<body>
<nav class="noprint"><a href="{{.Links.JSON}}">JSON</a><a href="{{.Links.CSV}}">CSV</a><a href="{{.Links.Other}}">{{.Links.OtherLang}}</a></nav>
<h1>{{.T.Title}} – {{.R.Stream}}</h1>
<p class="sub">{{.T.Start}} {{When .R.Start}} · {{.T.End}} {{if .R.Live}}{{.T.Live}}{{else}}{{When .R.End}}{{end}} · {{.T.Duration}} {{Dur .R.Duration}} · {{.T.TimesIn}} {{.Loc}}{{if .R.Event}} · {{.T.Event}} {{.R.Event}}{{end}}</p>

<div class="figures" id="figures">
<div class="figure"><small>{{.T.PeakAll}}</small><b id="peak-all">{{.R.PeakAll.Total}}</b><small>{{When .R.PeakAll.At}}</small></div>
<div class="figure"><small>{{.T.PeakOwn}}</small><b id="peak">{{.R.Peak.Total}}</b><small>{{When .R.Peak.At}}</small></div>
<div class="figure"><small>{{.T.Distinct}}{{if Has "distinct"}} *{{end}}</small><b id="distinct">{{.R.Distinct}}</b></div>
<div class="figure"><small>{{.T.Average}}</small><b>{{.R.Average}}</b></div>
<div class="figure"><small>{{.T.AvgWatch}}</small><b>{{Dur .R.AverageWatchTime}}</b><small>{{.T.WatchTime}} {{Dur .R.WatchTime}}</small></div>
</div>

<figure id="chart">{{.Chart}}</figure>

{{if .R.Platforms}}<h2>{{.T.Platforms}}</h2>
<table id="platforms"><tr><th>{{.T.Destination}}</th><th>{{.T.Platform}}</th><th class="n">{{.T.Viewers}}</th><th>{{.T.Peak}}</th><th class="n">{{.T.PlatformAvg}}</th></tr>
{{range .R.Platforms}}<tr><td>{{.Destination}}</td><td>{{.Platform}}</td><td class="n">{{.Peak}}</td><td>{{When .PeakAt}}</td><td class="n">{{.Average}}</td></tr>
{{end}}</table>{{end}}

<h2>{{.T.Destinations}}</h2>
{{if .R.Destinations}}<table id="destinations"><tr><th>{{.T.Destination}}</th><th>{{.T.Protocol}}</th><th>{{.T.Host}}</th><th>{{.T.State}}</th><th class="n">{{.T.Uptime}}</th><th class="n">{{.T.Reconnects}}</th></tr>
{{range .R.Destinations}}<tr><td>{{.Name}}</td><td>{{.Protocol}}</td><td>{{.Host}}</td><td>{{.State}}</td><td class="n">{{Dur .Uptime}}</td><td class="n">{{.Reconnects}}</td></tr>
{{end}}</table>{{else}}<p>{{.T.NoDestinations}}</p>{{end}}

<h2>{{.T.Periods}}</h2>
{{if .R.Periods}}<table id="periods"><tr><th>{{.T.Kind}}</th><th>{{.T.Start}}</th><th>{{.T.End}}</th><th class="n">{{.T.Duration}}</th></tr>
{{range .R.Periods}}<tr><td>{{Period .Kind}}</td><td>{{At .Start}}</td><td>{{When .End}}</td><td class="n">{{Dur .Duration}}</td></tr>
{{end}}</table>{{else}}<p>{{.T.NoPeriods}}</p>{{end}}

<h2>{{.T.Recordings}}</h2>
{{if .R.Recordings}}<ul id="recordings">{{range .R.Recordings}}<li>{{if .Title}}{{.Title}}{{else}}{{.ID}}{{end}} – {{At .Start}}, {{Dur .Duration}} · <a href="{{.URL}}">{{$.T.Download}}</a> · <a class="noprint" href="{{.Console}}">{{$.T.Open}}</a></li>{{end}}</ul>
{{else}}<p>{{.T.NoRecordings}}</p>{{end}}

{{if .R.Estimates}}<h2>{{.T.Estimates}}</h2>
{{if Has "distinct"}}<p class="note">* {{.T.EstDistinct}}</p>{{end}}
{{if Has "platforms"}}<p class="note">{{.T.EstPlatforms}}</p>{{end}}{{end}}
</body>
</html>
`))
