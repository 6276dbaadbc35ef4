package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
)

// hlsSummary is the last line hlsplay.mjs prints.
type hlsSummary struct {
	Frames       int      `json:"frames"`
	Width        int      `json:"width"`
	CurrentTime  float64  `json:"currentTime"`
	Advanced     float64  `json:"advanced"`
	Latency      float64  `json:"latency"`
	Behind       float64  `json:"behind"`
	Session      string   `json:"session"`
	Beacons      int      `json:"beacons"`
	PlaylistURLs []string `json:"playlistURLs"`
	FragURLs     []string `json:"fragURLs"`
	Errors       []string `json:"errors"`
}

// playHLS plays a stream's LL-HLS with hls.js in headless Chromium from origin for seconds,
// posting a beacon every beaconEvery seconds (0: none).
func playHLS(t *testing.T, origin, stream string, seconds, beaconEvery int) hlsSummary {
	t.Helper()
	dir := browserDir(t)
	cmd := exec.CommandContext(t.Context(), "node", filepath.Join(dir, "hlsplay.mjs"), origin, stream,
		strconv.Itoa(seconds), strconv.Itoa(beaconEvery))
	cmd.Dir = dir
	out, err := cmd.Output()
	var sum hlsSummary
	found := false
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var e struct {
			Event string `json:"event"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		t.Logf("browser: %s", sc.Text())
		if e.Event == "summary" {
			found = json.Unmarshal(sc.Bytes(), &sum) == nil
		}
	}
	if err != nil || !found {
		t.Fatalf("hls.js did not play %s/hls/%s/index.m3u8: %v", origin, stream, err)
	}
	return sum
}

func httpGet(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

// audienceNow reads /api/v1/streams/{name}/audience.
func audienceNow(t *testing.T, b *beffroi, stream string) (now map[string]int, distinct int) {
	t.Helper()
	body, err := b.get("/api/v1/streams/" + stream + "/audience")
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Now      map[string]int `json:"now"`
		Distinct int            `json:"distinct"`
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("audience %q: %v", body, err)
	}
	return a.Now, a.Distinct
}

var uriRE = regexp.MustCompile(`(?m)^([^#\s][^\s]*)$|URI="([^"]+)"`)

// TestHLSPlaysInBrowser: an RTMP publish is played over LL-HLS by hls.js in Chromium; the
// playlists, parts and segments carry headers made for caches; the player is one viewer.
func TestHLSPlaysInBrowser(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	b := startBeffroi(t, func(c *config.Config) {
		c.HLS.AllowOrigins = []string{"https://town.example"}
		c.Audience.Window = 4 * time.Second
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	publish(t, ctx, b.PublishURL(publishKey), makeClip(t), 120)
	waitStream(t, b, "event", "live", 15*time.Second)
	base := "http://" + b.HTTPAddr() + "/hls/event/"

	// The multivariant playlist: one per player (a session token), never kept by a cache.
	resp, mv := httpGet(t, base+"index.m3u8", "Origin", "https://town.example")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("multivariant: %s: %s", resp.Status, mv)
	}
	checkHeader(t, resp, "multivariant", "Content-Type", "application/vnd.apple.mpegurl")
	checkHeader(t, resp, "multivariant", "Cache-Control", "private, no-store")
	checkHeader(t, resp, "multivariant", "Access-Control-Allow-Origin", "https://town.example")
	if !strings.Contains(string(mv), "_stream.m3u8?session=") {
		t.Fatalf("multivariant without a session token:\n%s", mv)
	}
	resp, _ = httpGet(t, base+"index.m3u8", "Origin", "https://elsewhere.example")
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("an origin not allowed got Access-Control-Allow-Origin %q", v)
	}
	media := ""
	for _, m := range uriRE.FindAllStringSubmatch(string(mv), -1) {
		if u := m[1] + m[2]; strings.HasPrefix(u, "video") {
			media = u
		}
	}
	resp, pl := httpGet(t, base+media)
	checkHeader(t, resp, "media playlist", "Cache-Control", "public, max-age=1")
	checkHeader(t, resp, "media playlist", "Content-Type", "application/vnd.apple.mpegurl")
	for _, want := range []string{"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES", "#EXT-X-PART-INF", "#EXT-X-PART:", "#EXT-X-PRELOAD-HINT"} {
		if !strings.Contains(string(pl), want) {
			t.Errorf("media playlist without %s:\n%s", want, pl)
		}
	}
	var part, seg string
	for _, m := range uriRE.FindAllStringSubmatch(string(pl), -1) {
		u := m[1] + m[2]
		switch {
		case strings.Contains(u, "_part"):
			part = u
		case strings.Contains(u, "_seg"):
			seg = u
		}
	}
	for _, f := range []string{part, seg} {
		resp, body := httpGet(t, base+f)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Fatalf("GET %s: %s (%d bytes)", f, resp.Status, len(body))
		}
		checkHeader(t, resp, f, "Cache-Control", "public, max-age=31536000, immutable")
		checkHeader(t, resp, f, "Content-Type", "video/mp4")
	}
	resp, _ = httpGet(t, base+"video1_stream.m3u8?_HLS_msn=abc")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("_HLS_msn=abc: %s, want 400", resp.Status)
	}

	_, before := audienceNow(t, b, "event")
	sum := playHLS(t, "http://"+b.HTTPAddr(), "event", 15, 0)
	t.Logf("hls.js: %d frames, currentTime advanced %.1f s, %.2f s behind live (hls.js latency %.2f s)",
		sum.Frames, sum.Advanced, sum.Behind, sum.Latency)
	if sum.Frames == 0 || sum.Advanced <= 0 {
		t.Fatalf("hls.js rendered %d frames, currentTime advanced %.2f s", sum.Frames, sum.Advanced)
	}
	if sum.Session == "" {
		t.Fatal("the media playlist URL hls.js loaded has no session token")
	}
	for _, u := range sum.FragURLs {
		if strings.Contains(u, "session=") {
			t.Errorf("hls.js kept the session token on a part or segment (%s): caches would store one copy per viewer", u)
		}
	}
	// One player, one viewer.
	now, distinct := audienceNow(t, b, "event")
	if now["hls"] < 1 || distinct != before+1 {
		t.Errorf("audience right after playing: now %v, distinct %d; want hls >= 1 and distinct %d (one more)", now, distinct, before+1)
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		if now, _ := audienceNow(t, b, "event"); now["hls"] != 0 {
			return fmt.Errorf("hls viewers %d after the player left, want 0 once the window is over", now["hls"])
		}
		return nil
	})
}

func checkHeader(t *testing.T, resp *http.Response, what, key, want string) {
	t.Helper()
	if got := resp.Header.Get(key); got != want {
		t.Errorf("%s: %s = %q, want %q", what, key, got, want)
	}
}

// cacheConf is an nginx caching reverse proxy in front of Beffroi, as a town would put one (or
// a CDN). Media playlists are cached by their blocking-request parameters only, without the
// player's session token: what a cache set up for scale does, and the case the beacons are
// for (the origin sees one request per part, not one per viewer).
const cacheConf = `daemon off; master_process off; worker_processes 1;
pid %[1]s/nginx.pid; error_log %[1]s/error.log info;
events { worker_connections 512; }
http {
  access_log %[1]s/access.log;
  proxy_cache_path %[1]s/cache levels=1:2 keys_zone=hls:10m max_size=200m inactive=60s use_temp_path=off;
  proxy_http_version 1.1;
  proxy_read_timeout 30s;
  proxy_cache_lock on;
  proxy_cache_lock_timeout 10s;
  add_header X-Cache-Status $upstream_cache_status always;
  server {
    listen 127.0.0.1:%[2]d;
    location ~ _stream\.m3u8$ {
      proxy_pass http://%[3]s;
      proxy_cache hls;
      proxy_cache_key "$uri?msn=$arg__HLS_msn&part=$arg__HLS_part&skip=$arg__HLS_skip";
    }
    location / {
      proxy_pass http://%[3]s;
      proxy_cache hls;
    }
  }
}
`

// startCache starts nginx as a caching reverse proxy in front of upstream; it returns its
// origin and its directory (access.log).
func startCache(t *testing.T, upstream string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		if err := os.WriteFile(conf, fmt.Appendf(nil, cacheConf, dir, port, upstream), 0o644); err != nil {
			t.Fatal(err)
		}
		n := &nginx{t: t, dir: dir, port: port}
		n.proc = startProcess(t, context.Background(), fmt.Sprintf("nginx cache :%d", port),
			"nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
		err := n.waitReady(10 * time.Second)
		if err == nil {
			return "http://127.0.0.1:" + strconv.Itoa(port), dir
		}
		n.proc.Kill()
		if attempt == 5 {
			t.Fatalf("nginx cache did not start: %v\n%s", err, n.ErrorLog())
		}
		os.Remove(filepath.Join(dir, "error.log"))
	}
}

// TestHLSThroughNginxCache: behind nginx proxy_cache, LL-HLS still plays in hls.js, parts and
// segments come from the cache, and the player's beacons with its HLS requests count one
// viewer; it drops out once its beacons stop.
func TestHLSThroughNginxCache(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	b := startBeffroi(t, func(c *config.Config) {
		c.Audience.Window = 3 * time.Second
		c.Audience.BeaconWindow = 8 * time.Second
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	publish(t, ctx, b.PublishURL(publishKey), makeClip(t), 120)
	waitStream(t, b, "event", "live", 15*time.Second)
	origin, dir := startCache(t, b.HTTPAddr())

	// Sample the count while the player plays: it must never be more than one.
	var mu sync.Mutex
	var counts []int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			body, err := b.get("/api/v1/streams/event/audience")
			if err != nil {
				continue
			}
			var a struct {
				Now map[string]int `json:"now"`
			}
			if json.Unmarshal([]byte(body), &a) == nil {
				mu.Lock()
				counts = append(counts, a.Now["total"])
				mu.Unlock()
			}
		}
	}()
	sum := playHLS(t, origin, "event", 18, 2)
	close(stop)
	<-done
	t.Logf("through nginx: %d frames, advanced %.1f s, %.2f s behind live, %d beacons", sum.Frames, sum.Advanced, sum.Behind, sum.Beacons)
	if sum.Frames == 0 || sum.Advanced <= 0 {
		t.Fatalf("hls.js through nginx rendered %d frames, advanced %.2f s", sum.Frames, sum.Advanced)
	}
	if sum.Beacons == 0 {
		t.Fatal("the player sent no beacon")
	}
	mu.Lock()
	t.Logf("viewers counted while playing (every 0.5 s): %v", counts)
	seen1 := false
	for _, c := range counts {
		if c > 1 {
			t.Errorf("counted %d viewers of one player (beacons and HLS requests must be one viewer)", c)
		}
		seen1 = seen1 || c == 1
	}
	mu.Unlock()
	if !seen1 {
		t.Error("the player was never counted")
	}
	if _, distinct := audienceNow(t, b, "event"); distinct != 1 {
		t.Errorf("distinct viewers %d, want 1", distinct)
	}
	// The cache served parts and segments: the access log of nginx shows hits.
	log, _ := os.ReadFile(filepath.Join(dir, "access.log"))
	t.Logf("nginx: %d requests", strings.Count(string(log), "\n"))
	testutil.Eventually(t, 20*time.Second, func() error {
		if now, _ := audienceNow(t, b, "event"); now["total"] != 0 {
			return fmt.Errorf("%d viewers after the player left, want 0 once the beacon window is over", now["total"])
		}
		return nil
	})
	// Requests through the cache: a part asked twice is a hit the second time.
	resp, pl := httpGet(t, origin+"/hls/event/video1_stream.m3u8")
	var part string
	for _, m := range uriRE.FindAllStringSubmatch(string(pl), -1) {
		if u := m[1] + m[2]; strings.Contains(u, "_part") {
			part = u
		}
	}
	if resp.StatusCode != http.StatusOK || part == "" {
		t.Fatalf("media playlist through nginx: %s\n%s", resp.Status, pl)
	}
	httpGet(t, origin+"/hls/event/"+part)
	resp, _ = httpGet(t, origin+"/hls/event/"+part)
	if s := resp.Header.Get("X-Cache-Status"); s != "HIT" {
		t.Errorf("a part asked twice through nginx: X-Cache-Status %q, want HIT", s)
	}
}

// TestRTMPPlayerIsAViewer: an RTMP player (rtmp.read) is counted while it plays, exactly;
// destinations are not viewers.
func TestRTMPPlayerIsAViewer(t *testing.T) {
	requirePeers(t)
	n := startNginx(t)
	b := startBeffroi(t, func(c *config.Config) {
		c.RTMP.Read = true
		withNginx(n)(c)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	publish(t, ctx, b.PublishURL(publishKey), makeSmallClip(t), 60)
	waitStream(t, b, "event", "live", 15*time.Second)
	player := startProcess(t, ctx, "ffmpeg player", "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-i", "rtmp://"+b.RTMPAddr()+"/live/event", "-t", "6", "-c", "copy", "-f", "null", "-")
	testutil.Eventually(t, 15*time.Second, func() error {
		if now, _ := audienceNow(t, b, "event"); now["rtmp"] != 1 || now["total"] != 1 {
			return fmt.Errorf("audience %v while one RTMP player plays (and a destination pushes), want rtmp 1, total 1", now)
		}
		return nil
	})
	if err := player.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("player: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if now, _ := audienceNow(t, b, "event"); now["total"] != 0 {
			return fmt.Errorf("audience %v after the player left, want none", now)
		}
		return nil
	})
}

// TestHLSNewParameters: the publisher comes back within the reconnect grace with another
// resolution (a phone rotating, an encoder restarted): the HLS goes on with the same media
// sequence, a discontinuity and a new init segment, and hls.js keeps playing, at the new size.
func TestHLSNewParameters(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	b := startBeffroi(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := publish(t, ctx, b.PublishURL(publishKey), makeClip(t), 12)
	waitStream(t, b, "event", "live", 15*time.Second)
	pl := "http://" + b.HTTPAddr() + "/hls/event/video1_stream.m3u8"
	testutil.Eventually(t, 15*time.Second, func() error {
		if resp, _ := httpGet(t, pl); resp.StatusCode != http.StatusOK {
			return fmt.Errorf("media playlist: %s", resp.Status)
		}
		return nil
	})
	_, body := httpGet(t, pl)
	seq0 := mediaSequence(string(body))
	var sum hlsSummary
	played := make(chan struct{})
	go func() {
		defer close(played)
		sum = playHLS(t, "http://"+b.HTTPAddr(), "event", 24, 0)
	}()
	if err := first.Wait(t, 30*time.Second); err != nil {
		t.Logf("first publisher: %v", err)
	}
	publish(t, ctx, b.PublishURL(publishKey), makeSmallClip(t), 30)
	testutil.Eventually(t, 20*time.Second, func() error {
		_, body := httpGet(t, pl)
		if !strings.Contains(string(body), "#EXT-X-DISCONTINUITY") {
			return fmt.Errorf("no discontinuity yet:\n%s", body)
		}
		return nil
	})
	_, body = httpGet(t, pl)
	if seq := mediaSequence(string(body)); seq < seq0 {
		t.Errorf("media sequence went back from %d to %d across the new parameters", seq0, seq)
	}
	if n := strings.Count(string(body), "#EXT-X-MAP"); n != 2 {
		t.Errorf("%d EXT-X-MAP in the playlist across the change, want 2 (old and new init segments):\n%s", n, body)
	}
	<-played
	if t.Failed() {
		return
	}
	t.Logf("hls.js across the change: %d frames, advanced %.1f s, width %d, %.2f s behind live", sum.Frames, sum.Advanced, sum.Width, sum.Behind)
	// Playing on at the new size is the proof that hls.js followed the change.
	if sum.Width != 640 || sum.Frames == 0 {
		t.Errorf("hls.js shows %d pixels wide at the end (%d frames), want 640 (the new resolution)", sum.Width, sum.Frames)
	}
}

func mediaSequence(pl string) int {
	_, v, _ := strings.Cut(pl, "#EXT-X-MEDIA-SEQUENCE:")
	v, _, _ = strings.Cut(v, "\n")
	n, _ := strconv.Atoi(v)
	return n
}
