package web_test

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/web"
)

// audienceServer is the web server of the audience tests: "conseil" live, "annonces" idle.
type audienceServer struct {
	*httptest.Server
	reg *relay.Registry
}

// event returns the live session of a stream, as tokens are bound to it.
func (a audienceServer) event(name string) uint64 {
	in := a.reg.Get(name).Info()
	return audience.EventOf(in.Session, in.LiveSince)
}

func newAudienceServer(t *testing.T) (audienceServer, *audience.Counter) {
	t.Helper()
	reg := newRegistry(t)
	counter := audience.New(audience.Options{})
	counter.Tick(map[string]bool{"conseil": true, "annonces": false})
	dests := fakeDestinations{"conseil": {{Name: "youtube", Protocol: "rtmp", Host: "a.rtmp.youtube.com",
		State: outputs.StateLive, Uptime: 42.5, Reconnects: 2}}}
	srv := httptest.NewServer(web.New(web.Options{Registry: reg, Destinations: dests, Audience: counter}).Handler())
	t.Cleanup(srv.Close)
	return audienceServer{srv, reg}, counter
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getBody(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestBeacon(t *testing.T) {
	srv, counter := newAudienceServer(t)
	ev := srv.event("conseil")
	tok := counter.NewToken("conseil", ev)
	for _, c := range []struct {
		body string
		code int
	}{
		{`{"stream":"conseil","session":"` + tok + `","protocol":"hls"}`, http.StatusNoContent},
		{`{"stream":"conseil","session":"` + tok + `"}`, http.StatusNoContent},
		{`{"stream":"conseil","protocol":"whep"}`, http.StatusNoContent}, // counted by the WHEP server
		{`{"stream":"conseil","session":"AAAAAAAAAAAAAAAAAAAAAAAAAAAA","protocol":"hls"}`, http.StatusBadRequest},
		{`{"stream":"conseil","session":"` + counter.NewToken("conseil", ev+1) + `"}`, http.StatusBadRequest}, // another live session's token
		{`{"stream":"conseil"}`, http.StatusBadRequest},
		{`{"stream":"conseil","session":"` + tok + `"} {"stream":"conseil"}`, http.StatusBadRequest},
		{`{"stream":"annonces","session":"` + tok + `","protocol":"hls"}`, http.StatusConflict}, // idle: not counted
		{`{"stream":"nope","session":"` + tok + `"}`, http.StatusNotFound},
		{`{"stream":"conseil","session":"` + tok + `","protocol":"dash"}`, http.StatusBadRequest},
		{`not json`, http.StatusBadRequest},
		{`{"stream":"` + strings.Repeat("a", 2000) + `"}`, http.StatusBadRequest},
	} {
		if code, body := post(t, srv.URL+"/api/v1/beacon", c.body); code != c.code {
			t.Errorf("beacon %.60s: %d %s, want %d", c.body, code, body, c.code)
		}
	}
	if now := counter.Now("conseil"); now["hls"] != 1 || now["total"] != 1 {
		t.Errorf("after two beacons of one player: %v, want one HLS viewer", now)
	}
	if now := counter.Now("annonces"); now["total"] != 0 {
		t.Errorf("a refused beacon was counted: %v", now)
	}
}

func TestAudienceRoutes(t *testing.T) {
	srv, counter := newAudienceServer(t)
	leave := counter.Join("conseil", audience.WHEP)
	defer leave()
	counter.TouchHLS("conseil", counter.NewToken("conseil", srv.event("conseil")))

	resp, body := getBody(t, srv.URL+"/api/v1/streams/conseil/audience")
	var a struct {
		Now      map[string]int `json:"now"`
		Peak     map[string]any `json:"peak"`
		Distinct int            `json:"distinct"`
		Series   []any          `json:"series"`
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil || resp.StatusCode != 200 {
		t.Fatalf("audience: %d %s", resp.StatusCode, body)
	}
	if a.Now["total"] != 2 || a.Now["hls"] != 1 || a.Now["whep"] != 1 || a.Distinct != 2 || a.Peak["total"] != float64(2) || a.Peak["at"] == nil {
		t.Errorf("audience %s", body)
	}
	if resp, _ := getBody(t, srv.URL+"/api/v1/streams/nope/audience"); resp.StatusCode != 404 {
		t.Errorf("unknown stream: %d", resp.StatusCode)
	}

	resp, body = getBody(t, srv.URL+"/api/v1/public/streams/conseil")
	if body != `{"live":true,"name":"conseil","viewers":2}`+"\n" || resp.Header.Get("Cache-Control") != "public, max-age=2" {
		t.Errorf("public: %s %v", body, resp.Header)
	}
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("public endpoint leaks a secret: %s", body)
		}
	}

	_, body = getBody(t, srv.URL+"/api/v1/streams/conseil/report")
	var rep struct {
		Event        string              `json:"event"`
		Start        string              `json:"start"`
		Peak         struct{ Total int } `json:"peak"`
		Distinct     int                 `json:"distinct"`
		Destinations []struct {
			Name       string  `json:"name"`
			Uptime     float64 `json:"uptime"`
			Reconnects int     `json:"reconnects"`
		} `json:"destinations"`
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Event != counter.Snapshot("conseil").Event || rep.Event == "" || rep.Start == "" || rep.Peak.Total != 2 || rep.Distinct != 2 || len(rep.Destinations) != 1 ||
		rep.Destinations[0].Uptime != 42.5 || rep.Destinations[0].Reconnects != 2 {
		t.Errorf("report %s", body)
	}
	for _, u := range []string{"/api/v1/streams/conseil/report?format=csv", "/api/v1/streams/conseil/report"} {
		resp, body = getBody(t, srv.URL+u, "Accept", "text/csv")
		if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", u, ct)
		}
		r := csv.NewReader(strings.NewReader(body))
		r.FieldsPerRecord = -1
		rows, err := r.ReadAll()
		if err != nil || len(rows) < 12 || rows[0][0] != "key" || rows[5][0] != "peak" || rows[5][1] != "2" {
			t.Errorf("%s: CSV %v %v", u, rows, err)
		}
		if !strings.Contains(body, "\nevent,"+rep.Event+"\n") {
			t.Errorf("%s: CSV without the event's id:\n%s", u, body)
		}
		if !strings.Contains(body, "youtube,rtmp,a.rtmp.youtube.com,live,42.5,2") {
			t.Errorf("%s: CSV without the destination row:\n%s", u, body)
		}
	}
	if resp, _ := getBody(t, srv.URL+"/api/v1/streams/conseil/report?format=xml"); resp.StatusCode != 400 {
		t.Errorf("format=xml: %d, want 400", resp.StatusCode)
	}
	_, body = getBody(t, srv.URL+"/metrics")
	for _, want := range []string{`beffroi_viewers{protocol="hls",stream="conseil"} 1`, `beffroi_viewers{protocol="whep",stream="conseil"} 1`,
		`beffroi_viewers_peak{stream="conseil"} 2`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics without %s", want)
		}
	}
}

