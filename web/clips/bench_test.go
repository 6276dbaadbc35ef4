package clips_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

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

// BenchmarkClipFromTwoHours: a 60 s 9:16 clip from the middle of a two-hour recording (160x90,
// so that making it takes minutes, not an hour; it is kept in $BEFFROI_BENCH_CACHE or the
// temporary directory for the next run). Reports ffmpeg's peak memory and the share of the
// recording's bytes the export read; B/op is Beffroi's own allocation per clip.
//
//	go test -run '^$' -bench ClipFromTwoHours -benchtime 3x ./web/clips
func BenchmarkClipFromTwoHours(b *testing.B) {
	cache := os.Getenv("BEFFROI_BENCH_CACHE")
	if cache == "" {
		cache = filepath.Join(os.TempDir(), "beffroi-bench-clips")
	}
	const id = "long-2h"
	dir := filepath.Join(cache, id)
	if _, err := os.Stat(filepath.Join(dir, record.PlaylistFile)); err != nil {
		_ = os.RemoveAll(dir)
		b.Logf("making a two-hour recording in %s (once)", dir)
		recordingtest.MakeRecording(b, cache, record.Info{ID: id, Stream: "long"},
			recordingtest.RecordingPart{Size: "160x90", Seconds: 7200})
	}
	in, err := record.ReadInfo(dir)
	if err != nil {
		b.Fatal(err)
	}
	var logs lockedBuffer
	t := newBench(b, func(s *clips.Service) { s.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	if err := t.st.Upsert(b.Context(), in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c := t.create(id, `{"in": 3570.5, "out": 3630.5, "shape": "9:16"}`)
		if c = t.wait(id, c.ID, clips.Done, clips.Failed); c.State != clips.Done {
			b.Fatalf("%s: %s", c.State, c.Error)
		}
	}
	b.StopTimer()
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
	// The export reads the segments that cover [in, out], 2 s each: 31 of 3600.
	var read int64
	for i := 1785; i <= 1815; i++ {
		if fi, err := os.Stat(filepath.Join(dir, "seg-"+strconv.Itoa(i)+".m4s")); err == nil {
			read += fi.Size()
		}
	}
	b.ReportMetric(rss/(1<<20), "ffmpeg-MB")
	b.ReportMetric(100*float64(read)/float64(in.Size), "%-of-recording-read")
	b.ReportMetric(float64(in.Size)/(1<<20), "recording-MB")
}
