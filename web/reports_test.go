package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/outputs/platforms"
	"github.com/beffroi/beffroi/outputs/platforms/platformstest"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/web"
	"github.com/beffroi/beffroi/web/store"
)

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPlatformCredentialsAndReport: credentials are refused with the missing field named,
// stored write-only (no answer shows the key), polled while the destination is live, and
// the count is added to ours in the audience; the report page (FR), the chart and the
// events list answer, an unknown event is a 404.
func TestPlatformCredentialsAndReport(t *testing.T) {
	fake := platformstest.New()
	t.Cleanup(fake.Close)
	fake.SetViewers(platforms.YouTube, 250)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	reg := newRegistry(t)
	dests := fakeDestinations{"conseil": {{Name: "youtube", Protocol: "rtmps", Host: "a.rtmp.youtube.com", State: outputs.StateLive}}}
	poller := platforms.New(platforms.Options{Client: &platforms.Client{Endpoints: fake.Endpoints()}, Every: 50 * time.Millisecond,
		Live: func(stream, dest string) bool { return stream == "conseil" && dest == "youtube" }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- poller.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	counter := audience.New(audience.Options{Platforms: poller})
	counter.Tick(map[string]bool{"conseil": true})
	leave := counter.Join("conseil", audience.WHEP)
	defer leave()
	srv := httptest.NewServer(web.New(web.Options{Registry: reg, Destinations: dests, Audience: counter, Events: st,
		Platforms: web.PlatformCounts{Poller: poller, Store: st}}).Handler())
	t.Cleanup(srv.Close)
	base := srv.URL + "/api/v1/streams/conseil"

	for _, c := range []struct {
		url, body string
		code      int
		want      string
	}{
		{base + "/destinations/youtube/platform", `{"platform":"youtube","id":"x"}`, 400, "an api_key or an OAuth token is required"},
		{base + "/destinations/youtube/platform", `{"platform":"tiktok","id":"x"}`, 400, `platform must be`},
		{base + "/destinations/youtube/platform", `{"platform":"youtube","id":"x","password":"p"}`, 400, "fields: platform, id"},
		{base + "/destinations/nope/platform", `{"platform":"youtube","id":"x","api_key":"k"}`, 404, "destination not found"},
	} {
		if code, body := do(t, http.MethodPut, c.url, c.body); code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("PUT %s: %d %s; want %d %q", c.body, code, body, c.code, c.want)
		}
	}
	cred, _ := json.Marshal(platformstest.Credentials(platforms.YouTube))
	code, body := do(t, http.MethodPut, base+"/destinations/youtube/platform", string(cred))
	if code != 200 || !strings.Contains(body, `"credentials": "set"`) || strings.Contains(body, platformstest.YouTubeKey) {
		t.Fatalf("PUT credentials: %d %s", code, body)
	}
	if targets, _ := st.PlatformTargets(context.Background()); len(targets) != 1 || targets[0].Credentials.APIKey != platformstest.YouTubeKey {
		t.Errorf("stored: %+v", targets)
	}
	var a struct {
		Now       map[string]int     `json:"now"`
		All       int                `json:"all"`
		Platforms []platforms.Status `json:"platforms"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.All != 251 {
		if time.Now().After(deadline) {
			t.Fatalf("audience never merged the platform's count: %+v", a)
		}
		time.Sleep(20 * time.Millisecond)
		_, body = getBody(t, base+"/audience")
		if strings.Contains(body, platformstest.YouTubeKey) {
			t.Fatalf("the audience shows the key: %s", body)
		}
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatal(err)
		}
	}
	if a.Now["total"] != 1 || len(a.Platforms) != 1 || a.Platforms[0].State != platforms.StateOK || !a.Platforms[0].Counted {
		t.Errorf("audience %s", body)
	}
	if _, body := getBody(t, base+"/platforms"); strings.Contains(body, platformstest.YouTubeKey) || !strings.Contains(body, `"viewers": 250`) {
		t.Errorf("platforms: %s", body)
	}

	resp, page := getBody(t, srv.URL+"/report/conseil?lang=fr&tz=Europe/Paris")
	if resp.StatusCode != 200 || !strings.Contains(page, `<html lang="fr">`) || !strings.Contains(page, "<svg") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("report page: %d %.300s", resp.StatusCode, page)
	}
	if resp, _ := getBody(t, srv.URL+"/report/conseil?tz=Mars/Olympus"); resp.StatusCode != 400 {
		t.Errorf("bad zone: %d", resp.StatusCode)
	}
	if resp, svg := getBody(t, base+"/report.svg"); resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(svg, "<svg") {
		t.Errorf("chart: %v %.100s", resp.Header, svg)
	}
	if resp, body := getBody(t, base+"/report?event=nope"); resp.StatusCode != 404 || !strings.Contains(body, "/events lists them") {
		t.Errorf("unknown event: %d %s", resp.StatusCode, body)
	}
	_, body = getBody(t, base+"/events")
	var ev struct {
		Events []store.EventSummary `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &ev); err != nil || len(ev.Events) != 1 || ev.Events[0].ID != counter.Snapshot("conseil").Event {
		t.Errorf("events: %s", body)
	}

	if code, _ := do(t, http.MethodDelete, base+"/destinations/youtube/platform", ""); code != 204 {
		t.Errorf("DELETE: %d", code)
	}
	if code, _ := do(t, http.MethodDelete, base+"/destinations/youtube/platform", ""); code != 404 {
		t.Errorf("DELETE again: %d", code)
	}
}
