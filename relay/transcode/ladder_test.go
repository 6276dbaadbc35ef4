package transcode

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/relay"
)

func TestParseLadder(t *testing.T) {
	def, err := ParseLadder("")
	if err != nil || !slices.Equal(def, []Rung{{720, 2_500_000}, {480, 1_200_000}, {360, 600_000}, {240, 300_000}}) {
		t.Fatalf("default ladder %v, %v", def, err)
	}
	if l, err := ParseLadder(" off "); err != nil || l != nil {
		t.Errorf("off: %v, %v", l, err)
	}
	l, err := ParseLadder("360p:600k, 1080p:4.5M,540p:1500000")
	if err != nil || !slices.Equal(l, []Rung{{1080, 4_500_000}, {540, 1_500_000}, {360, 600_000}}) {
		t.Errorf("ladder %v, %v: want 1080p, 540p, 360p", l, err)
	}
	if l[0].String() != "1080p:4500k" {
		t.Errorf("String %q", l[0])
	}
	for in, says := range map[string]string{
		"720p":              "want <lines>p:<bitrate>",
		"720p:fast":         "bitrate",
		"720p:50":           "from 100k",
		"721p:1M":           "even number",
		"720p:2M,720p:1M":   "already in the ladder",
		"720p:2M;480p:1M":   "bitrate",
		"high":              "want <lines>p:<bitrate>",
		"4320p:20M":         "from 144 to 2160",
		"480p:1200k,,360p:": "want <lines>p:<bitrate>",
	} {
		if _, err := ParseLadder(in); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("ParseLadder(%q) = %v, want an error saying %q", in, err, says)
		}
	}
}

// TestLadder: the rungs never reach the source's size, keep its shape, and are even.
func TestLadder(t *testing.T) {
	def, _ := ParseLadder("")
	for _, c := range []struct {
		w, h int
		want []Shape
	}{
		{1920, 1080, []Shape{{1280, 720, "", 2_500_000}, {854, 480, "", 1_200_000}, {640, 360, "", 600_000}, {426, 240, "", 300_000}}},
		{1280, 720, []Shape{{854, 480, "", 1_200_000}, {640, 360, "", 600_000}, {426, 240, "", 300_000}}},
		{720, 1280, []Shape{{480, 854, "", 1_200_000}, {360, 640, "", 600_000}, {240, 426, "", 300_000}}}, // a phone held upright
		{640, 480, []Shape{{480, 360, "", 600_000}, {320, 240, "", 300_000}}},
		{640, 360, []Shape{{426, 240, "", 300_000}}},
		{426, 240, nil},
		{0, 0, nil},
	} {
		if got := Ladder(c.w, c.h, def); !slices.Equal(got, c.want) {
			t.Errorf("Ladder(%dx%d) = %v, want %v", c.w, c.h, got, c.want)
		}
	}
}

// TestRungKeyframesFollowSource: a rung made by a real ffmpeg has its keyframes where the
// source has them (every second here, where libx264 alone would make one every 250 frames),
// and nowhere else: its segments line up with the source's.
func TestRungKeyframesFollowSource(t *testing.T) {
	video, frames, src, pub, m := realPool(t) // 640x360, a keyframe every 30 frames (1 s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rungs := Ladder(video.Width, video.Height, []Rung{{240, 400_000}})
	if len(rungs) != 1 || rungs[0].Width != 426 {
		t.Fatalf("rungs %v", rungs)
	}
	// Video only: a rung's audio is the source's.
	st, release, err := m.acquireStream(ctx, src, Needs{Video: []relay.Codec{relay.H264}, Shape: rungs[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if st.Name() != "concert~h264-426x240-400k-noaudio" {
		t.Errorf("rung stream %q", st.Name())
	}
	go func() { _, _ = publishRealTime(ctx, pub, frames, 6*time.Second) }()
	n := 0
	keys := keyframesOf(ctx, t, st, 4, func(f *relay.Frame) {
		switch {
		case f.Track.Kind() != relay.Video:
			t.Fatalf("a video-only rung carries %s", f.Track.Codec)
		case f.Track.Width != 426 || f.Track.Height != 240:
			t.Fatalf("rung picture %dx%d, want 426x240", f.Track.Width, f.Track.Height)
		}
		n++
	})
	for i := 1; i < len(keys); i++ {
		if d := keys[i] - keys[i-1]; d < time.Second-time.Millisecond || d > time.Second+time.Millisecond {
			t.Errorf("rung keyframes at %v: %v apart, want the source's 1 s", keys, d)
		}
	}
	t.Logf("rung keyframes at %v (%d frames)", keys, n)
}
