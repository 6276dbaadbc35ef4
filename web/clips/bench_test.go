package clips_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/recordingtest"
	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/web/clips"
)

// lockedBuffer is a log sink the service's goroutines and the benchmark share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cachedRecording makes a recording once in $BEFFROI_BENCH_CACHE (or the temporary
// directory) and returns it on the next runs.
func cachedRecording(b *testing.B, id string, parts ...recordingtest.RecordingPart) record.Info {
	cache := os.Getenv("BEFFROI_BENCH_CACHE")
	if cache == "" {
		cache = filepath.Join(os.TempDir(), "beffroi-bench-clips")
	}
	dir := filepath.Join(cache, id)
	if _, err := os.Stat(filepath.Join(dir, record.PlaylistFile)); err != nil {
		_ = os.RemoveAll(dir)
		b.Logf("making the recording %s (once)", dir)
		recordingtest.MakeRecording(b, cache, record.Info{ID: id, Stream: "bench"}, parts...)
	}
	in, err := record.ReadInfo(dir)
	if err != nil {
		b.Fatal(err)
	}
	return in
}

// exportLoop exports the clip body of recording in b.N times and reports ffmpeg's peak
// memory and its CPU time per clip (user + system, so the figure holds on a busy machine).
func exportLoop(b *testing.B, in record.Info, body string) {
	var logs lockedBuffer
	t := newBench(b, func(s *clips.Service) { s.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	t.patience = 20 * time.Minute // a 1080p export under nice on a machine busy with others' tests
	if err := t.st.Upsert(b.Context(), in); err != nil {
		b.Fatal(err)
	}
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &before)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c := t.create(in.ID, body)
		if c = t.wait(in.ID, c.ID, clips.Done, clips.Failed); c.State != clips.Done {
			b.Fatalf("%s: %s", c.State, c.Error)
		}
	}
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &after)
	cpu := time.Duration(syscall.TimevalToNsec(after.Utime) - syscall.TimevalToNsec(before.Utime) +
		syscall.TimevalToNsec(after.Stime) - syscall.TimevalToNsec(before.Stime))
	var rss float64
	sc := bufio.NewScanner(bytes.NewReader([]byte(logs.String())))
	for sc.Scan() {
		var l struct {
			Msg string  `json:"msg"`
			RSS float64 `json:"ffmpeg_max_rss"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "clip exported" {
			rss = max(rss, l.RSS)
		}
	}
	b.ReportMetric(rss/(1<<20), "ffmpeg-MB")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "ffmpeg-cpu-s/op")
}

// BenchmarkClipFromTwoHours: a 60 s 9:16 clip from the middle of a two-hour recording (160x90,
// so that making it takes minutes, not an hour; it is kept for the next run, see
// cachedRecording). Reports ffmpeg's peak memory and CPU, and the share of the recording's
// bytes the export read; B/op is Beffroi's own allocation per clip (HTTP polling included).
//
//	go test -run '^$' -bench ClipFromTwoHours -benchtime 3x ./web/clips
func BenchmarkClipFromTwoHours(b *testing.B) {
	in := cachedRecording(b, "long-2h", recordingtest.RecordingPart{Size: "160x90", Seconds: 7200})
	exportLoop(b, in, `{"in": 3570.5, "out": 3630.5, "shape": "9:16"}`)
	// The export reads the segments that cover [in, out], 2 s each: 31 of 3600.
	var read int64
	for i := 1785; i <= 1815; i++ {
		if fi, err := os.Stat(filepath.Join(in.Dir, "seg-"+strconv.Itoa(i)+".m4s")); err == nil {
			read += fi.Size()
		}
	}
	b.ReportMetric(100*float64(read)/float64(in.Size), "%-of-recording-read")
	b.ReportMetric(float64(in.Size)/(1<<20), "recording-MB")
}

// BenchmarkClipFullHD: the encoder's share, a 60 s clip of a 1920x1080 recording in each
// shape (9:16 gives 606x1080, 1:1 1080x1080, 16:9 1920x1080).
//
//	go test -run '^$' -bench ClipFullHD -benchtime 1x ./web/clips
func BenchmarkClipFullHD(b *testing.B) {
	in := cachedRecording(b, "fullhd-70s", recordingtest.RecordingPart{Size: "1920x1080", Seconds: 70})
	for _, shape := range []string{"9:16", "1:1", "16:9"} {
		b.Run(strings.ReplaceAll(shape, ":", "x"), func(b *testing.B) {
			exportLoop(b, in, `{"in": 5, "out": 65, "shape": "`+shape+`"}`)
		})
	}
}
