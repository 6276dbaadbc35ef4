package transcode

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/beffroi/beffroi/relay"
)

func TestMakePlanReencode(t *testing.T) {
	vp8 := &relay.Track{Codec: relay.VP8, Width: 641, Height: 360}
	opus := relay.NewOpusTrack(2)
	p, err := makePlan(vp8, opus, rtmpNeeds, false)
	if err != nil {
		t.Fatal(err)
	}
	if p.videoOut != relay.H264 || p.audioOut != relay.AAC || p.suffix() != "h264-aac" || p.outW != 1280 || p.outH != 718 {
		t.Errorf("plan %+v (suffix %q), want VP8 re-encoded to H264 and AAC", p, p.suffix())
	}
	for _, c := range [][4]int{{480, 270, 1280, 720}, {270, 480, 720, 1280}, {1920, 1080, 1920, 1080}, {0, 0, 0, 0}} {
		if w, h := outputSize(c[0], c[1]); w != c[2] || h != c[3] {
			t.Errorf("outputSize(%d, %d) = %d, %d; want %d, %d", c[0], c[1], w, h, c[2], c[3])
		}
	}
	// A reader that takes VP8 (WHEP, WHIP) gets it as it is.
	if _, err := makePlan(vp8, opus, Needs{Video: []relay.Codec{relay.H265}}, false); err == nil {
		t.Error("VP8 to H265 planned: only H264 is made")
	}
	p, _ = makePlan(&relay.Track{Codec: relay.H264}, opus, rtmpNeeds, false)
	if p.videoOut != "" {
		t.Errorf("H264 source re-encoded: %+v", p)
	}
	m := New(Options{})
	r := &rendition{m: m}
	args := strings.Join(r.args(p, 0), " ")
	if !strings.Contains(args, "-c:v copy") || strings.Contains(args, "libx264") {
		t.Errorf("H264 source: %s", args)
	}
	p, _ = makePlan(vp8, opus, rtmpNeeds, false)
	args = strings.Join(r.args(p, 3_000_000), " ")
	for _, want := range []string{"-f ivf -i pipe:3", "-f mpegts -i pipe:0", "-copyts", "-map 0:v:0", "-map 1:a:0",
		"-c:v libx264", "-tune zerolatency", "-b:v 3000000", keyframeExpr, "scale=1280:718"} {
		if !strings.Contains(args, want) {
			t.Errorf("VP8 source: %q missing from %s", want, args)
		}
	}
}

// makeVP8Input encodes 6 s of VP8 (libvpx, a keyframe a second) and Opus with ffmpeg and
// returns them as relay frames, in DTS order.
func makeVP8Input(t *testing.T) (video, audio *relay.Track, frames []sourceFrame) {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed")
	}
	dir := t.TempDir()
	ivf, ts := filepath.Join(dir, "v.ivf"), filepath.Join(dir, "a.ts")
	out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "6",
		"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M", "-g", "30", ivf).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg vp8: %v: %s", err, out)
	}
	out, err = exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "6",
		"-c:a", "libopus", "-b:a", "96k", "-ac", "2", "-f", "mpegts", ts).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg opus: %v: %s", err, out)
	}
	b, err := os.ReadFile(ivf)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:4]) != "DKIF" {
		t.Fatal("not IVF")
	}
	video = &relay.Track{Codec: relay.VP8, Width: int(binary.LittleEndian.Uint16(b[12:])), Height: int(binary.LittleEndian.Uint16(b[14:]))}
	rate, scale := binary.LittleEndian.Uint32(b[16:]), binary.LittleEndian.Uint32(b[20:])
	for b = b[32:]; len(b) >= 12; {
		n := int(binary.LittleEndian.Uint32(b))
		pts := int64(binary.LittleEndian.Uint64(b[4:]))
		data := b[12 : 12+n]
		b = b[12+n:]
		at := time.Duration(pts) * time.Second * time.Duration(scale) / time.Duration(rate)
		frames = append(frames, sourceFrame{track: video, dts: at, pts: at, key: data[0]&1 == 0, units: [][]byte{data}})
	}
	_, audio, audioFrames := demuxOpus(t, ts)
	frames = append(frames, audioFrames...)
	slices.SortStableFunc(frames, func(a, b sourceFrame) int { return int(a.dts - b.dts) })
	return video, audio, frames
}

// demuxOpus reads the Opus frames of an MPEG-TS file.
func demuxOpus(t *testing.T, path string) (*relay.Track, *relay.Track, []sourceFrame) {
	t.Helper()
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
	audio := relay.NewOpusTrack(2)
	var frames []sourceFrame
	for _, tr := range mr.Tracks() {
		if _, ok := tr.Codec.(*codecs.Opus); ok {
			mr.OnDataOpus(tr, func(pts int64, packets [][]byte) error {
				at := relay.TicksToDuration(td.Decode(pts), 90000)
				for _, p := range packets {
					frames = append(frames, sourceFrame{track: audio, dts: at, pts: at, key: true, units: [][]byte{p}})
					at += 20 * time.Millisecond
				}
				return nil
			})
		}
	}
	for mr.Read() == nil {
	}
	return nil, audio, frames
}

