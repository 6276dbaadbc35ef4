package hls

import (
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
)

// A rung's frames reach the source's timeline: the offset guessed on its first keyframe is
// used once the next keyframe confirms it; a small step of the source's timeline is followed
// without a break, a new ffmpeg (timestamps from elsewhere) starts the match again.
func TestTimeMap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var keys keyIndex
	// Source keyframes every 2 s from 10 s to 14 s, published as they come.
	srcKey := func(i int) (time.Duration, time.Time) {
		pts := 10*time.Second + time.Duration(i)*2*time.Second
		return pts, t0.Add(pts)
	}
	for i := range 3 {
		pts, at := srcKey(i)
		keys.add(&relay.Frame{PTS: pts, Published: at, Key: true})
	}
	m := &timeMap{keys: &keys}
	video := &relay.Track{Codec: relay.H264}
	// The rung's timeline starts at 0 on the source's keyframe 1 (12 s), and its frames come
	// out 150 ms after the source's.
	frame := func(rungPTS time.Duration, key bool) *relay.Frame {
		return &relay.Frame{Track: video, PTS: rungPTS, DTS: rungPTS, Key: key,
			Published: t0.Add(12*time.Second + rungPTS + 150*time.Millisecond)}
	}
	if _, ok := m.apply(frame(0, true)); ok {
		t.Fatal("the first keyframe was used before its offset was confirmed")
	}
	if _, ok := m.apply(frame(33*time.Millisecond, false)); ok {
		t.Fatal("a frame after an unconfirmed keyframe was used")
	}
	g, ok := m.apply(frame(2*time.Second, true))
	if !ok || g.PTS != 14*time.Second || g.DTS != 14*time.Second {
		t.Fatalf("confirmed keyframe: %v at %v, want the source's 14 s", ok, g)
	}
	if _, at := srcKey(2); !g.Published.Equal(at) {
		t.Errorf("published %v, want the source keyframe's %v (the segment's program date-time)", g.Published, at)
	}
	g, ok = m.apply(frame(2*time.Second+100*time.Millisecond, false))
	if !ok || g.PTS != 14100*time.Millisecond || !g.Published.Equal(t0.Add(14100*time.Millisecond)) {
		t.Fatalf("frame after the keyframe: %v %v", ok, g)
	}
	// The source's timeline stepped 40 ms: its keyframe 3 is at 16.04 s.
	keys.add(&relay.Frame{PTS: 16040 * time.Millisecond, Published: t0.Add(16040 * time.Millisecond), Key: true})
	if g, ok = m.apply(frame(4*time.Second, true)); !ok || g.PTS != 16040*time.Millisecond {
		t.Fatalf("after a small step: %v %v, want 16.04 s", ok, g)
	}
	// A new ffmpeg: the derived stream's timeline goes on after a jump (the relay keeps it
	// monotonic), to no source keyframe near.
	if _, ok = m.apply(frame(60*time.Second, true)); ok {
		t.Fatal("a keyframe from a new timeline was used without a match")
	}
}

// The multivariant playlist lists the rungs ready beside the source, with the source's audio
// group and codec, the middle one by bandwidth first (where players start).
func TestRemuxLadder(t *testing.T) {
	l := newLive("event")
	l.mvSource = []byte("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio2\",AUTOSELECT=YES,DEFAULT=YES,URI=\"audio2_stream.m3u8\"\n\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2800000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO=\"audio\"\n" +
		"video1_stream.m3u8\n")
	var rungs []*rung
	for _, sh := range []transcode.Shape{{Width: 854, Height: 480, Bitrate: 1_200_000}, {Width: 640, Height: 360, Bitrate: 600_000}, {Width: 426, Height: 240, Bitrate: 300_000}} {
		g := &rung{name: rungName(sh), shape: sh, l: newLive("event")}
		if sh.Height != 240 { // 240p not ready yet
			mv := []byte("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n\n" +
				"#EXT-X-STREAM-INF:BANDWIDTH=100000,CODECS=\"avc1.64001e\",RESOLUTION=" + sh.String()[:7] + ",FRAME-RATE=30.000\nvideo1_stream.m3u8\n")
			g.l.mvPub.Store(&mv)
		}
		rungs = append(rungs, g)
	}
	l.ladder.rungs.Store(&rungs)
	l.ladder.arm()
	l.remux()
	got := string(joinParts(l.mv))
	for _, want := range []string{
		"RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO=\"audio\"\nvideo1_stream.m3u8",
		"CODECS=\"avc1.64001e,mp4a.40.2\",RESOLUTION=854x480,FRAME-RATE=30.000,AUDIO=\"audio\"\nr480p-video1_stream.m3u8",
		"AVERAGE-BANDWIDTH=600000,CODECS=\"avc1.64001e,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=30.000,AUDIO=\"audio\"\nr360p-video1_stream.m3u8",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("multivariant playlist\n%s\nwant %q", got, want)
		}
	}
	if strings.Contains(got, "r240p") {
		t.Errorf("a rung not ready is listed:\n%s", got)
	}
	// Of 720p, 480p and 360p, players start with 480p.
	if first := strings.Index(got, "#EXT-X-STREAM-INF"); !strings.Contains(got[first:], "RESOLUTION=854x480") ||
		strings.Index(got[first:], "854x480") > strings.Index(got[first:], "1280x720") {
		t.Errorf("the first variant is not the middle one:\n%s", got)
	}
	if l.ladder.pending() == nil {
		t.Error("multivariant requests stopped waiting while a rung is not ready")
	}
	mv := []byte("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n\n#EXT-X-STREAM-INF:BANDWIDTH=100000,CODECS=\"avc1.640015\",RESOLUTION=426x240,FRAME-RATE=30.000\nvideo1_stream.m3u8\n")
	rungs[2].l.mvPub.Store(&mv)
	l.remux()
	if !strings.Contains(string(joinParts(l.mv)), "r240p-video1_stream.m3u8") || l.ladder.pending() != nil {
		t.Errorf("every rung ready: 240p listed and requests no longer waiting:\n%s", joinParts(l.mv))
	}
}

func joinParts(p [][]byte) []byte {
	var b []byte
	for _, x := range p {
		b = append(b, x...)
	}
	return b
}

// A rung's first segment takes the number and discontinuity sequence of the source's segment
// that starts at the same time.
func TestAlignment(t *testing.T) {
	l := newLive("event")
	t0 := time.Unix(1000, 0)
	r := newRendition("video1")
	r.discSeq = 1
	for i := range 4 {
		r.add(&segment{msn: uint64(40 + i), dur: 2 * time.Second, pdt: t0.Add(time.Duration(i) * 2 * time.Second), disc: i == 2, name: "s"})
	}
	r.curPDT = t0.Add(8 * time.Second)
	l.rends["video1"], l.order = r, []string{"video1", "audio2"}
	for _, c := range []struct {
		at      time.Duration
		msn     uint64
		cc      int
		aligned bool
	}{
		{0, 40, 1, true},
		{2*time.Second + 20*time.Millisecond, 41, 1, true},
		{4 * time.Second, 42, 2, true},
		{8 * time.Second, 44, 2, true}, // the segment in progress
		{5 * time.Second, 0, 0, false},
	} {
		msn, cc, ok := l.alignment(t0.Add(c.at))
		if ok != c.aligned || (ok && (msn != c.msn || cc != c.cc)) {
			t.Errorf("alignment at %v: %d, %d, %v; want %d, %d, %v", c.at, msn, cc, ok, c.msn, c.cc, c.aligned)
		}
	}
}
