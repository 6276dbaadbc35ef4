package web_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/web"
	"github.com/beffroi/beffroi/web/console"
)

// TestConsoleMounted: with a Console, / is its page and /console/ its files, while the API,
// the go-live page and unknown API routes answer as before; without one, / is not found.
func TestConsoleMounted(t *testing.T) {
	srv := httptest.NewServer(web.New(web.Options{Registry: newRegistry(t), Console: console.Handler()}).Handler())
	defer srv.Close()
	if r := get(t, srv, "/"); r.code != 200 || !strings.HasPrefix(r.contentType, "text/html") || !strings.Contains(r.body, "/console/js/app.js") {
		t.Errorf("GET /: %d %s", r.code, r.contentType)
	}
	if r := get(t, srv, "/console/app.css"); r.code != 200 || !strings.HasPrefix(r.contentType, "text/css") {
		t.Errorf("GET /console/app.css: %d %s", r.code, r.contentType)
	}
	if r := get(t, srv, "/console/missing.js"); r.code != 404 {
		t.Errorf("GET /console/missing.js: %d", r.code)
	}
	if r := get(t, srv, "/api/v1/streams"); r.code != 200 || !strings.Contains(r.body, `"conseil"`) {
		t.Errorf("GET /api/v1/streams: %d", r.code)
	}
	if r := get(t, srv, "/api/v1/nope"); r.code != 404 || !strings.Contains(r.body, "no such API route") {
		t.Errorf("GET /api/v1/nope: %d %s", r.code, r.body)
	}
	if r := get(t, srv, "/go-live/conseil"); r.code != 200 || !strings.HasPrefix(r.contentType, "text/html") || strings.Contains(r.body, "/console/js/app.js") {
		t.Errorf("GET /go-live/conseil: %d %s", r.code, r.contentType)
	}
	if r := get(t, srv, "/somewhere"); r.code != 404 {
		t.Errorf("GET /somewhere: %d, want 404 (the console routes with #/...)", r.code)
	}

	bare := httptest.NewServer(web.New(web.Options{Registry: newRegistry(t)}).Handler())
	defer bare.Close()
	if r := get(t, bare, "/"); r.code != 404 {
		t.Errorf("GET / without a console: %d", r.code)
	}
}

// TestManagedFlag: streams and destinations of the configuration file are marked managed, so
// that the console shows them read-only.
func TestManagedFlag(t *testing.T) {
	dests := fakeDestinations{"conseil": {
		{Name: "youtube", Protocol: "rtmp", Host: "a.rtmp.youtube.com", Enabled: true, State: outputs.StateLive},
		{Name: "extra", Protocol: "rtmp", Host: "example.net", Enabled: true, State: outputs.StateLive},
	}}
	managed := func(stream, dest string) bool {
		return stream == "conseil" && (dest == "" || dest == "youtube")
	}
	srv := httptest.NewServer(web.New(web.Options{Registry: newRegistry(t), Destinations: dests, Managed: managed}).Handler())
	defer srv.Close()
	var v struct {
		Managed      bool `json:"managed"`
		Destinations []struct {
			Name    string `json:"name"`
			Managed bool   `json:"managed"`
		} `json:"destinations"`
	}
	decode(t, get(t, srv, "/api/v1/streams/conseil"), &v)
	if !v.Managed || len(v.Destinations) != 2 || !v.Destinations[0].Managed || v.Destinations[1].Managed {
		t.Errorf("conseil: %+v", v)
	}
	if r := get(t, srv, "/api/v1/streams/annonces"); strings.Contains(r.body, `"managed"`) {
		t.Errorf("annonces is not managed: %s", r.body)
	}
}
