package report

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/relay/audience"
)

func testReport() Report {
	t0 := time.Date(2026, 6, 21, 18, 0, 0, 0, time.UTC)
	var series []audience.Sample
	for i := range 60 {
		s := audience.Sample{At: t0.Add(time.Duration(i) * 5 * time.Second), HLS: i % 7, WHEP: 2, Other: 1}
		s.Total = s.HLS + s.WHEP + s.Other
		if i%6 == 0 { // a platform count every 30 s
			s.Platforms = map[string]int{"yt<&>": 100 + i, "twitch": 10}
		}
		series = append(series, s)
	}
	return Build(Input{Stream: "fete", Now: t0.Add(time.Hour), PlatformOf: map[string]string{"yt<&>": "youtube"},
		Snap: audience.Snapshot{Event: "abc", Start: t0, End: t0.Add(5 * time.Minute), Distinct: 40, WatchTime: 20 * time.Minute,
			Peak:    audience.Peak{Total: 9, At: t0.Add(30 * time.Second), ByProtocol: map[string]int{"hls": 6, "whep": 2}},
			Series:  series,
			Outputs: []audience.Output{{Name: "yt<&>", Protocol: "rtmps", Host: "a.rtmp.youtube.com", State: "live", Uptime: 290, Reconnects: 1}},
			Periods: []audience.Period{{Kind: audience.PeriodStandby, Start: t0.Add(time.Minute), End: t0.Add(90 * time.Second)}}}})
}

// TestBuild: the platforms' peaks and averages come from the series, the peak everywhere
// is the highest sum, the figures that are estimates say so.
func TestBuild(t *testing.T) {
	r := testReport()
	if len(r.Platforms) != 2 || r.Platforms[1].Destination != "yt<&>" || r.Platforms[1].Peak != 154 || r.Platforms[1].Platform != "youtube" ||
		r.Platforms[0].Average != 10 || r.Platforms[0].Samples != 10 {
		t.Errorf("platforms %+v", r.Platforms)
	}
	if r.PeakAll.Total < 154+10 || r.PeakAll.At == nil {
		t.Errorf("peak everywhere %+v", r.PeakAll)
	}
	if r.AverageWatchTime != 30 || r.Duration != 300 || r.Average != 4 {
		t.Errorf("average watch %v, duration %v, average %v", r.AverageWatchTime, r.Duration, r.Average)
	}
	if strings.Join(r.Estimates, ",") != "distinct,platforms" {
		t.Errorf("estimates %v", r.Estimates)
	}
	if len(r.Periods) != 1 || r.Periods[0].Duration != 30 || len(r.Destinations) != 1 || r.Destinations[0].Platform != "youtube" {
		t.Errorf("periods %+v destinations %+v", r.Periods, r.Destinations)
	}
}

// TestCSV: the four tables and their documented columns, one platform column each.
func TestCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, testReport()); err != nil {
		t.Fatal(err)
	}
	rd := csv.NewReader(&b)
	rd.FieldsPerRecord = -1
	rows, err := rd.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	heads := map[string][]string{}
	for _, row := range rows {
		switch row[0] {
		case "key", "destination", "time", "period":
			heads[row[0]] = row
		}
	}
	want := map[string]string{
		"key":         "key,value",
		"destination": "destination,protocol,host,state,uptime_seconds,reconnects,platform",
		"time":        "time,total,hls,whep,other,platform:twitch,platform:yt<&>,all",
		"period":      "period,start,end,duration_seconds",
	}
	for k, w := range want {
		if got := strings.Join(heads[k], ","); got != w {
			t.Errorf("CSV header %q, want %q", got, w)
		}
	}
	if len(rows) < 60+20 {
		t.Errorf("CSV rows: %d", len(rows))
	}
}

// TestChart: the SVG is well-formed XML whatever a destination is named, with a line per
// source and platform, and the standby period shaded.
func TestChart(t *testing.T) {
	svg := Chart(testReport(), time.UTC, Lang("en"))
	d := xml.NewDecoder(bytes.NewReader(svg))
	lines, rects, dots := 0, 0, 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG not well-formed: %v\n%s", err, svg)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "polyline":
				lines++
			case "rect":
				rects++
			case "circle":
				dots++
			}
		}
	}
	if lines != 6 { // HLS, WHEP, RTMP, two platforms, all
		t.Errorf("%d lines", lines)
	}
	// The platforms' counts come every sixth sample: each is a dot of its own (20), and the peak.
	if dots != 21 {
		t.Errorf("%d dots, want 21", dots)
	}
	if !bytes.Contains(svg, []byte("yt&lt;&amp;&gt; (youtube)")) || !bytes.Contains(svg, []byte("Standby picture")) {
		t.Errorf("labels: %s", svg)
	}
	if empty := Chart(Report{}, time.UTC, Lang("fr")); !bytes.Contains(empty, []byte("Pas encore assez")) {
		t.Errorf("empty chart: %s", empty)
	}
}

func TestPage(t *testing.T) {
	var b bytes.Buffer
	paris, _ := time.LoadLocation("Europe/Paris")
	if paris == nil {
		paris = time.UTC
	}
	if err := WritePage(&b, testReport(), Lang("fr"), paris, PageLinks{JSON: "j", CSV: "c", Other: "o", OtherLang: "English"}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`<html lang="fr">`, "Bilan de l&#39;événement", "@media print", "<svg", "Image d&#39;attente", "yt&lt;&amp;&gt;", `id="peak-all"`} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("page without %q", w)
		}
	}
}
