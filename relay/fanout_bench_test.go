package relay

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
)

// BenchmarkFanout publishes a simulated 6 Mbit/s, 30 fps H.264 stream with 48 kHz AAC to 1,
// 100 and 1000 readers, each a goroutine calling Next in a loop. One op is one frame
// published and delivered to every reader. The publisher does not wait for the readers; the
// ring holds the whole run, so no reader loses a frame and every frame is delivered to every
// reader: the figures are the cost of fan-out, not of skipping.
//
// Metrics: ns/frame-reader is the run's wall time over the frames delivered; allocs/frame-reader
// counts every allocation of the run (the publisher's included) over the frames delivered;
// allocs/frame is the same over frames published; p50-us and p99-us are how long after
// WriteFrame a reader got the frame. As the publisher runs unpaced, far ahead of the readers,
// the delays are the backlog at the end of a burst of b.N frames, not a live stream's latency.
func BenchmarkFanout(b *testing.B) {
	for _, readers := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			benchmarkFanout(b, readers)
		})
	}
}

// maxDelaySamples bounds the delay samples each reader keeps.
const maxDelaySamples = 1024

func benchmarkFanout(b *testing.B, readers int) {
	video, audio := h264Track(b, testutil.SPS720()), aacTrack(b)
	n := b.N

	// Frames are made before the clock starts: what is measured is the relay, not the
	// publisher building its frames. Payloads are shared, as frames are never modified.
	var (
		keyUnits   = [][]byte{make([]byte, 4*25000)}
		videoUnits = [][]byte{make([]byte, 25000)}
		audioUnits = [][]byte{make([]byte, 400)}
	)
	frames := make([]*Frame, n)
	for i, nv, na := 0, 0, 0; i < n; i++ {
		vd, ad := time.Duration(nv)*videoStep, time.Duration(na)*audioStep
		if vd <= ad {
			key := nv%60 == 0
			units := videoUnits
			if key {
				units = keyUnits
			}
			frames[i] = &Frame{Track: video, DTS: vd, PTS: vd, Key: key, Units: units}
			nv++
		} else {
			frames[i] = &Frame{Track: audio, DTS: ad, PTS: ad, Key: true, Units: audioUnits}
			na++
		}
	}
	last := frames[n-1]

	s := NewStream(StreamOptions{Name: "bench", PublishKey: "k", RingSize: max(DefaultRingSize, n)})
	defer s.Stop()
	p := s.Publish(SourceInfo{Protocol: "rtmp"})
	if _, err := p.SetTrack(video); err != nil {
		b.Fatal(err)
	}
	if _, err := p.SetTrack(audio); err != nil {
		b.Fatal(err)
	}

	stride := (n + maxDelaySamples - 1) / maxDelaySamples
	delays := make([][]time.Duration, readers)
	counts := make([]int, readers)
	errs := make([]error, readers)
	rs := make([]*Reader, readers)
	var wg sync.WaitGroup
	for i := range readers {
		r, err := s.Subscribe(ReaderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rs[i] = r
		delays[i] = make([]time.Duration, 0, maxDelaySamples)
		wg.Go(func() {
			// Not a cancellable context, which would allocate its Done channel: the watchdog
			// below stops the stream instead.
			ctx := context.Background()
			d := delays[i]
			count := 0
			for {
				f, err := r.Next(ctx)
				if err != nil {
					errs[i] = err
					break
				}
				if count%stride == 0 && len(d) < cap(d) {
					d = append(d, time.Since(f.Published))
				}
				count++
				if f == last {
					break
				}
			}
			delays[i], counts[i] = d, count
		})
	}
	allRead := make(chan struct{})
	go func() {
		wg.Wait()
		close(allRead)
	}()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	for _, f := range frames {
		if err := p.WriteFrame(f); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-allRead:
	case <-time.After(2 * time.Minute):
		s.Stop()
		<-allRead
		b.Fatalf("readers did not get every frame within 2 minutes")
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)

	delivered := 0
	var skipped uint64
	var all []time.Duration
	for i, r := range rs {
		if errs[i] != nil {
			b.Fatalf("reader %d: %v", i, errs[i])
		}
		delivered += counts[i]
		skipped += r.Skipped()
		all = append(all, delays[i]...)
		r.Close()
	}
	if skipped != 0 || delivered != n*readers {
		b.Fatalf("delivered %d frames of %d, skipped %d", delivered, n*readers, skipped)
	}
	slices.Sort(all)
	mallocs := float64(after.Mallocs - before.Mallocs)
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(delivered), "ns/frame-reader")
	b.ReportMetric(mallocs/float64(delivered), "allocs/frame-reader")
	b.ReportMetric(mallocs/float64(n), "allocs/frame")
	b.ReportMetric(float64(percentile(all, 50).Microseconds()), "p50-us")
	b.ReportMetric(float64(percentile(all, 99).Microseconds()), "p99-us")
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}

var memoSink any

func buildMemoBench(f *Frame) any {
	b := append([]byte(nil), f.Units[0]...)
	return &b
}

// BenchmarkMemo measures Frame.Memo when the representation is already there, the path every
// reader but the first takes. The key looked up is the first memoised of three, the farthest
// in the frame's list.
func BenchmarkMemo(b *testing.B) {
	f := &Frame{Units: [][]byte{make([]byte, 1000)}}
	keys := []*MemoKey{NewMemoKey("rtmp"), NewMemoKey("mpegts"), NewMemoKey("fmp4")}
	for _, k := range keys {
		f.Memo(k, buildMemoBench)
	}
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			memoSink = f.Memo(keys[0], buildMemoBench)
		}
	})
	b.Run("hit-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var v any
			for pb.Next() {
				v = f.Memo(keys[0], buildMemoBench)
			}
			_ = v
		})
	})
}