// TestOldBeaconsAfterTheEvent: the stream goes idle; the beacons its 20 viewers' pages still
// send count nothing, and neither do they once the next live session begins.
func TestOldBeaconsAfterTheEvent(t *testing.T) {
	srv, counter := newAudienceServer(t)
	ev := srv.event("conseil")
	var toks []string
	beacon := func(tok string) int {
		code, _ := post(t, srv.URL+"/api/v1/beacon", `{"stream":"conseil","session":"`+tok+`","protocol":"hls"}`)
		return code
	}
	for range 20 {
		tok := counter.NewToken("conseil", ev)
		if code := beacon(tok); code != http.StatusNoContent {
			t.Fatalf("beacon: %d", code)
		}
		toks = append(toks, tok)
	}
	public := func() string {
		_, body := getBody(t, srv.URL+"/api/v1/public/streams/conseil")
		return body
	}
	if b := public(); b != `{"live":true,"name":"conseil","viewers":20}`+"\n" {
		t.Fatalf("public while live: %s", b)
	}
	// The publisher leaves: the stream is idle, the counter sees it at its next tick.
	st := srv.reg.Get("conseil")
	st.Stop()
	counter.Tick(map[string]bool{"conseil": false})
	for _, tok := range toks {
		if code := beacon(tok); code != http.StatusConflict {
			t.Fatalf("beacon of an idle stream: %d, want 409", code)
		}
	}
	if b := public(); b != `{"live":false,"name":"conseil","viewers":0}`+"\n" {
		t.Errorf("public once idle, after old beacons: %s, want no viewer", b)
	}
	// The next live session refuses the previous one's tokens.
	st.Publish(relay.SourceInfo{Protocol: "rtmp", RemoteAddr: "192.0.2.7:50313"})
	counter.Tick(map[string]bool{"conseil": true})
	for _, tok := range toks {
		if code := beacon(tok); code != http.StatusBadRequest {
			t.Fatalf("beacon with a previous live session's token: %d, want 400", code)
		}
	}
	if b := public(); b != `{"live":true,"name":"conseil","viewers":0}`+"\n" {
		t.Errorf("public in the next live session, after old beacons: %s, want no viewer", b)
	}
}
