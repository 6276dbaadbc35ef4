package manage_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
	"github.com/beffroi/beffroi/web/manage"
	"github.com/beffroi/beffroi/web/manage/managetest"
)

// rtmpLike is an idlePusher that takes what RTMP takes: a destination of it may have a shape.
type rtmpLike struct{ idlePusher }

func (rtmpLike) Needs() transcode.Needs {
	return transcode.Needs{Video: []relay.Codec{relay.H264}, Audio: []relay.Codec{relay.AAC}}
}

// TestDestinationShapeAPI: a destination is added with a shape, which the API shows and the
// store keeps; an unknown shape is refused with a clear error; PATCH changes it (and keeps
// the URL); a destination of the configuration file cannot change its shape here.
func TestDestinationShapeAPI(t *testing.T) {
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: time.Minute})
	t.Cleanup(reg.StopAll)
	if _, err := reg.Add("fichier", "file-key-0123"); err != nil {
		t.Fatal(err)
	}
	rend := transcode.New(transcode.Options{})
	t.Cleanup(rend.Close)
	newRTMP := func(*url.URL, outputs.Options) (outputs.Pusher, error) { return rtmpLike{}, nil }
	outs := outputs.NewManager(reg, map[string]outputs.NewPusherFunc{"rtmp": newRTMP, "rtmps": newRTMP}, outputs.Options{Renditions: rend})
	if err := outs.Add("fichier", outputs.DestinationConfig{Name: "insta", URL: "rtmps://live-upload.instagram.com:443/rtmp/ig-file-key", Shape: "vertical-crop"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = outs.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	store := &managetest.MemStore{}
	logs := &testutil.LogBuffer{}
	h := &manage.Handler{Registry: reg, Outputs: outs, Store: store, Log: logs.Logger(),
		Managed: func(stream, dest string) bool { return stream == "fichier" }}
	mux := http.NewServeMux()
	h.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv}
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		code, m := f.do(t, method, path, body)
		testutil.AssertNoSecret(t, method+" "+path, logs.String(), "ig-key-1", "ig-file-key")
		return code, m
	}
	if code, m := do("POST", "/api/v1/streams", `{"name":"concert"}`); code != http.StatusCreated {
		t.Fatalf("create the stream: %d %v", code, m)
	}
	const dests = "/api/v1/streams/concert/destinations"
	code, m := do("POST", dests, `{"name":"insta","url":"rtmps://live-upload.instagram.com:443/rtmp/ig-key-1","shape":"portrait"}`)
	if code != http.StatusBadRequest || !strings.Contains(m["error"].(string), `shape: unknown shape "portrait": give vertical-crop or vertical-blur`) {
		t.Fatalf("unknown shape: %d %v", code, m)
	}
	code, m = do("POST", dests, `{"name":"insta","url":"rtmps://live-upload.instagram.com:443/rtmp/ig-key-1","shape":"vertical-blur"}`)
	if code != http.StatusCreated || m["shape"] != "vertical-blur" {
		t.Fatalf("add with a shape: %d %v", code, m)
	}
	stored := func() manage.Destination {
		t.Helper()
		ds, _ := store.ListDestinations(t.Context())
		for _, d := range ds {
			if d.Stream == "concert" && d.Name == "insta" {
				return d
			}
		}
		t.Fatal("the destination is not stored")
		return manage.Destination{}
	}
	if d := stored(); d.Shape != "vertical-blur" {
		t.Fatalf("stored %+v", d)
	}
	code, m = do("PATCH", dests+"/insta", `{"shape":"vertical-crop"}`)
	if code != http.StatusOK || m["shape"] != "vertical-crop" || m["host"] != "live-upload.instagram.com:443" {
		t.Fatalf("change the shape: %d %v", code, m)
	}
	if d := stored(); d.Shape != "vertical-crop" || !strings.HasSuffix(d.URL, "/ig-key-1") {
		t.Fatalf("stored after PATCH %+v", d)
	}
	// Back to the source's picture; the switch leaves the shape alone.
	if code, m = do("PATCH", dests+"/insta", `{"shape":""}`); code != http.StatusOK || m["shape"] != nil {
		t.Fatalf("no shape: %d %v", code, m)
	}
	if code, m = do("PATCH", dests+"/insta", `{"shape":"vertical-crop"}`); code != http.StatusOK {
		t.Fatalf("shape again: %d %v", code, m)
	}
	if code, m = do("PATCH", dests+"/insta", `{"enabled":false}`); code != http.StatusOK || m["shape"] != "vertical-crop" {
		t.Fatalf("switch off: %d %v", code, m)
	}
	if code, m = do("PATCH", "/api/v1/streams/fichier/destinations/insta", `{"shape":"vertical-blur"}`); code != http.StatusConflict {
		t.Fatalf("shape of a destination of the file: %d %v", code, m)
	}
}
