package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
)

// browserDir holds the playwright-core script and its node_modules (npm ci in .ci/run).
func browserDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "browser")
	_, errNode := exec.LookPath("node")
	_, errMods := os.Stat(filepath.Join(dir, "node_modules", "playwright-core"))
	_, errChromium := os.Stat("/usr/bin/chromium")
	if errNode != nil || errMods != nil || errChromium != nil {
		msg := "browser tests need node, chromium (apt-get install chromium) and `npm ci` in test/browser"
		if os.Getenv("BEFFROI_E2E") == "require" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// runDriver runs a browser driver (script, a file of test/browser) in node with args and
// reads the JSON lines it prints as they come: each is logged, handed to onEvent (when not
// nil) with its event's name, and kept decoded as E, the last of each event by name. The
// page's own console lines are logged only if the test fails. A driver that exits non-zero
// fails the test with its "error" event and its standard error.
func runDriver[E any](t *testing.T, script string, onEvent func(name string, e E), args ...string) map[string]E {
	t.Helper()
	dir := browserDir(t)
	cmd := exec.CommandContext(t.Context(), "node", append([]string{filepath.Join(dir, script)}, args...)...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stderr testutil.LogBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events := map[string]E{}
	var console []string
	var failure string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var head struct{ Event, Text string }
		var e E
		if json.Unmarshal(sc.Bytes(), &head) != nil || json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		switch head.Event {
		case "console":
			console = append(console, sc.Text())
			continue
		case "error":
			failure = head.Text
		}
		t.Logf("%s: %s", script, sc.Bytes())
		events[head.Event] = e
		if onEvent != nil {
			onEvent(head.Event, e)
		}
	}
	_, _ = io.Copy(io.Discard, stdout) // a line too long ends the scan: the driver must not block
	err = cmd.Wait()
	t.Cleanup(func() {
		if t.Failed() && len(console) > 0 {
			t.Logf("%s: the page's console:\n%s", script, strings.Join(console, "\n"))
		}
	})
	if err != nil {
		t.Fatalf("%s: %v (%s)\n%s", script, err, failure, stderr.String())
	}
	return events
}

type browserEvent struct {
	Event string `json:"event"`
	T     int64  `json:"t"` // the browser machine's clock, Unix milliseconds
	MS    int    `json:"ms"`
	Codec string `json:"codec"`
	Text  string `json:"text"`
	OnAir string `json:"onair"`
}

// runGoLive drives the go-live page in headless Chromium with a fake camera; env adds
// variables to the driver's environment (golive.mjs's CHROMIUM, BEFFROI_GOLIVE_STATS).
func runGoLive(t *testing.T, pageURL string, seconds, dropAfter int, screenshot string, env ...string) []browserEvent {
	t.Helper()
	dir := browserDir(t)
	cmd := exec.CommandContext(t.Context(), "node", filepath.Join(dir, "golive.mjs"), pageURL,
		strconv.Itoa(seconds), strconv.Itoa(dropAfter), screenshot)
	cmd.Dir = dir
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.Output()
	var events []browserEvent
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var e browserEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			events = append(events, e)
			if e.Event != "console" {
				t.Logf("browser: %s", sc.Text())
			}
		}
	}
	if err != nil {
		t.Fatalf("go-live page: %v\n%s", err, out)
	}
	return events
}

// checkKeyLeftAddress checks that the go-live page took the publish key out of its address
// (and so out of the history) once it had read it: the address is now want.
func checkKeyLeftAddress(t *testing.T, events []browserEvent, want string) {
	t.Helper()
	if e, ok := findEvent(events, "address"); !ok || e.Text != want {
		t.Errorf("the go-live page's address after load is %q, want %q (no key)", e.Text, want)
	}
}

func findEvent(events []browserEvent, name string) (browserEvent, bool) {
	for _, e := range events {
		if e.Event == name {
			return e, true
		}
	}
	return browserEvent{}, false
}

// TestGoLivePage: a phone (headless Chromium, fake camera and microphone) opens the go-live
// page, presses the button, and the platform (nginx-rtmp) records H.264 video and AAC audio
// that is not silence, although the browser sends Opus. The page then loses its connection
// once and resumes by itself; the platform keeps one single publish session.
func TestGoLivePage(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	n := startNginx(t)
	b := startBeffroi(t, withNginx(n))
	// The link the console makes: the key in the fragment, which no request carries.
	page := "http://" + b.HTTPAddr() + "/go-live/event#key=" + publishKey
	shot := filepath.Join(t.TempDir(), "golive.png")

	events := runGoLive(t, page, 14, 4, shot)
	checkKeyLeftAddress(t, events, "http://"+b.HTTPAddr()+"/go-live/event")
	if c, ok := findEvent(events, "connected"); !ok || c.Codec != "video/H264" {
		t.Errorf("the page did not go live with H.264: %+v", c)
	} else {
		t.Logf("time from pressing the button to connected: %d ms", c.MS)
	}
	if _, ok := findEvent(events, "resumed"); !ok {
		t.Error("the page did not resume after the connection dropped")
	}
	if _, err := os.Stat(shot); err != nil {
		t.Errorf("no screenshot: %v", err)
	}
	s, _ := destStatus(b, "event", "nginx1")
	if s.State != outputs.StateLive || s.Reconnects != 0 {
		t.Errorf("platform destination %+v, want live without reconnects across the drop", s)
	}
	b.Stop(t)

	rec := singleRecording(t, n)
	r := probe(t, rec)
	if r.Video != "h264" || r.Audio != "aac" {
		t.Fatalf("platform recorded %+v, want h264 and aac", r)
	}
	// About 18 s on air. The AAC rendition starts once the source has media, and ffmpeg takes
	// a second or more (several on a loaded machine): only check that the platform got a good
	// part of it, and say how much.
	t.Logf("platform recorded %.1f s of the ~18 s on air", r.Duration)
	if r.Duration < 4 {
		t.Errorf("platform recorded %.1f s of the ~18 s on air", r.Duration)
	}
	if vol := meanVolume(t, rec); vol < -50 {
		t.Errorf("the platform's audio is silence: mean volume %.1f dB", vol)
	} else {
		t.Logf("platform: %s %dx%d + %s, %.1f s, mean volume %.1f dB", r.Video, r.Width, r.Height, r.Audio, r.Duration, vol)
	}
	assertIncreasing(t, rec+" video", packetDTS(t, rec, "v"))

	// Browsers send keyframes only when asked: Beffroi asks every 2 s, as YouTube and
	// Facebook require. The spacing is the request interval plus a round trip and the
	// encoder's reaction.
	keys := keyframeTimes(t, rec)
	var gaps []float64
	for i := 1; i < len(keys); i++ {
		gaps = append(gaps, keys[i]-keys[i-1])
	}
	slices.Sort(gaps)
	t.Logf("platform keyframes: %d, intervals %v s", len(keys), gaps)
	// The largest interval spans the dropped connection (the new session's first keyframe
	// comes with the next request); every other one is the 2 s request interval.
	if len(gaps) < 2 || gaps[len(gaps)-2] > 2.6 {
		t.Errorf("keyframes at the platform: intervals %v s, want about 2 s apart the drop", gaps)
	}
}

// keyframeTimes returns the times of a file's video keyframes, in seconds.
func keyframeTimes(t *testing.T, file string) []float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-skip_frame", "nokey",
		"-show_entries", "frame=pts_time", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe keyframes %s: %v", file, err)
	}
	var ts []float64
	for _, l := range strings.Fields(string(out)) {
		if v, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64); err == nil {
			ts = append(ts, v)
		}
	}
	return ts
}
