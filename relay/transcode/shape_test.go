package transcode

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

func TestParseShape(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Shape
	}{
		{"", Shape{}},
		{"source", Shape{}},
		{"vertical-crop", Shape{Width: 720, Height: 1280, Fit: FitCrop}},
		{" Vertical-Blur ", Shape{Width: 720, Height: 1280, Fit: FitBlur}},
	} {
		got, err := ParseShape(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseShape(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	_, err := ParseShape("9:16")
	if err == nil || !strings.Contains(err.Error(), "vertical-crop or vertical-blur") {
		t.Errorf("ParseShape(9:16) = %v, want an error naming the shapes", err)
	}
}

// TestNeedsShape: a shape never fits the source, is part of the key that shares renditions,
// and readers of different protocols wanting one shape get the same needs.
func TestNeedsShape(t *testing.T) {
	crop, _ := ParseShape(ShapeVerticalCrop)
	blur, _ := ParseShape(ShapeVerticalBlur)
	h264 := &relay.Track{Codec: relay.H264, Width: 1280, Height: 720}
	aac := &relay.Track{Codec: relay.AAC}
	rtmp := rtmpNeeds.WithShape(crop)
	if rtmp.Fits(h264, aac) {
		t.Error("a vertical shape fits a 1280x720 source as it is")
	}
	if !rtmp.Fits(nil, aac) {
		t.Error("a shape refuses an audio-only source, which it has no picture to change of")
	}
	srt := Needs{Video: []relay.Codec{relay.H264, relay.H265}, Audio: []relay.Codec{relay.AAC, relay.Opus}}.WithShape(crop)
	if rtmp.String() != srt.String() || rtmp.String() != "video=H264 audio=AAC shape=720x1280,crop" {
		t.Errorf("RTMP and SRT readers of one shape: %q and %q, want one key", rtmp, srt)
	}
	if b := rtmpNeeds.WithShape(blur).String(); b == rtmp.String() {
		t.Errorf("crop and blur share a key: %q", b)
	}
	if s := rtmpNeeds.WithShape(Shape{}).String(); s != rtmpNeeds.String() {
		t.Errorf("the zero shape changes the key: %q", s)
	}
	if _, err := makePlan(h264, aac, Needs{Video: []relay.Codec{relay.H265}, Shape: crop}, false); err == nil {
		t.Error("a shape planned for a reader that takes no H264")
	}
	if _, err := makePlan(h264, aac, Needs{Video: []relay.Codec{relay.H264}, Shape: Shape{Width: 719, Height: 1280}}, false); err == nil {
		t.Error("an odd width planned")
	}
}

// TestShapeArgs: ffmpeg's command line for a shaped rendition: re-encoded to the shape's
// size through its filter, keyframes every 2 s and no scene-cut ones, the given bitrate.
func TestShapeArgs(t *testing.T) {
	h264 := &relay.Track{Codec: relay.H264, Width: 1280, Height: 720}
	aac := &relay.Track{Codec: relay.AAC}
	r := &rendition{m: New(Options{})}
	for _, c := range []struct {
		fit  string
		want []string
	}{
		{FitCrop, []string{"force_original_aspect_ratio=increase,crop=720:1280", shapeKeyframeExpr}},
		{FitBlur, []string{"split[bg][fg]", "boxblur", "force_original_aspect_ratio=decrease", "overlay=(W-w)/2:(H-h)/2", shapeKeyframeExpr}},
		{FitScale, []string{"scale=720:1280,setsar=1", "-force_key_frames source"}},
	} {
		p, err := makePlan(h264, aac, rtmpNeeds.WithShape(Shape{Width: 720, Height: 1280, Fit: c.fit}), false)
		if err != nil {
			t.Fatal(err)
		}
		if p.videoOut != relay.H264 || p.audioOut != "" || p.outW != 720 || p.outH != 1280 {
			t.Errorf("%q: plan %+v, want H264 re-encoded to 720x1280, AAC copied", c.fit, p)
		}
		args := strings.Join(r.args(p, 2_000_000), " ")
		for _, w := range append(c.want, "-c:v libx264", "-b:v 2000000", "-sc_threshold 0", "-c:a copy") {
			if !strings.Contains(args, w) {
				t.Errorf("%q: %q missing from %s", c.fit, w, args)
			}
		}
	}
	p, _ := makePlan(h264, aac, rtmpNeeds.WithShape(Shape{Width: 720, Height: 1280, Fit: FitCrop}), false)
	if p.suffix() != "h264-720x1280-crop" {
		t.Errorf("suffix %q", p.suffix())
	}
}

// TestShapedRendition: a real ffmpeg makes the vertical picture of a 640x360 source, once
// for two readers of the same shape, with its keyframes 2 s apart.
func TestShapedRendition(t *testing.T) {
	_, frames, src, pub, m := realPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	blur, _ := ParseShape(ShapeVerticalBlur)
	needs := rtmpNeeds.WithShape(blur)
	st, release1, err := m.acquireStream(ctx, src, needs)
	if err != nil {
		t.Fatal(err)
	}
	defer release1()
	st2, release2, err := m.acquireStream(ctx, src, Needs{Video: []relay.Codec{relay.H264, relay.H265}, Audio: []relay.Codec{relay.AAC, relay.Opus}}.WithShape(blur))
	if err != nil {
		t.Fatal(err)
	}
	defer release2()
	if st == src || st2 != st || len(m.Status()) != 1 {
		t.Fatalf("two readers of one shape got %q and %q, %d renditions; want one", st.Name(), st2.Name(), len(m.Status()))
	}
	if st.Name() != "concert~h264-720x1280-blur-aac" {
		t.Errorf("derived stream %q", st.Name())
	}
	go func() { _, _ = publishRealTime(ctx, pub, frames, 6*time.Second) }()
	keys := keyframesOf(ctx, t, st, 3, func(f *relay.Frame) {
		if f.Track.Kind() == relay.Video && (f.Track.Width != 720 || f.Track.Height != 1280 || f.Track.Codec != relay.H264) {
			t.Fatalf("video %s %dx%d, want H264 720x1280", f.Track.Codec, f.Track.Width, f.Track.Height)
		}
	})
	for i := 1; i < len(keys); i++ {
		if d := keys[i] - keys[i-1]; d < 1900*time.Millisecond || d > 2100*time.Millisecond {
			t.Errorf("keyframes at %v: %v apart, want 2 s", keys, d)
		}
	}
}

// realPool returns a pool with no rendition yet, and a live source (640x360 H.264 with a
// keyframe every second, Opus) with the frames to publish; the pool is closed, and its
// goroutines checked, when the test ends.
func realPool(t *testing.T) (*relay.Track, []sourceFrame, *relay.Stream, *relay.Publisher, *Renditions) {
	t.Helper()
	video, audio, frames := makeInput(t)
	src, pub := liveStream(t, video, audio)
	m := New(Options{})
	t.Cleanup(func() {
		m.Close()
		testutil.NoGoroutines(t, "transcode.(*rendition)", "transcode.feed", "transcode.(*Renditions).acquire.func")
	})
	return video, frames, src, pub, m
}

// keyframesOf reads the derived stream st until it has had n video keyframes, and returns
// their PTS; check sees every frame read.
func keyframesOf(ctx context.Context, t *testing.T, st *relay.Stream, n int, check func(*relay.Frame)) []time.Duration {
	t.Helper()
	rd := waitLive(t, st)
	defer rd.Close()
	var keys []time.Duration
	for len(keys) < n {
		f, err := rd.Next(ctx)
		if err != nil {
			t.Fatalf("after keyframes at %v: %v", keys, err)
		}
		check(f)
		if f.Track.Kind() == relay.Video && f.Key {
			keys = append(keys, f.PTS)
		}
	}
	return keys
}
