package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/recordingtest"
	"github.com/beffroi/beffroi/outputs/record"
)

// TestClipEditor: the console's story clip editor in headless Chromium, on a finished
// recording of a running Beffroi: the timeline's thumbnails load, a too-long clip is refused
// in the form, a 9:16 clip with a caption and the uploaded logo is exported with its
// progress shown, and the MP4 it links to is what ffprobe expects (404x720, the 720p
// source's 9:16 crop, never upscaled; H.264 + AAC; the chosen length within a frame).
// Screenshots of the editor go to BEFFROI_ARTIFACTS/clips.
func TestClipEditor(t *testing.T) {
	recordingtest.RequireTools(t, "ffmpeg", "ffprobe")
	dir := browserDir(t)
	b := startBeffroi(t, func(c *config.Config) { c.Admin.Password = adminPassword })
	in := recordingtest.MakeRecording(t, b.Cfg.RecordingsDir(),
		record.Info{ID: "fete-20261203T200000Z", Stream: "fete", Started: time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC)},
		recordingtest.RecordingPart{Size: "1280x720", Seconds: 12})
	b.Store.Recorded(in)
	base := "http://" + b.HTTPAddr()

	var logo bytes.Buffer
	if err := png.Encode(&logo, image.NewGray(image.Rect(0, 0, 120, 40))); err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, "PUT", base+"/api/v1/clips/logo", logo.String()); code != http.StatusNoContent {
		t.Fatalf("PUT logo: %d %s", code, body)
	}

	artifacts := artifactsDir(t, "clips")
	args, _ := json.Marshal(map[string]any{"base": base, "password": adminPassword, "recording": in.ID,
		"in": 2.5, "out": 8.5, "caption": "Fête de la musique : 100% Arras", "artifacts": artifacts})
	cmd := exec.CommandContext(t.Context(), "node", filepath.Join(dir, "clip.mjs"), string(args))
	cmd.Dir = dir
	out, err := cmd.Output()
	got := map[string]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			got[m["event"].(string)] = m
			t.Logf("browser: %s", sc.Text())
		}
	}
	if err != nil {
		t.Fatalf("clip.mjs: %v\n%s", err, out)
	}
	t.Logf("screenshots: %s", artifacts)
	if n, _ := got["timeline"]["thumbs"].(float64); n < 5 {
		t.Errorf("timeline: %v thumbnails", got["timeline"]["thumbs"])
	}
	if got["form"]["too_long_refused"] != true {
		t.Errorf("a 70 s clip could be sent: %v", got["form"])
	}
	href, _ := got["done"]["href"].(string)
	if !strings.HasPrefix(href, "/api/v1/recordings/"+in.ID+"/clips/") {
		t.Fatalf("download link %q", href)
	}
	code, body := do(t, "GET", base+strings.TrimSuffix(href, "?download"), "")
	if code != 200 {
		t.Fatalf("GET %s: %d", href, code)
	}
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height,duration",
		"-of", "compact=p=0:nk=1", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(pr)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "h264|404|720|") || !strings.HasPrefix(lines[1], "aac|") {
		t.Fatalf("ffprobe: %q", pr)
	}
	var d float64
	if f := strings.Split(lines[0], "|"); len(f) == 4 {
		d, _ = strconv.ParseFloat(f[3], 64)
	}
	if math.Abs(d-6) > 1.0/30+0.001 {
		t.Errorf("the clip's video lasts %.3f s, want 6 s", d)
	}

	// Deleting the recording deletes its clips: rows and files.
	clipsDir := filepath.Join(b.Cfg.DataDir, "clips", in.ID)
	if _, err := os.Stat(clipsDir); err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, "DELETE", base+"/api/v1/recordings/"+in.ID, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE recording: %d %s", code, body)
	}
	if code, _ := do(t, "GET", base+strings.TrimSuffix(href, "?download"), ""); code != http.StatusNotFound {
		t.Errorf("the clip of a deleted recording: %d", code)
	}
	if _, err := os.Stat(clipsDir); !os.IsNotExist(err) {
		t.Errorf("the clips of a deleted recording are still on disk: %v", err)
	}
}
