package e2e

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
)

// TestBenchRTMPToPlatform measures, for bench/README.md, the time from an RTMP encoder
// (ffmpeg -re, a keyframe every 2 s) connecting to the first video frame in an nginx-rtmp
// platform's recording, over BEFFROI_BENCH_RUNS runs (default 5), with the stages in between.
// BEFFROI_BENCH_VIDEO_ONLY=1 publishes the clip without its audio. It runs only with
// BEFFROI_BENCH=1 and asserts no timing: only that each run reached the platform.
//
//	BEFFROI_BENCH=1 BEFFROI_E2E=require go test -run TestBenchRTMPToPlatform -v ./test/e2e
func TestBenchRTMPToPlatform(t *testing.T) {
	requireBench(t)
	runs := benchRuns(5)
	var extra []string
	if os.Getenv("BEFFROI_BENCH_VIDEO_ONLY") == "1" {
		extra = []string{"-an"}
	}
	clip := makeClip(t)
	var all []firstFrameRun
	for i := range runs {
		r := firstFrameOnce(t, clip, extra...)
		t.Logf("run %d: %s", i+1, r)
		all = append(all, r)
	}
	median := func(f func(firstFrameRun) time.Duration) time.Duration {
		var s []time.Duration
		for _, r := range all {
			s = append(s, f(r))
		}
		return medianOf(s)
	}
	t.Logf("median of %d runs: %s", runs, firstFrameRun{
		live:   median(func(r firstFrameRun) time.Duration { return r.live }),
		tracks: median(func(r firstFrameRun) time.Duration { return r.tracks }),
		dest:   median(func(r firstFrameRun) time.Duration { return r.dest }),
		first:  median(func(r firstFrameRun) time.Duration { return r.first }),
		ts:     median(func(r firstFrameRun) time.Duration { return r.ts }),
	})
}

// requireBench skips a measurement unless BEFFROI_BENCH=1, and needs the peers.
func requireBench(t *testing.T) {
	t.Helper()
	if os.Getenv("BEFFROI_BENCH") != "1" {
		t.Skip("a measurement: set BEFFROI_BENCH=1")
	}
	requirePeers(t)
}

// benchRuns returns how many runs a measurement makes: BEFFROI_BENCH_RUNS, or def.
func benchRuns(def int) int {
	if n, err := strconv.Atoi(os.Getenv("BEFFROI_BENCH_RUNS")); err == nil && n > 0 {
		return n
	}
	return def
}

// medianOf returns the median of ds (the upper one of an even count).
func medianOf[T cmp.Ordered](ds []T) T {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// firstFrameRun is one run's stages, each from the start of the ffmpeg process.
type firstFrameRun struct {
	live   time.Duration // the stream turned live: the encoder connected and published
	tracks time.Duration // the stream had its video track
	dest   time.Duration // the destination was live at nginx
	first  time.Duration // nginx's recording held its first video frame
	ts     time.Duration // that frame's timestamp, from the first tag's
}

func (r firstFrameRun) String() string {
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	return fmt.Sprintf("ffmpeg start -> stream live %s, -> tracks %s, -> destination live %s, -> first video frame at nginx %s (encoder connect -> first frame %s; its timestamp %s)",
		ms(r.live), ms(r.tracks), ms(r.dest), ms(r.first), ms(r.first-r.live), ms(r.ts))
}

// firstFrameOnce publishes clip once on fresh instances and returns when each stage was seen.
func firstFrameOnce(t *testing.T, clip string, extra ...string) firstFrameRun {
	n := startNginx(t)
	b := startBeffroi(t, func(c *config.Config) {
		withNginx(n)(c)
		c.Log.Level = "warn"
	})
	st := b.Registry.Get("event")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	ff := publish(t, ctx, b.PublishURL(publishKey), clip, 6, extra...)
	var r firstFrameRun
	deadline := time.Now().Add(15 * time.Second)
	for r.first == 0 {
		if time.Now().After(deadline) || ff.Exited() {
			t.Fatalf("no video frame reached the platform: %+v; recordings %v", r, n.Recordings())
		}
		now := time.Since(start)
		if s, _ := st.State(); s == relay.Live && r.live == 0 {
			r.live = now
		}
		if st.Track(relay.Video) != nil && r.tracks == 0 {
			r.tracks = now
		}
		if s, ok := destStatus(b, "event", "nginx1"); ok && s.State == outputs.StateLive && r.dest == 0 {
			r.dest = now
		}
		for _, f := range n.Recordings() {
			if ts, ok := firstVideoFrame(f); ok {
				r.first, r.ts = now, ts
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	b.Stop(t)
	return r
}

// firstVideoFrame reads an FLV file as far as it is written and returns the timestamp of its
// first coded video frame (not a sequence header), relative to the first tag.
func firstVideoFrame(file string) (time.Duration, bool) {
	b, err := os.ReadFile(file)
	if err != nil || len(b) < 13 || !strings.HasPrefix(string(b), "FLV") {
		return 0, false
	}
	first := int64(-1)
	for p := 13; p+11 <= len(b); {
		size := int(b[p+1])<<16 | int(b[p+2])<<8 | int(b[p+3])
		ts := int64(b[p+7])<<24 | int64(b[p+4])<<16 | int64(b[p+5])<<8 | int64(b[p+6])
		if p+11+size > len(b) {
			return 0, false
		}
		if first < 0 {
			first = ts
		}
		data := b[p+11 : p+11+size]
		if b[p]&0x1f == 9 && len(data) >= 2 {
			coded := data[1] == 1 // AVC/HEVC packet type: NAL units
			if data[0]&0x80 != 0 {
				coded = data[0]&0x0f == 1 || data[0]&0x0f == 3 // enhanced RTMP: coded frames, frames X
			}
			if coded {
				return time.Duration(ts-first) * time.Millisecond, true
			}
		}
		p += 11 + size + 4
	}
	return 0, false
}
