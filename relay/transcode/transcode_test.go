package transcode

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

var rtmpNeeds = Needs{Video: []relay.Codec{relay.H264}, Audio: []relay.Codec{relay.AAC}}

func TestNeedsFits(t *testing.T) {
	h264 := &relay.Track{Codec: relay.H264}
	vp8 := &relay.Track{Codec: relay.VP8}
	aac := &relay.Track{Codec: relay.AAC}
	opusT := &relay.Track{Codec: relay.Opus}
	whep := Needs{Video: []relay.Codec{relay.H264, relay.VP8}, Audio: []relay.Codec{relay.Opus}}
	for _, c := range []struct {
		name         string
		needs        Needs
		video, audio *relay.Track
		want         bool
	}{
		{"rtmp, h264+aac", rtmpNeeds, h264, aac, true},
		{"rtmp, h264+opus", rtmpNeeds, h264, opusT, false},
		{"rtmp, vp8+aac", rtmpNeeds, vp8, aac, false},
		{"rtmp, audio only aac", rtmpNeeds, nil, aac, true},
		{"rtmp, video only h264", rtmpNeeds, h264, nil, true},
		{"rtmp, nothing", rtmpNeeds, nil, nil, true},
		{"whep, vp8+opus", whep, vp8, opusT, true},
		{"whep, h264+aac", whep, h264, aac, false},
		{"no audio accepted, audio present", Needs{Video: []relay.Codec{relay.H264}}, h264, aac, false},
		{"no audio accepted, audio absent", Needs{Video: []relay.Codec{relay.H264}}, h264, nil, true},
		{"empty needs, nothing", Needs{}, nil, nil, true},
	} {
		if got := c.needs.Fits(c.video, c.audio); got != c.want {
			t.Errorf("%s: Fits = %v, want %v", c.name, got, c.want)
		}
	}
	if s := rtmpNeeds.String(); s != "video=H264 audio=AAC" {
		t.Errorf("String = %q", s)
	}
}

// liveStream returns a live stream publishing an H.264 and an Opus track, without frames.
func liveStream(t *testing.T, video, audio *relay.Track) (*relay.Stream, *relay.Publisher) {
	t.Helper()
	src := relay.NewStream(relay.StreamOptions{Name: "concert"})
	pub := src.Publish(relay.SourceInfo{Protocol: "test"})
	t.Cleanup(src.Stop)
	for _, tr := range []*relay.Track{video, audio} {
		if tr == nil {
			continue
		}
		if _, err := pub.SetTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	return src, pub
}

func h264Track(t *testing.T) *relay.Track {
	t.Helper()
	tr, err := relay.NewH264Track(testutil.SPS360(), testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestAcquireFitting(t *testing.T) {
	aac, err := relay.NewAACTrack(testutil.ASC())
	if err != nil {
		t.Fatal(err)
	}
	src, _ := liveStream(t, h264Track(t), aac)
	m := New(Options{FFmpeg: "/nonexistent/ffmpeg"}) // never started
	defer m.Close()
	st, release, err := m.acquireStream(context.Background(), src, rtmpNeeds)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if st != src {
		t.Errorf("Acquire returned %q, want the source itself", st.Name())
	}
	if s := m.Status(); len(s) != 0 {
		t.Errorf("Status = %+v, want no rendition", s)
	}
}

func TestFFmpegMissing(t *testing.T) {
	src, _ := liveStream(t, h264Track(t), &relay.Track{Codec: relay.Opus, SampleRate: 48000, Channels: 2})
	m := New(Options{FFmpeg: "/nonexistent/ffmpeg"})
	defer m.Close()
	_, _, err := m.acquireStream(context.Background(), src, rtmpNeeds)
	if err == nil || !strings.Contains(err.Error(), "ffmpeg not found") {
		t.Fatalf("Acquire: %v, want an error saying ffmpeg was not found", err)
	}
	if s := m.Status(); len(s) != 0 {
		t.Errorf("Status = %+v, want no rendition", s)
	}
}

func TestUnsupported(t *testing.T) {
	src, _ := liveStream(t, &relay.Track{Codec: relay.AV1}, &relay.Track{Codec: relay.Opus, SampleRate: 48000, Channels: 2})
	m := New(Options{})
	defer m.Close()
	if _, _, err := m.acquireStream(context.Background(), src, rtmpNeeds); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Acquire: %v, want ErrUnsupported", err)
	}
}

// sourceFrame is one frame of the test input, on the input's own timeline.
type sourceFrame struct {
	track    *relay.Track
	dts, pts time.Duration
	key      bool
	units    [][]byte
}

// makeInput encodes an H.264 (libx264's defaults: B-frames) + Opus MPEG-TS with ffmpeg and
// demuxes it into frames.
func makeInput(t *testing.T) (video, audio *relay.Track, frames []sourceFrame) {
	t.Helper()
	return makeInputWith(t)
}

// makeInputWith is makeInput with more libx264 options.
func makeInputWith(t *testing.T, x264 ...string) (video, audio *relay.Track, frames []sourceFrame) {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed")
	}
	path := filepath.Join(t.TempDir(), "in.ts")
	args := []string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "6",
		"-c:v", "libx264", "-g", "30", "-pix_fmt", "yuv420p"}
	args = append(append(args, x264...), "-c:a", "libopus", "-b:a", "96k", "-ac", "2", "-f", "mpegts", path)
	out, err := exec.Command(ffmpeg, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mr := &mpegts.Reader{R: f}
	if err := mr.Initialize(); err != nil {
		t.Fatal(err)
	}
	var td mpegts.TimeDecoder
	ts := func(v int64) time.Duration { return time.Duration(td.Decode(v)) * time.Second / 90000 }
	vp := &relay.VideoParams{Codec: relay.H264}
	for _, tr := range mr.Tracks() {
		switch c := tr.Codec.(type) {
		case *codecs.H264:
			mr.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				picture, _, err := vp.Update(au)
				if err != nil {
					return err
				}
				if picture && vp.Track != nil {
					frames = append(frames, sourceFrame{track: vp.Track, dts: ts(dts), pts: ts(pts), key: vp.IsKey(au), units: au})
				}
				return nil
			})
		case *codecs.Opus:
			ch := c.Desc.ChannelCount()
			audio = &relay.Track{Codec: relay.Opus, SampleRate: 48000, Channels: ch}
			mr.OnDataOpus(tr, func(pts int64, packets [][]byte) error {
				at := ts(pts)
				for _, p := range packets {
					frames = append(frames, sourceFrame{track: audio, dts: at, pts: at, key: true, units: [][]byte{p}})
					at += time.Duration(opus.PacketDuration2(p)) * time.Second / 48000
				}
				return nil
			})
		}
	}
	for {
		if err := mr.Read(); err != nil {
			break
		}
	}
	if vp.Track == nil || audio == nil || len(frames) < 300 {
		t.Fatalf("input: video %v, audio %v, %d frames", vp.Track, audio, len(frames))
	}
	return vp.Track, audio, frames
}

