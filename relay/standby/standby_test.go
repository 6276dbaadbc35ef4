package standby

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

func requireFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
}

// run starts a Service on a registry with one stream and a publisher sending in real time.
func run(t *testing.T, picture string, opus bool) (*relay.Stream, *relaytest.Publisher, *testutil.LogBuffer) {
	t.Helper()
	logs := &testutil.LogBuffer{}
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: time.Minute, RingSize: 4096})
	st, err := reg.Add("concert", "pk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.StopAll)
	svc := New(reg, Options{FFmpeg: "ffmpeg", Logger: logs.Logger(),
		Picture: func(string) string { return picture }})
	testutil.Start(t, svc.Run)
	o := relaytest.Options{}
	if opus {
		o.Audio = relay.Opus
	}
	p := relaytest.Publish(t, st, o)
	p.Start()
	// The loop is made while live, once the frame rate is known.
	testutil.Eventually(t, 15*time.Second, func() error {
		if logs.Count("standby picture ready") == 0 {
			return errors.New("no loop made yet:\n" + logs.String())
		}
		return nil
	})
	return st, p, logs
}

// watch reads the stream for d and returns the frames.
func watch(t *testing.T, r *relay.Reader, d time.Duration) []*relay.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var fs []*relay.Frame
	for {
		f, err := r.Next(ctx)
		if err != nil {
			return fs
		}
		fs = append(fs, f)
	}
}

