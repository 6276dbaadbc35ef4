package record

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// BenchmarkRecord records a simulated 6 Mbit/s stream: H.264 at 30 fps (an IDR of 100,000
// bytes every 60 frames, P frames of 23,300 bytes) and 48 kHz AAC (46.875 frames of 400 bytes
// per second), published through a relay stream and read by a Recorder writing 2 s segments
// under the benchmark's temporary directory (or BEFFROI_BENCH_DIR). One op is one second of
// media. The publisher waits for the recorder after each second of media, so the figures are
// the recorder's own cost, not the relay skipping frames.
//
// Metrics: cpu-ms/s-media is the process's user+system CPU time per second of media (the
// publisher's share is small: it only appends to the ring); x-realtime is how many times
// faster than real time the recorder wrote; written/media is the bytes of every file of the
// recording (segments, init, playlist and recording.json as they are at the end) over the
// payload bytes published; rewritten-MB is the bytes written to playlists and recording.json
// along the way (replaced after every segment), which written/media does not count.
func BenchmarkRecord(b *testing.B) {
	root := b.TempDir()
	if d := os.Getenv("BEFFROI_BENCH_DIR"); d != "" {
		var err error
		if root, err = os.MkdirTemp(d, "bench-record-"); err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(root)
	}
	reg := relay.NewRegistry(relay.RegistryOptions{RingSize: 4096})
	st, err := reg.Add("bench", "bench-publish-key")
	if err != nil {
		b.Fatal(err)
	}
	rec := New(reg, Options{Root: root})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = rec.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()

	pub := st.Publish(relay.SourceInfo{Protocol: "bench"})
	v, err := relay.NewH264Track(testutil.SPS720(), testutil.PPS())
	if err != nil {
		b.Fatal(err)
	}
	a, err := relay.NewAACTrack(testutil.ASC())
	if err != nil {
		b.Fatal(err)
	}
	if v, err = pub.SetTrack(v); err != nil {
		b.Fatal(err)
	}
	if a, err = pub.SetTrack(a); err != nil {
		b.Fatal(err)
	}
	testutil.WaitFor(b, "the recorder to subscribe", func() bool { return st.Info().Readers == 1 })
	idr, p, aac := make([]byte, 100000), make([]byte, 23300), make([]byte, 400)
	idr[0], p[0] = 0x65, 0x41
	var nv, na int
	var media, sent uint64
	second := func() {
		end := time.Duration(nv+30) * time.Second / 30
		for {
			vd := time.Duration(nv) * time.Second / 30
			ad := time.Duration(na) * 1024 * time.Second / 48000
			var f *relay.Frame
			switch {
			case vd >= end && ad >= end:
				return
			case vd <= ad:
				unit := p
				if nv%60 == 0 {
					unit = idr
				}
				f = &relay.Frame{Track: v, DTS: vd, PTS: vd, Key: nv%60 == 0, Units: [][]byte{unit}}
				nv++
			default:
				f = &relay.Frame{Track: a, DTS: ad, PTS: ad, Key: true, Units: [][]byte{aac}}
				na++
			}
			media += uint64(f.Size())
			if err := pub.WriteFrame(f); err != nil {
				b.Fatal(err)
			}
			sent++
		}
	}

	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		second()
		for rec.frames.Load() < sent {
			time.Sleep(200 * time.Microsecond)
		}
	}
	pub.Close()
	// The last segment and the final playlist are part of the cost.
	var in Info
	for {
		entries, _ := os.ReadDir(root)
		if len(entries) == 1 {
			if in, err = ReadInfo(filepath.Join(root, entries[0].Name())); err == nil && in.State == Finished {
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())

	var written int64
	entries, _ := os.ReadDir(in.Dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			written += fi.Size()
		}
	}
	// Each segment replaced the playlist (a line pair per segment so far) and recording.json.
	plBytes, _ := os.ReadFile(filepath.Join(in.Dir, PlaylistFile))
	infoBytes, _ := os.ReadFile(filepath.Join(in.Dir, InfoFile))
	rewritten := float64(in.Segments) * (float64(len(plBytes))/2 + float64(len(infoBytes)))

	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/s-media")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "x-realtime")
	b.ReportMetric(float64(written)/float64(media), "written/media")
	b.ReportMetric(rewritten/1e6, "rewritten-MB")
	b.ReportMetric(float64(media)*8/float64(b.N)/1e6, "media-Mbit/s")
}
