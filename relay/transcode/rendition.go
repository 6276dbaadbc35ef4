package transcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beffroi/beffroi/relay"
)

// Restart backoff after ffmpeg fails; a process that ran for maxBackoff starts again from
// minBackoff.
const (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// feederMaxLag is how far behind the source the feeder may fall (ffmpeg slow to read its
// input) before it skips to the newest keyframe: a rendition stays live rather than late.
const feederMaxLag = 3 * time.Second

// killDelay bounds the wait for ffmpeg's pipes once it has been killed.
const killDelay = 5 * time.Second

var (
	// errSourceEnded: the source's live session is over; the rendition ends with it.
	errSourceEnded = errors.New("source stream ended")
	// errTracksChanged: the source now has tracks the running process was not started with.
	errTracksChanged = errors.New("source tracks changed")
	// errBFrames: the source's video, copied, now has B-frames, which the needs refuse.
	errBFrames = errors.New("source video now has B-frames")
)

// rendition is one ffmpeg process, restarted as needed, and the derived stream it feeds.
type rendition struct {
	m      *Renditions
	src    *relay.Stream
	out    *relay.Stream
	needs  Needs
	key    string
	path   string
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	users  int // guarded by m.mu

	pid atomic.Int64 // of the running ffmpeg, 0 when none (for tests and measurements)
	// bframes: the source's video has had B-frames, and the needs refuse them: the video is
	// re-encoded from then on (the rendition's whole life: an encoder that made them once
	// makes them again).
	bframes atomic.Bool

	mu       sync.Mutex
	state    string
	since    time.Time
	lastErr  string
	restarts int
}

func (m *Renditions) newRendition(k renditionKey, path string, needs Needs, p plan) *rendition {
	ctx, cancel := context.WithCancel(m.ctx)
	name := k.src.Name() + "~" + p.suffix()
	log := m.log.With("stream", k.src.Name(), "rendition", name)
	return &rendition{
		m: m, src: k.src, needs: needs, key: k.needs, path: path, log: log,
		ctx: ctx, cancel: cancel,
		out:   relay.NewStream(relay.StreamOptions{Name: name, Grace: k.src.Grace(), Logger: log}),
		state: StateStarting, since: time.Now(),
	}
}

func (r *rendition) status() RenditionStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RenditionStatus{
		Stream: r.src.Name(), Output: r.out.Name(), Needs: r.key,
		State: r.state, LastError: r.lastErr, Since: r.since, Restarts: r.restarts,
	}
}

func (r *rendition) setState(state string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.lastErr = err.Error()
	}
	if state == r.state {
		return
	}
	r.state, r.since = state, time.Now()
}

