package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/recordingtest"
	"github.com/beffroi/beffroi/outputs/record"
)

// playback is what replays.mjs reports of one play-and-seek.
type playback struct {
	Event    string   `json:"event"`
	Text     string   `json:"text"`
	Engine   string   `json:"engine"`
	Labels   []string `json:"labels"`
	Cards    int      `json:"cards"`
	Lang     string   `json:"lang"`
	Duration float64  `json:"duration"`
	Mid      float64  `json:"mid"`
	Landed   float64  `json:"landed"`
	Frames   int      `json:"frames"`
	Now      float64  `json:"now"`
	Colours  int      `json:"colours"`
	Width    int      `json:"width"`
	Before   float64  `json:"before"`
	After    float64  `json:"after"`
}

// TestReplayPlaysAndSeeks: a finished recording, titled and published through the API,
// is listed on /replays, and headless Chromium plays it on /replays/{id} (HLS through
// hls.js or natively) and as the MP4, seeking to the middle and drawing frames there.
func TestReplayPlaysAndSeeks(t *testing.T) {
	recordingtest.RequireTools(t, "ffmpeg", "ffprobe")
	dir := browserDir(t)
	b := startBeffroi(t, nil)
	in := recordingtest.MakeRecording(t, filepath.Join(b.Cfg.DataDir, "recordings"),
		record.Info{ID: "event-20261127T200000Z", Stream: "event", Started: time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)},
		recordingtest.RecordingPart{Size: "640x360", Seconds: 12})
	b.Store.Recorded(in) // what the recorder does, until the lead connects it
	disc := recordingtest.MakeRecording(t, filepath.Join(b.Cfg.DataDir, "recordings"),
		record.Info{ID: "event-20261127T210000Z", Stream: "event", Started: time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)},
		recordingtest.RecordingPart{Size: "640x360", Seconds: 6}, recordingtest.RecordingPart{Size: "1280x720", Seconds: 6})
	b.Store.Recorded(disc)

	base := "http://" + b.HTTPAddr()
	if code, body := do(t, "GET", base+"/replays/"+in.ID, ""); code != http.StatusNotFound {
		t.Fatalf("unpublished replay page: %d %s", code, body)
	}
	if code, body := do(t, "PATCH", base+"/api/v1/recordings/"+in.ID, `{"title":"Concert de la Sainte-Cécile","published":true}`); code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	if code, body := do(t, "PATCH", base+"/api/v1/recordings/"+disc.ID, `{"published":true}`); code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	resp, err := http.Get(base + "/embed/replays/" + in.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Frame-Options") != "" {
		t.Fatalf("embed page: %d, X-Frame-Options %q", resp.StatusCode, resp.Header.Get("X-Frame-Options"))
	}

	_, file, _, _ := runtime.Caller(0)
	shots := filepath.Join(filepath.Dir(file), "artifacts", "replays")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "node", filepath.Join(dir, "replays.mjs"), base, in.ID, shots, disc.ID)
	cmd.Dir = dir
	out, err := cmd.Output()
	got := map[string]playback{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var p playback
		if json.Unmarshal(sc.Bytes(), &p) == nil {
			got[p.Event] = p
			t.Logf("browser: %s", sc.Text())
		}
	}
	if err != nil {
		t.Fatalf("replays.mjs: %v\n%s", err, out)
	}
	t.Logf("screenshots: %s/replays.png, %s/player.png", shots, shots)

	if l := got["list"]; l.Cards != 2 || l.Lang != "fr" {
		t.Errorf("/replays?lang=fr: %+v", l)
	}
	h := got["hls"]
	if h.Engine == "" || h.Engine == "mp4" {
		t.Errorf("the player page fell back to %q instead of HLS", h.Engine)
	}
	for _, l := range h.Labels {
		if strings.TrimSpace(l) == "" {
			t.Errorf("a button without a label: %v", h.Labels)
		}
	}
	if e := got["hlsjs"].Engine; e != "hls.js" {
		t.Errorf("?engine=hlsjs played with %q", e)
	}
	for name, p := range map[string]playback{"HLS": h, "hls.js": got["hlsjs"], "MP4": got["mp4"]} {
		if math.Abs(p.Duration-in.Duration) > 2 {
			t.Errorf("%s: duration %.2f, recorded %.2f", name, p.Duration, in.Duration)
		}
		if math.Abs(p.Landed-p.Mid) > 1 || p.Now <= p.Landed {
			t.Errorf("%s: seek to %.2f landed at %.2f, then %.2f", name, p.Mid, p.Landed, p.Now)
		}
		if p.Frames < 10 || p.Colours < 8 || p.Width != 640 {
			t.Errorf("%s: %d frames drawn after the seek, %d colours, width %d", name, p.Frames, p.Colours, p.Width)
		}
	}
	// The discontinuity (640x360, then 1280x720) plays through with both HLS engines.
	for _, engine := range []string{"native", "hlsjs"} {
		p, ok := got["disc-"+engine]
		if !ok {
			t.Errorf("discontinuity with %s: no report", engine)
			continue
		}
		if math.Abs(p.Landed-p.Mid) > 1 || p.Now <= p.Landed || p.Frames < 10 || p.Width != 1280 {
			t.Errorf("discontinuity with %s: seek to %.2f landed at %.2f, %d frames, width %d", engine, p.Mid, p.Landed, p.Frames, p.Width)
		}
	}
	if k := got["keyboard"]; k.After > k.Before-1 {
		t.Errorf("the Back 10 s button pressed with the keyboard: %.2f -> %.2f", k.Before, k.After)
	}
}

// do sends a request as the public does, or, with a path under /api/, as an operator with
// the instance's API token.
func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(url, "/api/") {
		req.Header.Set("Authorization", "Bearer "+adminToken)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
