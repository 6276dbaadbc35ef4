package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/outputs/platforms"
	"github.com/beffroi/beffroi/outputs/platforms/platformstest"
	"github.com/beffroi/beffroi/relay/audience"
)

// reportPage is one "page" line of report.mjs.
type reportPage struct {
	Lang         string   `json:"lang"`
	HTMLLang     string   `json:"htmlLang"`
	PeakAll      int      `json:"peakAll"`
	Lines        int      `json:"lines"`
	Platforms    []string `json:"platforms"`
	Destinations []string `json:"destinations"`
	// The console's stream page and report view ("consoleView").
	StreamPage struct {
		All, Now  int
		Platforms string
	} `json:"streamPage"`
	View struct {
		PeakAll int    `json:"peakAll"`
		Events  int    `json:"events"`
		Print   string `json:"print"`
	} `json:"view"`
}

// TestPlatformAudienceReport: a stream published with ffmpeg goes to the nginx platform
// stand-in as "youtube", whose YouTube API credentials (pointed at a local fake of the Data
// API) are set through the API; the fake's concurrent viewers and our own HLS viewer are
// merged in the audience, sampled into the event's series, and shown in the report: its
// CSV has the documented columns with the platform's, and its printable page, opened in
// Chromium in French and English, draws the chart (screenshots in BEFFROI_ARTIFACTS). The
// credentials are never in an answer or a log line.
func TestPlatformAudienceReport(t *testing.T) {
	requirePeers(t)
	fake := platformstest.New()
	t.Cleanup(fake.Close) // after Beffroi stops (cleanups run last first)
	fake.SetViewers(platforms.YouTube, 321)
	n := startNginx(t)
	b := startBeffroi(t, func(c *config.Config) {
		c.Admin.Password = adminPassword
		c.Audience.Platforms.YouTubeURL = fake.Endpoints().YouTube
		c.Streams[0].Destinations = []config.Destination{{Name: "youtube", URL: n.URL("yt-stream-key")}}
	})
	cred, _ := json.Marshal(platformstest.Credentials(platforms.YouTube))
	code, body := apiCall(t, b, http.MethodPut, "/api/v1/streams/event/destinations/youtube/platform", "application/json", cred)
	if code != http.StatusOK || !strings.Contains(body, `"credentials": "set"`) || strings.Contains(body, platformstest.YouTubeKey) {
		t.Fatalf("PUT credentials: %d %s", code, body)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	publish(t, ctx, b.PublishURL(publishKey), makeSmallClip(t), 60)
	waitDest(t, b, "event", "youtube", outputs.StateLive, 20*time.Second)
	viewer := pollingViewer(ctx, "http://"+b.HTTPAddr(), "event")

	// Merged: our HLS viewer and YouTube's 321.
	var a struct {
		Now       map[string]int     `json:"now"`
		All       int                `json:"all"`
		Platforms []platforms.Status `json:"platforms"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for a.All != 322 || a.Now["total"] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("audience not merged (viewer reloads %d): %s", viewer.Load(), body)
		}
		time.Sleep(250 * time.Millisecond)
		if body, _ = b.get("/api/v1/streams/event/audience"); json.Unmarshal([]byte(body), &a) != nil {
			t.Fatalf("audience: %s", body)
		}
	}
	if len(a.Platforms) != 1 || a.Platforms[0].State != platforms.StateOK || a.Platforms[0].Viewers != 321 || fake.Requests(platforms.YouTube) == 0 {
		t.Errorf("platforms: %+v", a.Platforms)
	}

	// Sampled into the event's series, for the report.
	var rep struct {
		Event   string            `json:"event"`
		Series  []audience.Sample `json:"series"`
		PeakAll struct {
			Total int `json:"total"`
		} `json:"peak_all"`
	}
	deadline = time.Now().Add(20 * time.Second)
	for rep.PeakAll.Total < 322 {
		if time.Now().After(deadline) {
			t.Fatalf("no sample with both counts: %s", body)
		}
		time.Sleep(500 * time.Millisecond)
		if body, _ = b.get("/api/v1/streams/event/report"); json.Unmarshal([]byte(body), &rep) != nil {
			t.Fatalf("report: %s", body)
		}
	}

	// The CSV's documented tables and columns, the platform's among them.
	csvBody, err := b.get("/api/v1/streams/event/report?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(strings.NewReader(csvBody))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	heads := map[string]string{}
	found := false
	for _, row := range rows {
		switch row[0] {
		case "key", "destination", "time", "period":
			heads[row[0]] = strings.Join(row, ",")
		case "peak_all":
			found = row[1] != "" && row[1] != "0"
		}
	}
	for k, want := range map[string]string{
		"key":         "key,value",
		"destination": "destination,protocol,host,state,uptime_seconds,reconnects,platform",
		"time":        "time,total,hls,whep,other,platform:youtube,all",
		"period":      "period,start,end,duration_seconds",
	} {
		if heads[k] != want {
			t.Errorf("CSV header %q, want %q\n%s", heads[k], want, csvBody)
		}
	}
	if !found || !strings.Contains(csvBody, "youtube,rtmp,127.0.0.1") {
		t.Errorf("CSV without the peak or the destination:\n%s", csvBody)
	}

	// The printable page in Chromium.
	pages := map[string]reportPage{}
	origin := "http://" + b.HTTPAddr()
	last := runDriver(t, "report.mjs", func(name string, p reportPage) {
		if name == "page" {
			pages[p.Lang] = p
		}
	}, origin+"/report/event", adminToken, artifactsDir(t, "report"), origin, adminPassword, "event")
	for _, lang := range []string{"fr", "en"} {
		p := pages[lang]
		if p.HTMLLang != lang || p.PeakAll < 322 || p.Lines != 5 || len(p.Platforms) != 1 || p.Platforms[0] != "youtube" ||
			len(p.Destinations) != 1 {
			t.Errorf("report page %s: %+v", lang, p)
		}
	}
	// The console: the stream page shows ours, YouTube's and the total; its link opens the
	// report view, with the chart and the printable page's link.
	c := last["consoleView"]
	if c.StreamPage.All != 322 || c.StreamPage.Now != 1 || !strings.Contains(c.StreamPage.Platforms, "youtube") ||
		strings.Contains(c.StreamPage.Platforms, platformstest.YouTubeKey) || c.View.PeakAll < 322 || c.View.Events != 1 ||
		!strings.HasPrefix(c.View.Print, "/report/event?") {
		t.Errorf("console: %+v", c)
	}
	for _, secret := range []string{platformstest.YouTubeKey, "yt-stream-key"} {
		if lines := b.Logs.Lines(secret); len(lines) > 0 {
			t.Errorf("a secret in the log: %q", lines)
		}
	}
}