// run runs ffmpeg until the rendition is cancelled or the source's session ends, restarting
// it with a backoff when it fails. The derived stream ends when run returns.
func (r *rendition) run() {
	defer r.cancel()
	defer r.out.Stop()
	backoff := minBackoff
	for {
		started := time.Now()
		err := r.runOnce()
		switch {
		case r.ctx.Err() != nil:
			return
		case errors.Is(err, errSourceEnded):
			r.log.Info("source ended: rendition stopped")
			return
		case errors.Is(err, errTracksChanged):
			r.log.Info("source tracks changed: restarting ffmpeg")
			r.setState(StateStarting, nil)
			continue
		case errors.Is(err, errBFrames):
			r.bframes.Store(true)
			r.log.Info("the source's video now has B-frames: restarting ffmpeg to re-encode it without")
			r.setState(StateStarting, nil)
			continue
		}
		if time.Since(started) >= maxBackoff {
			backoff = minBackoff
		}
		r.log.Warn("ffmpeg failed", "error", err, "retry_in", backoff)
		r.setState(StateFailed, err)
		select {
		case <-r.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
		r.mu.Lock()
		r.restarts++
		r.mu.Unlock()
		r.setState(StateStarting, nil)
	}
}

// args returns ffmpeg's command line for p; bitrate is the video bitrate when it re-encodes.
//
// Latency: the input is neither buffered nor probed beyond what it takes to see both tracks
// (the feeder writes the PMT first and the stream starts at a keyframe); the output is flushed
// after every packet, without the mux delay, and each audio frame gets its own PES packet
// (by default ffmpeg gathers ~150 ms of AAC into one).
//
// Re-encoding VP8/VP9 to H.264 reads the video as IVF from fd 3 and the audio as MPEG-TS
// from stdin, on the same clock (-copyts keeps the inputs in step); re-encoding H.264 with
// B-frames reads both from stdin. libx264 encodes for live (veryfast, zerolatency: no
// B-frames, no look-ahead) with a keyframe at most every 2 s, as platforms want, at the
// source's bitrate, to a fixed picture size (see outputSize).
func (r *rendition) args(p plan, bitrate int) []string {
	lowDelay := []string{"-fflags", "nobuffer", "-flags", "low_delay",
		"-probesize", "32768", "-analyzeduration", "0", "-thread_queue_size", "1024"}
	a := []string{"-hide_banner", "-nostdin", "-loglevel", "error"}
	video, audio := "0:v:0", "0:a:0"
	if p.ivf() {
		a = append(a, lowDelay...)
		a = append(a, "-f", "ivf", "-i", "pipe:3")
		if p.audio != nil {
			a = append(a, lowDelay...)
			a = append(a, "-f", "mpegts", "-i", "pipe:0")
			audio = "1:a:0"
		}
		a = append(a, "-copyts")
	} else {
		if p.videoOut != "" {
			// Not low_delay: it makes the H.264 decoder hand out pictures in the order they
			// come, which for B-frames is not the order they are shown.
			lowDelay = slices.DeleteFunc(lowDelay, func(s string) bool { return s == "-flags" || s == "low_delay" })
		}
		a = append(a, lowDelay...)
		a = append(a, "-f", "mpegts", "-i", "pipe:0")
	}
	if p.video != nil {
		a = append(a, "-map", video)
		if p.videoOut == relay.H264 {
			w, h := p.outW, p.outH
			br, buf := strconv.Itoa(bitrate), strconv.Itoa(bitrate)
			if !p.shape.IsZero() && p.shape.Fit == FitScale {
				// A rung is chosen by players for its bitrate, on links that carry little
				// more: half a second of buffer keeps every second near it (a second's
				// buffer let 360p at 600 kbit/s run at 670 over a segment).
				buf = strconv.Itoa(bitrate / 2)
			}
			a = append(a, "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "0",
				"-pix_fmt", "yuv420p", "-b:v", br, "-maxrate", br, "-bufsize", buf)
			switch {
			case !p.shape.IsZero() && p.shape.Fit == FitScale:
				// A rung of a ladder: the source scaled, with a keyframe where the source has
				// one and nowhere else, so that its segments line up with the source's and a
				// player switches between them cleanly.
				// Timestamps pass through (no frame duplicated or dropped to a constant
				// rate): the rung's pictures keep the source's times, a constant away.
				a = append(a, "-force_key_frames", "source", "-sc_threshold", "0", "-g", "100000", "-fps_mode", "passthrough", "-vf", p.shape.filter())
			case !p.shape.IsZero():
				// A reshaped picture: its filter, and keyframes every 2 s only (no scene cut
				// adds one), as platforms want.
				a = append(a, "-force_key_frames", shapeKeyframeExpr, "-sc_threshold", "0", "-vf", p.shape.filter())
			case w > 0 && h > 0:
				a = append(a, "-force_key_frames", keyframeExpr, "-vf", fmt.Sprintf("scale=%d:%d", w, h))
			default:
				a = append(a, "-force_key_frames", keyframeExpr)
			}
		} else {
			a = append(a, "-c:v", "copy")
		}
	}
	if p.audio != nil {
		a = append(a, "-map", audio)
		switch p.audioOut {
		case relay.AAC:
			a = append(a, "-c:a", "aac", "-b:a", strconv.Itoa(r.m.o.AACBitrate))
		case relay.Opus:
			a = append(a, "-c:a", "libopus", "-b:a", strconv.Itoa(r.m.o.OpusBitrate), "-ar", "48000")
		default:
			a = append(a, "-c:a", "copy")
		}
	}
	return append(a,
		"-f", "mpegts", "-muxdelay", "0", "-muxpreload", "0",
		"-pes_payload_size", "0", "-flush_packets", "1",
		"pipe:1",
	)
}

// keyframeExpr makes the encoder's keyframes: the first frame, then the first frame 1.8 s or
// more after the last keyframe. Platforms want one every 2 s at most, and a browser's frames
// are not evenly spaced (it drops some when its CPU or network is short): aiming at 1.8 s
// keeps the interval under 2 s when a frame or two are missing around the mark.
const keyframeExpr = "expr:if(isnan(prev_forced_t),1,gte(t-prev_forced_t,1.8))"

// maxVideoBitrate bounds the re-encoded video's bitrate.
const maxVideoBitrate = 8_000_000

// videoBitrate is the bitrate to re-encode the source's video at: what it has been arriving
// at (H.264 at the bitrate of VP8 looks about as good), at least 1.5 Mbit/s for 720p (scaled
// with the picture: a browser that just started sends little, and its resolution and
// bitrate rise within seconds) and at most maxVideoBitrate.
func videoBitrate(src *relay.Stream, w, h int) int {
	floor := int(1_500_000 * float64(w*h) / (1280 * 720))
	floor = min(max(floor, 500_000), maxVideoBitrate)
	for _, t := range src.Info().Tracks {
		if t.Kind == relay.Video.String() && t.Bitrate > 0 {
			return min(max(int(t.Bitrate), floor), maxVideoBitrate)
		}
	}
	return floor
}

// runOnce runs one ffmpeg process until it exits, the source ends or the rendition is
// cancelled.
func (r *rendition) runOnce() error {
	rd, err := r.src.Subscribe(relay.ReaderOptions{MaxLag: feederMaxLag})
	if err != nil {
		return errSourceEnded
	}
	defer rd.Close()
	p, err := makePlan(r.src.Track(relay.Video), r.src.Track(relay.Audio), r.needs, r.bframes.Load())
	if err != nil {
		return err
	}

	stderr := &tail{}
	bitrate := 0
	switch {
	case p.shape.Bitrate > 0:
		bitrate = p.shape.Bitrate
	case p.videoOut != "":
		bitrate = videoBitrate(r.src, p.outW, p.outH)
	}
	cmd := exec.Command(r.path, r.args(p, bitrate)...)
	cmd.Stderr = stderr
	cmd.WaitDelay = killDelay
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	// The video to re-encode goes on fd 3 (IVF); ivfR is ffmpeg's end.
	var ivfR, ivfW *os.File
	if p.ivf() {
		if ivfR, ivfW, err = os.Pipe(); err != nil {
			return err
		}
		cmd.ExtraFiles = []*os.File{ivfR}
		defer ivfW.Close()
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	err = cmd.Start()
	if ivfR != nil {
		ivfR.Close() // ffmpeg has its copy
	}
	if err != nil {
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	if p.videoOut != "" {
		r.log.Info("re-encoding the video", "from", string(p.video.Codec), "to", string(p.videoOut),
			"width", p.outW, "height", p.outH, "fit", p.shape.Fit, "bitrate", bitrate)
	}
	r.pid.Store(int64(cmd.Process.Pid))
	defer r.pid.Store(0)

	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	feedErr := make(chan error, 1)
	var ts, ivf io.WriteCloser = stdin, nil
	if ivfW != nil {
		tsPipe, ivfPipe := newPipeWriter(stdin), newPipeWriter(ivfW)
		defer tsPipe.Wait()
		defer ivfPipe.Wait()
		ts, ivf = tsPipe, ivfPipe
	}
	go func() {
		err := feed(ctx, rd, p, ts, ivf)
		ts.Close()
		if ivf != nil {
			ivf.Close()
		}
		feedErr <- err
	}()
	outErr := make(chan error, 1)
	go func() { outErr <- r.output(stdout, p) }()

	// The first to stop says why; killing ffmpeg then stops the other.
	var cause error
	select {
	case cause = <-feedErr:
		_ = cmd.Process.Kill()
		<-outErr //nolint:errcheck // the reader stops once ffmpeg is killed
	case cause = <-outErr:
		_ = cmd.Process.Kill()
		cancel()
		<-feedErr //nolint:errcheck // the feeder stops once cancelled
	}
	// Reads from stdout are over: Wait may close the pipes now.
	waitErr := cmd.Wait()
	switch {
	case errors.Is(cause, errSourceEnded), errors.Is(cause, errTracksChanged), errors.Is(cause, errBFrames), r.ctx.Err() != nil:
		return cause
	}
	msg := "ffmpeg exited"
	if waitErr != nil {
		msg = "ffmpeg: " + waitErr.Error()
	}
	if t := stderr.String(); t != "" {
		msg += ": " + t
	}
	if cause != nil && !errors.Is(cause, io.EOF) {
		return fmt.Errorf("%s (%w)", msg, cause)
	}
	return errors.New(msg)
}

// tailSize bounds what is kept of ffmpeg's stderr.
const tailSize = 2048

// tail keeps the end of what ffmpeg writes on stderr, for the status and the log.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > tailSize {
		t.b = append(t.b[:0], t.b[len(t.b)-tailSize:]...)
	}
	return len(p), nil
}

// String returns the last lines, joined with " | ".
func (t *tail) String() string {
	t.mu.Lock()
	lines := strings.FieldsFunc(string(t.b), func(r rune) bool { return r == '\n' || r == '\r' })
	t.mu.Unlock()
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}
