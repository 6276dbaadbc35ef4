package clips_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/recordingtest"
	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/web/clips"
	"github.com/beffroi/beffroi/web/store"
)

// bench is a clips service on a fresh store, its HTTP server, and a recording root.
type bench struct {
	t    testing.TB
	st   *store.Store
	svc  *clips.Service
	srv  *httptest.Server
	root string
	// patience is how long wait waits for an export; default 5 minutes.
	patience time.Duration
}

func newBench(t testing.TB, tune ...func(*clips.Service)) *bench {
	t.Helper()
	recordingtest.RequireTools(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := &clips.Service{Store: st, Dir: filepath.Join(dir, "clips")}
	for _, f := range tune {
		f(svc)
	}
	mux := http.NewServeMux()
	svc.Mount(mux, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &bench{t: t, st: st, svc: svc, srv: srv, root: filepath.Join(dir, "recordings")}
}

func (b *bench) recording(id string, parts ...recordingtest.RecordingPart) record.Info {
	b.t.Helper()
	in := recordingtest.MakeRecording(b.t, b.root, record.Info{ID: id, Stream: "concert"}, parts...)
	if err := b.st.Upsert(context.Background(), in); err != nil {
		b.t.Fatal(err)
	}
	return in
}

func (b *bench) do(method, path, ctype string, body []byte) (int, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

type clipJSON struct {
	ID       string  `json:"id"`
	State    string  `json:"state"`
	Progress float64 `json:"progress"`
	Error    string  `json:"error"`
	URL      string  `json:"url"`
	Width    int     `json:"width"`
	Height   int     `json:"height"`
}

// create posts a clip and returns it (HTTP 202), failing the test otherwise.
func (b *bench) create(rec, body string) clipJSON {
	b.t.Helper()
	code, out := b.do("POST", "/api/v1/recordings/"+rec+"/clips", "application/json", []byte(body))
	if code != http.StatusAccepted {
		b.t.Fatalf("POST clip %s: %d %s", body, code, out)
	}
	var c clipJSON
	if err := json.Unmarshal(out, &c); err != nil || c.State != clips.Queued {
		b.t.Fatalf("POST clip: %v %s", err, out)
	}
	return c
}

// wait polls a clip until it is in one of states, or fails the test after a deadline.
func (b *bench) wait(rec, id string, states ...string) clipJSON {
	b.t.Helper()
	deadline := time.Now().Add(cmp.Or(b.patience, 5*time.Minute))
	for {
		code, out := b.do("GET", "/api/v1/recordings/"+rec+"/clips/"+id, "", nil)
		var c clipJSON
		if code != 200 || json.Unmarshal(out, &c) != nil {
			b.t.Fatalf("GET clip: %d %s", code, out)
		}
		for _, s := range states {
			if c.State == s {
				return c
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("clip %s still %s (%.0f%%), want %v", id, c.State, c.Progress*100, states)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fetch downloads a done clip's MP4 into the test's temp dir.
func (b *bench) fetch(c clipJSON) string {
	b.t.Helper()
	code, out := b.do("GET", c.URL, "", nil)
	if code != 200 {
		b.t.Fatalf("GET %s: %d %s", c.URL, code, out)
	}
	path := filepath.Join(b.t.TempDir(), c.ID+".mp4")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// probed is what ffprobe and ffmpeg tell of a clip.
type probed struct {
	VCodec, Profile, PixFmt, ACodec string
	Width, Height, SampleRate       int
	VDuration                       float64
	Flashes, Beeps                  []float64 // seconds from the file's start
	FastStart                       bool      // moov before mdat
}

func analyse(t *testing.T, path string) probed {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries",
		"stream=codec_type,codec_name,profile,pix_fmt,width,height,sample_rate,start_time,duration", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var v struct {
		Streams []struct {
			Type, Codec, Profile, PixFmt string
			Width, Height                int
			SampleRate, Start, Duration  string
		} `json:"streams"`
	}
	// ffprobe's keys are snake_case: map them by hand.
	var raw struct {
		Streams []map[string]any `json:"streams"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatal(err)
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	for _, m := range raw.Streams {
		w, _ := m["width"].(float64)
		h, _ := m["height"].(float64)
		v.Streams = append(v.Streams, struct {
			Type, Codec, Profile, PixFmt string
			Width, Height                int
			SampleRate, Start, Duration  string
		}{str(m, "codec_type"), str(m, "codec_name"), str(m, "profile"), str(m, "pix_fmt"), int(w), int(h),
			str(m, "sample_rate"), str(m, "start_time"), str(m, "duration")})
	}
	var p probed
	var aStart float64
	for _, s := range v.Streams {
		switch s.Type {
		case "video":
			p.VCodec, p.Profile, p.PixFmt, p.Width, p.Height = s.Codec, s.Profile, s.PixFmt, s.Width, s.Height
			p.VDuration, _ = strconv.ParseFloat(s.Duration, 64)
		case "audio":
			p.ACodec = s.Codec
			p.SampleRate, _ = strconv.Atoi(s.SampleRate)
			aStart, _ = strconv.ParseFloat(s.Start, 64)
		}
	}
	// The flashes: frames whose mean luma jumps up.
	out, err = exec.Command("ffprobe", "-v", "error", "-f", "lavfi", "-i", "movie="+path+",scale=32:18,signalstats",
		"-show_entries", "frame=pts_time:frame_tags=lavfi.signalstats.YAVG", "-of", "csv=p=0").Output()
	if err != nil {
		t.Fatalf("ffprobe signalstats: %v", err)
	}
	prev := 0.0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 2 {
			continue
		}
		at, _ := strconv.ParseFloat(f[0], 64)
		y, _ := strconv.ParseFloat(f[1], 64)
		if y > 180 && prev <= 180 {
			p.Flashes = append(p.Flashes, at)
		}
		prev = y
	}
	// The beeps: the first loud sample after a quarter of a second of silence.
	pcm, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "s16le", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg pcm: %v", err)
	}
	quiet := 48000
	for i := 0; i+1 < len(pcm); i += 2 {
		x := int16(binary.LittleEndian.Uint16(pcm[i:]))
		if x > 4000 || x < -4000 {
			if quiet >= 12000 {
				p.Beeps = append(p.Beeps, aStart+float64(i/2)/48000)
			}
			quiet = 0
		} else {
			quiet++
		}
	}
	b, _ := os.ReadFile(path)
	p.FastStart = bytes.Index(b, []byte("moov")) < bytes.Index(b, []byte("mdat"))
	return p
}

const frame = 1.0 / 30

// checkClip checks a clip cut at [in, out] of a beeping recording: the points (the first
// flash, the duration) within a frame, and every beep within a frame of its flash.
func checkClip(t *testing.T, p probed, in, out float64) {
	t.Helper()
	if p.VCodec != "h264" || p.Profile != "High" || p.PixFmt != "yuv420p" || p.ACodec != "aac" || p.SampleRate != 48000 {
		t.Errorf("codecs: %+v", p)
	}
	if !p.FastStart {
		t.Error("the moov is not before the media data (+faststart)")
	}
	if math.Abs(p.VDuration-(out-in)) > frame+0.001 {
		t.Errorf("video lasts %.3f s, the clip is %.3f s", p.VDuration, out-in)
	}
	var want []float64
	for k := math.Ceil(in); k < out-frame; k++ {
		want = append(want, k-in)
	}
	if len(p.Flashes) != len(want) || len(p.Beeps) != len(want) {
		t.Fatalf("flashes at %v, beeps at %v, want one of each at %v", p.Flashes, p.Beeps, want)
	}
	for i, w := range want {
		if d := p.Flashes[i] - w; math.Abs(d) > frame+0.002 {
			t.Errorf("flash %d at %.3f s, want %.3f s (%.0f ms off)", i, p.Flashes[i], w, d*1000)
		}
		if d := p.Beeps[i] - p.Flashes[i]; math.Abs(d) > frame+0.002 {
			t.Errorf("beep %d at %.3f s, its flash at %.3f s: audio %.0f ms off", i, p.Beeps[i], p.Flashes[i], d*1000)
		}
	}
}

// A vertical story clip of a 16:9 recording: cropped to 9:16 at the source's height (a
// 640x360 source gives 202x360, never upscaled), H.264 High + AAC 48 kHz, faststart, the in
// and out points within a frame, audio in sync; with a caption and the logo.
func TestClipShapesAndSync(t *testing.T) {
	b := newBench(t)
	rec := b.recording("concert-1", recordingtest.RecordingPart{Size: "640x360", Seconds: 12, Beeps: true})

	// The logo: a PNG with transparency.
	img := image.NewNRGBA(image.Rect(0, 0, 64, 32))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	img.Set(0, 0, color.NRGBA{})
	var logo bytes.Buffer
	if err := png.Encode(&logo, img); err != nil {
		t.Fatal(err)
	}
	if code, out := b.do("PUT", "/api/v1/clips/logo", "image/png", logo.Bytes()); code != http.StatusNoContent {
		t.Fatalf("PUT logo: %d %s", code, out)
	}

	for _, tc := range []struct {
		body          string
		in, out       float64
		width, height int
	}{
		{`{"in": 2.4, "out": 9.7, "shape": "9:16", "caption": "Fête de la musique — 100% live: 'Arras' [ok]; a,b\nsecond line", "logo": true}`, 2.4, 9.7, 202, 360},
		{`{"in": 0, "out": 5.5, "shape": "1:1"}`, 0, 5.5, 360, 360},
		{`{"in": 6.25, "out": 12, "shape": "16:9"}`, 6.25, 12, 640, 360},
	} {
		c := b.create(rec.ID, tc.body)
		c = b.wait(rec.ID, c.ID, clips.Done, clips.Failed)
		if c.State != clips.Done {
			t.Fatalf("%s: %s: %s", tc.body, c.State, c.Error)
		}
		if c.Width != tc.width || c.Height != tc.height {
			t.Errorf("%s: API says %dx%d, want %dx%d", tc.body, c.Width, c.Height, tc.width, tc.height)
		}
		file := b.fetch(c)
		p := analyse(t, file)
		if d := os.Getenv("BEFFROI_ARTIFACTS"); d != "" {
			// A frame of each clip (caption and logo) for a person to look at.
			_ = os.MkdirAll(filepath.Join(d, "clips"), 0o755)
			_ = exec.Command("ffmpeg", "-v", "error", "-y", "-ss", "1.5", "-i", file, "-frames:v", "1",
				filepath.Join(d, "clips", "frame-"+strings.ReplaceAll(c.ID, ":", "")+".png")).Run()
		}
		if p.Width != tc.width || p.Height != tc.height {
			t.Errorf("%s: ffprobe says %dx%d, want %dx%d", tc.body, p.Width, p.Height, tc.width, tc.height)
		}
		checkClip(t, p, tc.in, tc.out)
		t.Logf("%s: flashes %v, beeps %v", tc.body, p.Flashes, p.Beeps)
	}
}

// A clip across a discontinuity (a reconnect at 6 s, 640x360 then 1280x720): one file at
// the larger part's crop, every second's beep with its flash on both sides of the seam.
func TestClipAcrossDiscontinuity(t *testing.T) {
	b := newBench(t)
	rec := b.recording("concert-2", recordingtest.RecordingPart{Size: "640x360", Seconds: 6, Beeps: true},
		recordingtest.RecordingPart{Size: "1280x720", Seconds: 6, Beeps: true})
	c := b.create(rec.ID, `{"in": 3.5, "out": 9.2, "shape": "9:16"}`)
	c = b.wait(rec.ID, c.ID, clips.Done, clips.Failed)
	if c.State != clips.Done {
		t.Fatalf("%s: %s", c.State, c.Error)
	}
	p := analyse(t, b.fetch(c))
	if p.Width != 404 || p.Height != 720 {
		t.Errorf("size %dx%d, want 404x720", p.Width, p.Height)
	}
	checkClip(t, p, 3.5, 9.2)
	t.Logf("flashes %v, beeps %v", p.Flashes, p.Beeps)
}

// Bad requests get a 400 that says what is wrong, and nothing is queued.
func TestClipRefusesBadRequests(t *testing.T) {
	b := newBench(t)
	rec := b.recording("concert-3", recordingtest.RecordingPart{Size: "320x180", Seconds: 8})
	for body, want := range map[string]string{
		`{"in": 5, "out": 3}`:                             "out (3.000 s) must be after in (5.000 s)",
		`{"in": 0, "out": 61}`:                            "at most 60 s",
		`{"in": 2, "out": 30}`:                            "after the recording's end",
		`{"in": -1, "out": 3}`:                            "before the recording's start",
		`{"in": 1}`:                                       "in and out are required",
		`{"in": 1, "out": 3, "shape": "4:3"}`:             "is not one of 9:16, 1:1, 16:9",
		`{"in": 1, "out": 3, "logo": true}`:               "no logo was uploaded",
		`{"in": 1, "out": 3, "caption": "a\u0007b"}`:      "control characters",
		`{"in": 1, "out": 3, "colour": "red"}`:            "unknown field",
		`{"in": 1, "out": 3, "caption": "1\n2\n3\n4\n5"}`: "5 lines, at most 4",
	} {
		code, out := b.do("POST", "/api/v1/recordings/"+rec.ID+"/clips", "application/json", []byte(body))
		if code != http.StatusBadRequest || !strings.Contains(string(out), want) {
			t.Errorf("%s: %d %s, want 400 with %q", body, code, out, want)
		}
	}
	if code, out := b.do("POST", "/api/v1/recordings/nope/clips", "application/json", []byte(`{"in":0,"out":2}`)); code != 404 {
		t.Errorf("unknown recording: %d %s", code, out)
	}
	if code, out := b.do("PUT", "/api/v1/clips/logo", "image/png", []byte("GIF89a not a png")); code != 400 || !strings.Contains(string(out), "not a PNG") {
		t.Errorf("a GIF as logo: %d %s", code, out)
	}
	if code, out := b.do("PUT", "/api/v1/clips/logo", "image/png", make([]byte, 2<<20)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MiB logo: %d %s", code, out)
	}
	code, out := b.do("GET", "/api/v1/recordings/"+rec.ID+"/clips", "", nil)
	if code != 200 || !strings.Contains(string(out), `"clips": []`) {
		t.Errorf("clips after refused requests: %d %s", code, out)
	}
}

// A recording whose media is damaged: the export fails and says why, in ffmpeg's words,
// without a path of the server's disk; cancel and delete work; deleting the recording
// takes its clips, rows and files.
func TestClipFailureCancelAndRemoval(t *testing.T) {
	b := newBench(t)
	rec := b.recording("concert-4", recordingtest.RecordingPart{Size: "320x180", Seconds: 8})
	good := b.create(rec.ID, `{"in": 1, "out": 7}`)
	good = b.wait(rec.ID, good.ID, clips.Done, clips.Failed)
	if good.State != clips.Done {
		t.Fatalf("%s: %s", good.State, good.Error)
	}
	// The timeline's thumbnails are JPEGs, made once.
	code, out := b.do("GET", "/api/v1/recordings/"+rec.ID+"/clips/timeline?count=3", "", nil)
	var tl struct {
		Duration float64
		Thumbs   []struct {
			At  float64
			URL string
		}
	}
	if code != 200 || json.Unmarshal(out, &tl) != nil || len(tl.Thumbs) != 3 || math.Abs(tl.Duration-rec.Duration) > 0.01 {
		t.Fatalf("timeline: %d %s", code, out)
	}
	for _, th := range tl.Thumbs {
		code, out := b.do("GET", th.URL, "", nil)
		if code != 200 || !bytes.HasPrefix(out, []byte{0xff, 0xd8}) {
			t.Errorf("%s: %d, %d bytes", th.URL, code, len(out))
		}
	}

	// Damage every media segment: ffmpeg finds no frame to decode.
	for i := range rec.Segments {
		if err := os.WriteFile(filepath.Join(rec.Dir, fmt.Sprintf("seg-%d.m4s", i)), bytes.Repeat([]byte("garbage!"), 512), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad := b.create(rec.ID, `{"in": 1, "out": 7, "shape": "1:1"}`)
	bad = b.wait(rec.ID, bad.ID, clips.Done, clips.Failed)
	if bad.State != clips.Failed || bad.Error == "" || strings.Contains(bad.Error, "/") || strings.Contains(bad.Error, b.root) {
		t.Errorf("a damaged recording's clip: %s, error %q", bad.State, bad.Error)
	}
	t.Logf("failed export says: %s", bad.Error)
	if code, out := b.do("POST", "/api/v1/recordings/"+rec.ID+"/clips/"+bad.ID+"/cancel", "", nil); code != http.StatusConflict {
		t.Errorf("cancel a failed clip: %d %s", code, out)
	}
	if code, _ := b.do("DELETE", "/api/v1/recordings/"+rec.ID+"/clips/"+bad.ID, "", nil); code != http.StatusNoContent {
		t.Errorf("delete a clip: %d", code)
	}

	// The recording goes, its clips with it.
	clipsDir := filepath.Join(b.svc.Dir, rec.ID)
	if _, err := os.Stat(filepath.Join(clipsDir, good.ID+".mp4")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.Delete(context.Background(), rec.ID); err != nil {
		t.Fatal(err)
	}
	b.svc.RecordingRemoved(rec.ID)
	if list, err := b.st.Clips(context.Background(), rec.ID); err != nil || len(list) != 0 {
		t.Errorf("clips of a deleted recording: %v %v", list, err)
	}
	if _, err := os.Stat(clipsDir); !os.IsNotExist(err) {
		t.Errorf("clips directory of a deleted recording: %v", err)
	}
}

// Cancel stops a running export: its ffmpeg is killed and the clip says cancelled.
func TestClipCancel(t *testing.T) {
	b := newBench(t)
	rec := b.recording("concert-5", recordingtest.RecordingPart{Size: "1280x720", Seconds: 24})
	c := b.create(rec.ID, `{"in": 0, "out": 24, "shape": "16:9"}`)
	queued := b.create(rec.ID, `{"in": 0, "out": 10}`)
	b.wait(rec.ID, c.ID, clips.Exporting, clips.Done)
	for _, id := range []string{c.ID, queued.ID} {
		code, out := b.do("POST", "/api/v1/recordings/"+rec.ID+"/clips/"+id+"/cancel", "", nil)
		if code == http.StatusConflict {
			t.Skipf("the export was done before it could be cancelled: %s", out)
		}
		if code != 200 {
			t.Fatalf("cancel: %d %s", code, out)
		}
	}
	for _, id := range []string{c.ID, queued.ID} {
		got := b.wait(rec.ID, id, clips.Cancelled, clips.Done, clips.Failed)
		if got.State != clips.Cancelled {
			t.Errorf("clip %s after cancel: %s %s", id, got.State, got.Error)
		}
	}
	// The worker is free again: a new clip is exported.
	next := b.create(rec.ID, `{"in": 0, "out": 2, "shape": "1:1"}`)
	if got := b.wait(rec.ID, next.ID, clips.Done, clips.Failed); got.State != clips.Done {
		t.Errorf("the next clip: %s %s", got.State, got.Error)
	}
	if m, _ := filepath.Glob(filepath.Join(b.svc.Dir, rec.ID, ".export-*")); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}

// Only the segments that cover the clip are read: with every other segment gone from the
// disk (the playlist still lists them), the clip is still made.
func TestClipReadsOnlyItsSegments(t *testing.T) {
	b := newBench(t)
	rec := b.recording("concert-6", recordingtest.RecordingPart{Size: "320x180", Seconds: 12, Beeps: true})
	// Segments are 2 s: [5.2, 7.8] needs seg-2 (4-6) and seg-3 (6-8) only.
	for i := range rec.Segments {
		if i != 2 && i != 3 {
			if err := os.Remove(filepath.Join(rec.Dir, fmt.Sprintf("seg-%d.m4s", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := b.create(rec.ID, `{"in": 5.2, "out": 7.8, "shape": "16:9"}`)
	c = b.wait(rec.ID, c.ID, clips.Done, clips.Failed)
	if c.State != clips.Done {
		t.Fatalf("%s: %s", c.State, c.Error)
	}
	checkClip(t, analyse(t, b.fetch(c)), 5.2, 7.8)
}

// TestClipFromObjectStorage: with the recording's media uploaded and removed from the disk
// (record.storage: s3), the export fetches back the init segment and the covering segments,
// and nothing else.
func TestClipFromObjectStorage(t *testing.T) {
	bucket := t.TempDir()
	var mu sync.Mutex
	var fetched []string
	b := newBench(t, func(s *clips.Service) {
		s.Fetch = func(_ context.Context, id, name, dst string) error {
			mu.Lock()
			fetched = append(fetched, name)
			mu.Unlock()
			data, err := os.ReadFile(filepath.Join(bucket, id, name))
			if err != nil {
				return err
			}
			return os.WriteFile(dst, data, 0o600)
		}
	})
	rec := b.recording("concert-7", recordingtest.RecordingPart{Size: "320x180", Seconds: 12, Beeps: true})
	// The uploader's work: every media file goes to the bucket, the playlist stays.
	if err := os.MkdirAll(filepath.Join(bucket, rec.ID), 0o750); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(rec.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".m4s") || strings.HasPrefix(n, "init") {
			if err := os.Rename(filepath.Join(rec.Dir, n), filepath.Join(bucket, rec.ID, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := b.create(rec.ID, `{"in": 5.2, "out": 7.8, "shape": "16:9"}`)
	c = b.wait(rec.ID, c.ID, clips.Done, clips.Failed)
	if c.State != clips.Done {
		t.Fatalf("%s: %s", c.State, c.Error)
	}
	checkClip(t, analyse(t, b.fetch(c)), 5.2, 7.8)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(fetched)
	if len(fetched) != 3 || !strings.HasPrefix(fetched[0], "init") || fetched[1] != "seg-2.m4s" || fetched[2] != "seg-3.m4s" {
		t.Errorf("fetched %v from the bucket, want the init segment, seg-2 and seg-3", fetched)
	}
}
