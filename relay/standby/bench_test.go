package standby

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

// BenchmarkEncode720p30 measures the one encoding a standby costs: a one-second loop of the
// built-in slate at 1280x720, 30 fps, with AAC silence. Reported: ffmpeg's CPU per loop.
func BenchmarkEncode720p30(b *testing.B) {
	if testing.Short() {
		b.Skip("runs ffmpeg")
	}
	video, audio := relaytest.H264Track(b), relaytest.AACTrack(b)
	p, _, err := paramsOf(video, audio, 30, true)
	if err != nil {
		b.Fatal(err)
	}
	p.title = "concert"
	var cpu time.Duration
	for b.Loop() {
		l, err := encode(context.Background(), "ffmpeg", p, video, audio)
		if err != nil {
			b.Fatal(err)
		}
		cpu += l.cpu
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "ffmpeg-cpu-s/loop")
}

// BenchmarkStandIn720p30 measures what a standby costs while it lasts: the loop replayed on
// the wall clock into a stream with one reader, for 5 s per iteration. Reported: this
// process's CPU as a share of one core.
func BenchmarkStandIn720p30(b *testing.B) {
	if testing.Short() {
		b.Skip("runs ffmpeg")
	}
	st := relay.NewStream(relay.StreamOptions{Name: "concert", Grace: time.Hour, RingSize: 4096})
	b.Cleanup(st.Stop)
	pub := relaytest.Publish(b, st, relaytest.Options{})
	pub.Send(time.Second)
	p, _, err := paramsOf(pub.Video(), pub.Audio(), 30, true)
	if err != nil {
		b.Fatal(err)
	}
	l, err := encode(context.Background(), "ffmpeg", p, pub.Video(), pub.Audio())
	if err != nil {
		b.Fatal(err)
	}
	pub.Close()
	rd, err := st.Subscribe(relay.ReaderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	go func() {
		for {
			if _, err := rd.Next(context.Background()); err != nil {
				return
			}
		}
	}()
	f := &follower{st: st, loop: l}
	var total, wall time.Duration
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		before, start := cpuTime(), time.Now()
		f.standIn(ctx)
		total += cpuTime() - before
		wall += time.Since(start)
		cancel()
	}
	b.ReportMetric(100*total.Seconds()/wall.Seconds(), "%core")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