// publishRealTime publishes frames paced by their DTS for up to d, then returns the publish
// times of the video frames, by the frame's last NAL unit.
func publishRealTime(ctx context.Context, pub *relay.Publisher, frames []sourceFrame, d time.Duration) (map[string]time.Time, error) {
	published := map[string]time.Time{}
	start := time.Now()
	first := frames[0].dts
	for _, sf := range frames {
		at := sf.dts - first
		if at > d {
			break
		}
		if wait := time.Until(start.Add(at)); wait > 0 {
			select {
			case <-ctx.Done():
				return published, ctx.Err()
			case <-time.After(wait):
			}
		}
		f := &relay.Frame{Track: sf.track, DTS: sf.dts, PTS: sf.pts, Key: sf.key, Units: sf.units}
		if err := pub.WriteFrame(f); err != nil {
			return published, err
		}
		if sf.track.Kind() == relay.Video {
			published[string(sf.units[len(sf.units)-1])] = f.Published
		}
	}
	return published, nil
}

// cpuTicks returns the user+system clock ticks a process used, from /proc.
func cpuTicks(pid int64) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.FormatInt(pid, 10) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// After the command name: state is field 3, utime 14 and stime 15.
	u, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	return u + st, err1 == nil && err2 == nil
}

func rendition0(m *Renditions) *rendition {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.rends {
		return r
	}
	return nil
}