// TestStandbyDuringGrace: the publisher leaves; the readers get the slate (at the source's
// size, with audio the source's track decodes, a keyframe every second, timestamps going on),
// and the publisher's return hands back.
func TestStandbyDuringGrace(t *testing.T) {
	requireFFmpeg(t)
	for _, opus := range []bool{false, true} {
		name := "aac"
		if opus {
			name = "opus"
		}
		t.Run(name, func(t *testing.T) {
			st, p, logs := run(t, "", opus)
			r, err := st.Subscribe(relay.ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			watch(t, r, 500*time.Millisecond)
			p.Close()
			gone := time.Now()
			fs := watch(t, r, 2500*time.Millisecond)
			var first time.Time
			var keys []time.Duration
			var audio int
			for _, f := range fs {
				if !f.Standby {
					continue
				}
				if first.IsZero() {
					first = f.Published
				}
				if f.Track.Kind() == relay.Audio {
					audio++
					if f.Track != p.Audio() {
						t.Errorf("slate audio on another track (%+v) than the source's: readers would see new parameters", f.Track)
					}
					continue
				}
				if f.Track.Width != 1280 || f.Track.Height != 720 {
					t.Errorf("slate is %dx%d, want the source's 1280x720", f.Track.Width, f.Track.Height)
				}
				if f.Key {
					keys = append(keys, f.DTS)
				}
			}
			if first.IsZero() {
				t.Fatalf("no standby frame within 2.5 s of the publisher leaving:\n%s", logs.String())
			}
			if d := first.Sub(gone); d > time.Second {
				t.Errorf("the slate started %v after the publisher left, want within 1 s", d)
			}
			if audio == 0 {
				t.Error("the slate has no sound")
			}
			if len(keys) < 2 {
				t.Fatalf("%d slate keyframes in 2.5 s", len(keys))
			}
			for i := 1; i < len(keys); i++ {
				if d := keys[i] - keys[i-1]; d > 1100*time.Millisecond {
					t.Errorf("slate keyframes %v apart", d)
				}
			}
			assertIncreasing(t, fs)

			// Back: the publisher's first keyframe takes over.
			p.Republish()
			p.Start()
			back := watch(t, r, 1500*time.Millisecond)
			assertIncreasing(t, append(fs, back...))
			var live int
			for _, f := range back {
				if !f.Standby {
					live++
				}
			}
			if live == 0 || back[len(back)-1].Standby {
				t.Errorf("the publisher's frames did not take over (%d of %d)", live, len(back))
			}
			if st.OnStandby() {
				t.Error("still on standby after the publisher's return")
			}
		})
	}
}

// TestStandbyImage: an uploaded image replaces the slate, scaled into the source's size.
func TestStandbyImage(t *testing.T) {
	requireFFmpeg(t)
	img := image.NewRGBA(image.Rect(0, 0, 400, 300))
	for i := range img.Pix {
		img.Pix[i] = 0xc0
	}
	img.Set(10, 10, color.RGBA{R: 255, A: 255})
	pic := filepath.Join(t.TempDir(), "pause.png")
	f, err := os.Create(pic)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, _, logs := run(t, pic, false)
	if logs.Count("standby picture ready", "image=true") == 0 {
		t.Errorf("the loop was not made from the image:\n%s", logs.String())
	}
	if err := st.SetPaused(true); err != nil {
		t.Fatal(err)
	}
	r, err := st.Subscribe(relay.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fs := watch(t, r, 1500*time.Millisecond)
	n := 0
	for _, f := range fs {
		if f.Standby && f.Track.Kind() == relay.Video {
			n++
			if f.Track.Width != 1280 || f.Track.Height != 720 {
				t.Fatalf("image slate is %dx%d", f.Track.Width, f.Track.Height)
			}
		}
	}
	if n == 0 {
		t.Fatalf("no standby picture while paused:\n%s", logs.String())
	}
	assertIncreasing(t, fs)
}

func assertIncreasing(t *testing.T, fs []*relay.Frame) {
	t.Helper()
	var last [2]time.Duration
	var seen [2]bool
	for i, f := range fs {
		k := f.Track.Kind()
		if seen[k] && f.DTS <= last[k] {
			t.Errorf("frame %d (%v, standby %v): DTS %v after %v", i, k, f.Standby, f.DTS, last[k])
		}
		last[k], seen[k] = f.DTS, true
	}
}

func TestFrameRate(t *testing.T) {
	for _, c := range []struct {
		fps      float64
		num, den int
	}{{30, 30, 1}, {29.97, 30000, 1001}, {29.6, 30, 1}, {29, 30, 1}, {31, 30, 1}, {25.02, 25, 1}, {24, 24, 1},
		{58, 60, 1}, {59.94, 60000, 1001}, {20, 20, 1}, {0.2, 1, 1}} {
		if n, d := frameRate(c.fps); n != c.num || d != c.den {
			t.Errorf("frameRate(%v) = %d/%d, want %d/%d", c.fps, n, d, c.num, c.den)
		}
	}
}

func TestParamsFit(t *testing.T) {
	p := params{width: 1280, height: 720, rateNum: 30, rateDen: 1, profile: "high", audio: relay.AAC, sampleRate: 48000, channels: 2}
	q := p
	q.rateNum, q.rateDen = 30000, 1001
	if !p.fits(q) {
		t.Error("a loop at 30 fps does not serve 29.97 fps")
	}
	q.rateNum, q.rateDen = 25, 1
	if p.fits(q) {
		t.Error("a loop at 30 fps serves 25 fps")
	}
	q = p
	q.width = 640
	if p.fits(q) {
		t.Error("a loop at 1280x720 serves 640x720")
	}
}

// A loop is not encoded again while the measured frame rate wavers, nor while the standby is
// due; a new rate that holds gets its loop after rateSettle; a new size at once.
func TestLoopAgainForASettledRate(t *testing.T) {
	at := func(fps int) params {
		return params{width: 640, height: 360, rateNum: fps, rateDen: 1, profile: "high", audio: relay.Opus, sampleRate: 48000, channels: 2}
	}
	f := &follower{loop: &loop{p: at(30)}}
	t0 := time.Unix(1000, 0)
	for i, fps := range []int{25, 28, 30, 27, 25, 28, 26, 30, 24} {
		if f.needsLoop(at(fps), false, t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("a loop again for %d fps after %d s of a wavering rate", fps, i)
		}
	}
	for i := range 10 {
		now := t0.Add(time.Duration(20+i) * time.Second)
		got := f.needsLoop(at(25), false, now)
		if want := i == 5; got != want {
			t.Fatalf("25 fps for %d s: needs a loop %v, want %v", i, got, want)
		}
		if got {
			f.loop.p = at(25) // encoded
		}
	}
	// The standby due while the rate moved: the loop at hand serves.
	if f.needsLoop(at(30), true, t0.Add(40*time.Second)) || f.needsLoop(at(30), true, t0.Add(50*time.Second)) {
		t.Error("a loop encoded again for another frame rate while the standby is due")
	}
	big := at(30)
	big.width, big.height = 1280, 720
	if !f.needsLoop(big, false, t0.Add(time.Minute)) || !f.needsLoop(big, true, t0.Add(time.Minute)) {
		t.Error("a new picture size does not get its loop at once")
	}
}

// TestNoStandbyForOtherAudio: HE-AAC (which ffmpeg's encoder does not make) gets no standby
// picture rather than one with other audio parameters, said once in the log.
func TestNoStandbyForOtherAudio(t *testing.T) {
	requireFFmpeg(t)
	video := relaytest.H264Track(t)
	// HE-AAC (SBR, explicit hierarchical signalling): 24 kHz core, 48 kHz output, stereo.
	he, err := relay.NewAACTrack([]byte{0x2b, 0x92, 0x08, 0x00})
	if err != nil {
		t.Fatal(err)
	}
	p, ok, err := paramsOf(video, he, 30, true)
	if err != nil || !ok {
		t.Fatalf("paramsOf: %v %v", ok, err)
	}
	_, err = encode(t.Context(), "ffmpeg", p, video, he)
	t.Logf("HE-AAC source %+v: %v", he, err)
	if !errors.Is(err, errUnsupported) {
		t.Errorf("encode for HE-AAC: %v, want errUnsupported", err)
	}
	if _, _, err := paramsOf(relay.NewOpusTrack(2), nil, 30, true); !errors.Is(err, errUnsupported) {
		t.Errorf("paramsOf for a non-H.264 video: %v, want errUnsupported", err)
	}
}