// TestVP8ToH264: a VP8 + Opus source (a browser without H.264) read by a reader that needs
// H.264 and AAC gets a rendition whose video ffmpeg re-encodes: what it makes, written to a
// file, is H.264 (scaled to 720p) and AAC for ffprobe, with a keyframe at least every 2 s.
func TestVP8ToH264(t *testing.T) {
	video, audio, frames := makeVP8Input(t)
	src, pub := liveStream(t, video, audio)
	m, logs := newPool(t)
	ctx := publishing(t, pub, frames, 6*time.Second)

	acquired := time.Now()
	st, release, err := m.acquireStream(ctx, src, rtmpNeeds)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if st.Name() != "concert~h264-aac" {
		t.Errorf("derived stream %q", st.Name())
	}
	rd := waitLive(t, st)
	defer rd.Close()
	liveAt := time.Now()
	pid := rendition0(m).pid.Load()
	cpu0, _ := cpuTicks(pid)

	out := filepath.Join(t.TempDir(), "out.ts")
	file, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	var (
		w          *mpegts.Writer
		vt, at     *mpegts.Track
		keys       []time.Duration
		nv, na     int
		base       time.Duration
		videoTrack *relay.Track
	)
	ticks := func(d time.Duration) int64 { return relay.DurationToTicks(d-base+time.Second, 90000) }
	readCtx, readCancel := context.WithTimeout(ctx, 15*time.Second)
	defer readCancel()
	for nv < 100 || na < 150 {
		f, err := rd.Next(readCtx)
		if err != nil {
			t.Fatalf("after %d video and %d audio frames: %v\n%s", nv, na, err, logs.String())
		}
		if w == nil {
			v, a := st.Track(relay.Video), st.Track(relay.Audio)
			if v == nil || a == nil {
				continue
			}
			var asc mpeg4audio.AudioSpecificConfig
			if err := asc.Unmarshal(a.AACConfig); err != nil {
				t.Fatal(err)
			}
			vt, at = &mpegts.Track{Codec: &codecs.H264{}}, &mpegts.Track{Codec: &codecs.MPEG4Audio{Config: asc}}
			w = &mpegts.Writer{W: file, Tracks: []*mpegts.Track{vt, at}}
			if err := w.Initialize(); err != nil {
				t.Fatal(err)
			}
			base = f.DTS
		}
		switch f.Track.Codec {
		case relay.H264:
			if nv == 0 && !f.Key {
				continue
			}
			videoTrack = f.Track
			au := f.Units
			if f.Key {
				keys = append(keys, f.PTS)
				au = relay.WithParamSets(f.Track, au)
			}
			err = w.WriteH264(vt, ticks(f.PTS), ticks(f.DTS), au)
			nv++
		case relay.AAC:
			err = w.WriteMPEG4Audio(at, ticks(f.PTS), f.Units)
			na++
		default:
			t.Fatalf("derived frame of codec %s", f.Track.Codec)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	file.Close()
	if cpu1, ok := cpuTicks(pid); ok {
		window := time.Since(liveAt)
		t.Logf("ffmpeg (VP8 decode, scale to 720p, libx264, AAC): %.0f%% of one core over %v; first derived frame %v after Acquire",
			float64(cpu1-cpu0)/window.Seconds(), window.Round(time.Millisecond), liveAt.Sub(acquired).Round(time.Millisecond))
	}
	// Scaled up to 720p: a browser starts small and grows.
	if videoTrack.Width != 1280 || videoTrack.Height != 720 {
		t.Errorf("derived video %dx%d, want 1280x720", videoTrack.Width, videoTrack.Height)
	}
	for i := 1; i < len(keys); i++ {
		if gap := keys[i] - keys[i-1]; gap > 2*time.Second {
			t.Errorf("keyframes %v apart, want at most 2 s: %v", gap, keys)
			break
		}
	}
	if len(keys) < 2 {
		t.Errorf("keyframes at %v: want one every 2 s", keys)
	}

	probe, err := exec.Command("ffprobe", "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", out).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	// ffprobe lists the streams once per program and once alone.
	got := strings.Fields(string(probe))
	slices.Sort(got)
	got = slices.Compact(got)
	t.Logf("ffprobe: %v; keyframes at %v", got, keys)
	if len(got) != 2 || !strings.HasPrefix(got[0], "aac") || !strings.HasPrefix(got[1], "h264,1280,720,") {
		t.Fatalf("ffprobe: %v, want h264 1280x720 and aac", got)
	}
	if n, _ := strconv.Atoi(got[1][strings.LastIndexByte(got[1], ',')+1:]); n < 90 {
		t.Errorf("ffprobe decoded %d video frames of the %d written", n, nv)
	}
	if n := logs.Count("ffmpeg failed"); n != 0 {
		t.Errorf("%d ffmpeg failures logged:\n%s", n, logs.String())
	}
}
