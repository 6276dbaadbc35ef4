package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/beffroi/beffroi/web/assets"
	"github.com/beffroi/beffroi/web/watch"
)

// TestWatchPageHLSFallback: when WHEP refuses the viewer (here: B-frames), the watch page
// plays LL-HLS with hls.js, sends beacons carrying the session token of the media playlist
// it loaded, and shows the viewer count of the public status. The HLS origin, the beacon
// endpoint and the public status are stood in for by this test, with the contracts the HLS
// and audience packages serve: the media playlist URL carries ?session=<token>, POST
// /api/v1/beacon takes {"stream","session","protocol":"hls"}, GET
// /api/v1/public/streams/{name} returns {"name","live","viewers"}.
func TestWatchPageHLSFallback(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	hlsDir := t.TempDir()
	// 30 s of HLS, 2 s segments, from the test clip (which has B-frames: HLS plays them).
	out, err := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-stream_loop", "2",
		"-i", makeClip(t), "-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0",
		"-hls_playlist_type", "vod", "-hls_segment_filename", filepath.Join(hlsDir, "seg%03d.ts"),
		filepath.Join(hlsDir, "media.m3u8")).CombinedOutput()
	if err != nil {
		t.Fatalf("making the HLS: %v\n%s", err, out)
	}

	var (
		mu       sync.Mutex
		beacons  []map[string]string
		sessions = map[string]int{} // session tokens of media playlist requests
	)
	mux := http.NewServeMux()
	wp := watch.Handler(watch.Options{Mode: watch.ModeAuto})
	mux.Handle("GET /watch/", wp)
	mux.Handle("GET /assets/", assets.Handler())
	mux.HandleFunc("POST /whep/event", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the stream's video has B-frames, which WebRTC players cannot show smoothly: watch it over HLS", http.StatusUnsupportedMediaType)
	})
	mux.HandleFunc("GET /hls/event/index.m3u8", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		fmt.Fprint(w, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\"\nmedia.m3u8?session=tok-5e1f\n")
	})
	files := http.StripPrefix("/hls/event/", http.FileServer(http.Dir(hlsDir)))
	mux.HandleFunc("GET /hls/event/{file}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("file") == "media.m3u8" {
			mu.Lock()
			sessions[r.URL.Query().Get("session")]++
			mu.Unlock()
		}
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("POST /api/v1/beacon", func(w http.ResponseWriter, r *http.Request) {
		var b map[string]string
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		beacons = append(beacons, b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /api/v1/public/streams/event", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"name":"event","live":true,"viewers":42}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	artifacts := artifactsDir(t, "watch-hls")
	t.Logf("screenshot of the watch page on HLS in %s", artifacts)
	events := runDriver[map[string]any](t, "watch.mjs", nil, srv.URL+"/watch/event", artifacts, "14", "live")
	if p := events["live"]["protocol"]; p != "hls" {
		t.Errorf("the page plays over %v, want hls after WHEP refused it", p)
	}
	m := events["measured"]
	if f, _ := m["frames"].(float64); f < 30 {
		t.Errorf("hls.js rendered %v frames in 14 s", m["frames"])
	}
	if a, _ := m["advanced"].(float64); a < 5 {
		t.Errorf("currentTime advanced %v s in 14 s", m["advanced"])
	}
	st := events["state"]
	if st["session"] != "tok-5e1f" || !strings.Contains(fmt.Sprint(st["viewers"]), "42") {
		t.Errorf("page state %v: want the session token of the media playlist and 42 viewers on the badge", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if sessions["tok-5e1f"] == 0 {
		t.Errorf("media playlist requests by session: %v", sessions)
	}
	if len(beacons) == 0 {
		t.Fatal("no beacon in 14 s of HLS playback (one every 12 s)")
	}
	for _, b := range beacons {
		if b["stream"] != "event" || b["session"] != "tok-5e1f" || b["protocol"] != "hls" {
			t.Errorf("beacon %v, want stream event, session tok-5e1f, protocol hls", b)
		}
	}
	t.Logf("%d beacons; media playlist requests by session %v", len(beacons), sessions)
}