func waitLive(t *testing.T, st *relay.Stream) *relay.Reader {
	t.Helper()
	testutil.WaitFor(t, "the derived stream to go live", func() bool {
		s, _ := st.State()
		return s == relay.Live
	})
	rd, err := st.Subscribe(relay.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

// TestOpusToAAC: a stream published with H.264 + Opus, read by a reader that needs AAC, goes
// through one shared ffmpeg that copies the video and makes AAC.
func TestOpusToAAC(t *testing.T) {
	video, audio, frames := makeInput(t)
	src, pub := liveStream(t, video, audio)
	var logs testutil.LogBuffer
	m := New(Options{Logger: logs.Logger()})
	defer func() {
		m.Close()
		testutil.NoGoroutines(t, "transcode.(*rendition)", "transcode.feed", "transcode.(*Renditions).acquire.func")
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	acquired := time.Now()
	st, release1, err := m.acquireStream(ctx, src, rtmpNeeds)
	if err != nil {
		t.Fatal(err)
	}
	st2, release2, err := m.acquireStream(ctx, src, rtmpNeeds)
	if err != nil {
		t.Fatal(err)
	}
	if st == src || st2 != st {
		t.Fatalf("Acquire returned %q and %q, want one derived stream", st.Name(), st2.Name())
	}
	if st.Name() != "concert~aac" {
		t.Errorf("derived stream %q", st.Name())
	}
	if s := m.Status(); len(s) != 1 || s[0].Stream != "concert" || s[0].Needs != "video=H264 audio=AAC" {
		t.Fatalf("Status = %+v, want one rendition", s)
	}

	var published map[string]time.Time
	var pubErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		published, pubErr = publishRealTime(ctx, pub, frames, 4*time.Second)
	}()

	rd := waitLive(t, st)
	defer rd.Close()
	live := time.Now()
	r := rendition0(m)
	pid := r.pid.Load()
	cpu0, _ := cpuTicks(pid)

	type got struct {
		f    *relay.Frame
		last string
	}
	var vids, auds []got
	readCtx, readCancel := context.WithTimeout(ctx, 8*time.Second)
	defer readCancel()
	for len(vids) < 75 || len(auds) < 120 {
		f, err := rd.Next(readCtx)
		if err != nil {
			t.Fatalf("after %d video and %d audio frames: %v", len(vids), len(auds), err)
		}
		g := got{f: f, last: string(f.Units[len(f.Units)-1])}
		if f.Track.Kind() == relay.Video {
			vids = append(vids, g)
		} else {
			auds = append(auds, g)
		}
	}
	cpu1, cpuOK := cpuTicks(pid)
	window := time.Since(live)

	if a := st.Track(relay.Audio); a == nil || a.Codec != relay.AAC || a.SampleRate != 48000 || a.Channels != 2 {
		t.Errorf("derived audio track %+v, want AAC 48 kHz stereo", a)
	}
	if v := st.Track(relay.Video); !v.SameParams(video) {
		t.Errorf("derived video track %+v, want the source's %+v", v, video)
	}
	for i, l := range [][]got{vids, auds} {
		for j := 1; j < len(l); j++ {
			if l[j].f.DTS <= l[j-1].f.DTS {
				t.Errorf("kind %d: frame %d DTS %v after %v", i, j, l[j].f.DTS, l[j-1].f.DTS)
				break
			}
		}
	}
	if !vids[0].f.Key {
		t.Errorf("first video frame is not a keyframe")
	}
	for _, g := range auds {
		if g.f.Track.Codec != relay.AAC {
			t.Fatalf("audio frame of codec %s", g.f.Track.Codec)
		}
	}
	wg.Wait()
	if pubErr != nil {
		t.Fatal(pubErr)
	}

	// Latency: each copied video frame, from its publication in the source to its
	// publication in the derived stream.
	var lat []time.Duration
	for _, g := range vids {
		if at, ok := published[g.last]; ok {
			lat = append(lat, g.f.Published.Sub(at))
		}
	}
	if len(lat) < len(vids)/2 {
		t.Errorf("only %d of %d derived video frames matched a source frame", len(lat), len(vids))
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		t.Logf("added latency over %d video frames: p50 %v, p99 %v, max %v; first derived frame %v after Acquire",
			len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], live.Sub(acquired))
	}
	if cpuOK {
		// Linux counts in USER_HZ, 100 ticks a second.
		t.Logf("ffmpeg CPU: %.1f%% of one core over %v", float64(cpu1-cpu0)/100/window.Seconds()*100, window.Round(time.Millisecond))
	}

	release1()
	release1() // idempotent
	if s := m.Status(); len(s) != 1 || s[0].State != StateRunning {
		t.Errorf("Status after one release = %+v, want one running rendition", s)
	}
	release2()
	testutil.WaitFor(t, "ffmpeg to exit", func() bool { return r.pid.Load() == 0 && len(m.Status()) == 0 })
	if _, err := rd.Next(readCtx); !errors.Is(err, relay.ErrEnded) {
		t.Errorf("derived reader after the last release: %v, want ErrEnded", err)
	}
	if n := logs.Count("ffmpeg failed"); n != 0 {
		t.Errorf("%d ffmpeg failures logged:\n%s", n, logs.String())
	}
}

// TestSourceEnds: when the source's session ends the derived stream ends and ffmpeg exits,
// even though readers still hold the rendition.
func TestSourceEnds(t *testing.T) {
	video, audio, frames := makeInput(t)
	src, pub := liveStream(t, video, audio)
	m := New(Options{})
	defer func() {
		m.Close()
		testutil.NoGoroutines(t, "transcode.(*rendition)", "transcode.feed", "transcode.(*Renditions).acquire.func")
	}()
	ctx := context.Background()
	st, release, err := m.acquireStream(ctx, src, rtmpNeeds)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	r := rendition0(m)
	done := make(chan error, 1)
	go func() {
		_, err := publishRealTime(ctx, pub, frames, 2*time.Second)
		done <- err
	}()
	rd := waitLive(t, st)
	defer rd.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pub.Close() // no grace: the session ends
	readCtx, cancel := context.WithTimeout(ctx, testutil.WaitTimeout)
	defer cancel()
	for {
		_, err := rd.Next(readCtx)
		if errors.Is(err, relay.ErrEnded) {
			break
		}
		if err != nil {
			t.Fatalf("derived reader: %v, want ErrEnded", err)
		}
	}
	testutil.WaitFor(t, "ffmpeg to exit", func() bool { return r.pid.Load() == 0 && len(m.Status()) == 0 })
}
