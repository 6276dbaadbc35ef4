package transcode

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// webrtcNeeds are a WebRTC viewer's: H.264 or VP8 without B-frames, Opus.
var webrtcNeeds = Needs{Video: []relay.Codec{relay.H264, relay.VP8}, Audio: []relay.Codec{relay.Opus}, NoBFrames: true}

func TestMakePlanBFrames(t *testing.T) {
	h264 := &relay.Track{Codec: relay.H264, Width: 1281, Height: 720}
	opus, aac := relay.NewOpusTrack(2), &relay.Track{Codec: relay.AAC}
	p, err := makePlan(h264, opus, webrtcNeeds, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.videoOut != relay.H264 || p.audioOut != "" || p.ivf() || p.outW != 1280 || p.outH != 720 || p.suffix() != "h264" {
		t.Errorf("plan %+v (suffix %q), want the video re-encoded at its own size, the audio copied", p, p.suffix())
	}
	args := strings.Join((&rendition{m: New(Options{})}).args(p, 2_500_000), " ")
	for _, want := range []string{"-f mpegts -i pipe:0", "-map 0:v:0", "-map 0:a:0", "-c:v libx264", "-tune zerolatency",
		"-bf 0", "-b:v 2500000", keyframeExpr, "scale=1280:720", "-c:a copy"} {
		if !strings.Contains(args, want) {
			t.Errorf("%q missing from %s", want, args)
		}
	}
	// low_delay would have the decoder hand out B-frames in the order they are decoded.
	for _, not := range []string{"low_delay", "pipe:3", "-copyts"} {
		if strings.Contains(args, not) {
			t.Errorf("%q in %s", not, args)
		}
	}
	if p, _ := makePlan(h264, aac, webrtcNeeds, false); p.videoOut != "" || p.audioOut != relay.Opus {
		t.Errorf("no B-frames: plan %+v, want the video copied and Opus made", p)
	}
	if _, err := makePlan(&relay.Track{Codec: relay.H265}, aac, Needs{Video: []relay.Codec{relay.H265}, NoBFrames: true}, true); err == nil {
		t.Error("H265 with B-frames planned for needs without H264")
	}
	if !strings.Contains(webrtcNeeds.String(), "no B-frames") || webrtcNeeds.String() == (Needs{Video: webrtcNeeds.Video, Audio: webrtcNeeds.Audio}).String() {
		t.Errorf("String = %q: needs with and without B-frames must not share a rendition", webrtcNeeds.String())
	}
}

// newPool returns a pool logging into logs; it is closed, and its goroutines checked, when
// the test ends.
func newPool(t *testing.T) (*Renditions, *testutil.LogBuffer) {
	t.Helper()
	logs := &testutil.LogBuffer{}
	m := New(Options{Logger: logs.Logger()})
	t.Cleanup(func() {
		m.Close()
		testutil.NoGoroutines(t, "transcode.(*rendition)", "transcode.feed")
	})
	return m, logs
}

// publishing publishes frames in real time for up to d in the background; the returned
// context ends, and the publishing with it, when the test ends (before newPool's cleanup
// when called after it).
func publishing(t *testing.T, pub *relay.Publisher, frames []sourceFrame, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	wg.Go(func() { _, _ = publishRealTime(ctx, pub, frames, d) })
	return ctx
}

// readVideo reads n video frames of st and returns them.
func readVideo(t *testing.T, ctx context.Context, st *relay.Stream, n int, logs *testutil.LogBuffer) []*relay.Frame {
	t.Helper()
	rd := waitLive(t, st)
	defer rd.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var out []*relay.Frame
	for len(out) < n {
		f, err := rd.Next(ctx)
		if err != nil {
			t.Fatalf("after %d video frames: %v\n%s", len(out), err, logs.String())
		}
		if f.Track.Kind() == relay.Video {
			out = append(out, f)
		}
	}
	return out
}

// assertNoBFrames checks that frames are shown in the order they are decoded, at 30 fps, with
// keyframes at most 2 s apart.
func assertNoBFrames(t *testing.T, frames []*relay.Frame) {
	t.Helper()
	var keys int
	lastKey := frames[0].PTS
	for i, f := range frames {
		if f.PTS != f.DTS {
			t.Fatalf("frame %d: PTS %v, DTS %v: a B-frame (or a reordered one) in the rendition", i, f.PTS, f.DTS)
		}
		if i > 0 && f.PTS <= frames[i-1].PTS {
			t.Fatalf("frame %d at %v after %v", i, f.PTS, frames[i-1].PTS)
		}
		if f.Key {
			keys++
			if gap := f.PTS - lastKey; gap > 2*time.Second {
				t.Errorf("keyframes %v apart", gap)
			}
			lastKey = f.PTS
		}
	}
	if keys < 2 {
		t.Errorf("%d keyframes in %d frames, want one every 2 s", keys, len(frames))
	}
	if span := frames[len(frames)-1].PTS - frames[0].PTS; span < time.Duration(len(frames)-2)*33*time.Millisecond {
		t.Errorf("%d frames over %v: frames lost (30 fps in)", len(frames), span)
	}
}

// TestBFramesReencoded: a source with B-frames (libx264's defaults, as OBS), read by readers
// that refuse them (WebRTC viewers), goes through one shared ffmpeg that re-encodes the video
// without B-frames, at the source's size, and copies the Opus; a source without B-frames is
// read as it is.
func TestBFramesReencoded(t *testing.T) {
	video, audio, frames := makeInput(t)
	src, pub := liveStream(t, video, audio)
	m, logs := newPool(t)
	ctx := publishing(t, pub, frames, 6*time.Second)

	st, release, err := m.Fit(ctx, src, webrtcNeeds)
	if err != nil {
		t.Fatal(err)
	}
	if !HasBFrames(src) || webrtcNeeds.FitsStream(src) {
		t.Fatal("the source has no B-frames: makeInput must use libx264's defaults")
	}
	st2, release2, err := m.Fit(ctx, src, webrtcNeeds)
	if err != nil {
		t.Fatal(err)
	}
	release2()
	if st == src || st2 != st || st.Name() != "concert~h264" || len(m.Status()) != 1 {
		t.Fatalf("Fit returned %q then %q, %d renditions: want one shared derived stream", st.Name(), st2.Name(), len(m.Status()))
	}
	pid := rendition0(m).pid.Load()
	cpu0, _ := cpuTicks(pid)
	from := time.Now()
	got := readVideo(t, ctx, st, 90, logs)
	if cpu1, ok := cpuTicks(pid); ok {
		window := time.Since(from)
		t.Logf("ffmpeg (H.264 decode, libx264 without B-frames, Opus copied): %.0f%% of one core over %v",
			float64(cpu1-cpu0)/window.Seconds(), window.Round(time.Millisecond))
	}
	assertNoBFrames(t, got)
	if v := st.Track(relay.Video); v.Width != 640 || v.Height != 360 {
		t.Errorf("derived video %dx%d, want the source's 640x360", v.Width, v.Height)
	}
	if a := st.Track(relay.Audio); a == nil || a.Codec != relay.Opus {
		t.Errorf("derived audio %v, want the source's Opus", a)
	}
	if HasBFrames(st) {
		t.Error("HasBFrames(derived stream) = true")
	}
	if n := logs.Count("now has B-frames"); n != 0 {
		t.Errorf("ffmpeg started copying the video, then again to re-encode it:\n%s", logs.String())
	}
	release()
	testutil.WaitFor(t, "ffmpeg to stop after the last reader", func() bool { return len(m.Status()) == 0 })
	if n := logs.Count("ffmpeg failed"); n != 0 {
		t.Errorf("%d ffmpeg failures logged:\n%s", n, logs.String())
	}
}

// TestBFramesAppear: the rendition of a source without B-frames copies its video (it only
// makes Opus of the AAC); when the source's video gains B-frames (a publisher coming back
// with another encoder setting) ffmpeg starts again and re-encodes it, and the readers of
// the derived stream never see a B-frame.
func TestBFramesAppear(t *testing.T) {
	plain, _, plainFrames := makeInputWith(t, "-bf", "0")
	bvideo, _, bFrames := makeInput(t)
	aac, err := relay.NewAACTrack(testutil.ASC())
	if err != nil {
		t.Fatal(err)
	}
	// The same video track (the parameters do not say whether B-frames come), AAC audio
	// in place of the clips' Opus.
	// A reconnect grace, as every stream has: the derived stream's readers stay while its
	// ffmpeg starts again.
	src := relay.NewStream(relay.StreamOptions{Name: "concert", Grace: 10 * time.Second})
	t.Cleanup(src.Stop)
	pub := src.Publish(relay.SourceInfo{Protocol: "test"})
	for _, tr := range []*relay.Track{plain, aac} {
		if _, err := pub.SetTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	retime := func(in []sourceFrame, from time.Duration) []sourceFrame {
		var out []sourceFrame
		for _, f := range in {
			if f.track.Kind() != relay.Video {
				continue
			}
			f.track = plain
			if f.key && len(out) == 0 {
				f.units = append([][]byte{bvideo.SPS, bvideo.PPS}, f.units...)
			}
			f.dts, f.pts = f.dts+from, f.pts+from
			out = append(out, f)
			// An AAC frame (silence) with each picture: enough for ffmpeg's AAC decoder.
			out = append(out, sourceFrame{track: aac, dts: f.dts, pts: f.dts, key: true, units: [][]byte{{0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c}}})
		}
		return out
	}
	seq := append(retime(plainFrames, 0), retime(bFrames, 6*time.Second)...)
	m, logs := newPool(t)
	ctx := publishing(t, pub, seq, 12*time.Second)

	st, release, err := m.Fit(ctx, src, webrtcNeeds)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if st == src || st.Name() != "concert~opus" {
		t.Fatalf("Fit returned %q, want the Opus rendition copying the video", st.Name())
	}
	got := readVideo(t, ctx, st, 240, logs)
	for i, f := range got {
		if f.PTS != f.DTS {
			t.Fatalf("frame %d of the derived stream: PTS %v DTS %v", i, f.PTS, f.DTS)
		}
	}
	if logs.Count("now has B-frames") != 1 {
		t.Errorf("the rendition did not restart once to re-encode the video:\n%s", logs.String())
	}
	if n := logs.Count("ffmpeg failed"); n != 0 {
		t.Errorf("%d ffmpeg failures logged:\n%s", n, logs.String())
	}
}
