package transcode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/beffroi/beffroi/relay"
)

// ErrClosed is returned (wrapped) by Renditions.Fit after Renditions.Close.
var ErrClosed = errors.New("transcode: renditions closed")

// Defaults of Options.
const (
	DefaultFFmpeg      = "ffmpeg"
	DefaultAACBitrate  = 160000
	DefaultOpusBitrate = 128000
)

// Options configures Renditions. A derived stream keeps its source's reconnect grace
// (relay.Stream.Grace): its readers stay open that long while its ffmpeg restarts, and zero
// means no grace there either.
type Options struct {
	// FFmpeg is the ffmpeg program, a path or a name looked up in PATH. Default "ffmpeg".
	FFmpeg string
	// AACBitrate is the bitrate of AAC audio made from another codec, in bits/s. Default
	// 160000: concerts need music quality.
	AACBitrate int
	// OpusBitrate is the bitrate of Opus audio made from another codec, in bits/s. Default
	// 128000.
	OpusBitrate int
	// Logger receives the renditions' events; nil discards them.
	Logger *slog.Logger
}

// RenditionStatus describes one rendition for the API and the console.
type RenditionStatus struct {
	// Stream is the source stream's name; Output the derived stream's.
	Stream string `json:"stream"`
	Output string `json:"output"`
	Needs  string `json:"needs"`
	// State is "starting", "running" or "failed".
	State string `json:"state"`
	// LastError is the last failure of ffmpeg, with the tail of what it wrote on stderr.
	LastError string `json:"last_error"`
	// Since is when State was entered.
	Since time.Time `json:"since"`
	// Restarts counts ffmpeg restarts after a failure.
	Restarts int `json:"restarts"`
}

// Rendition states.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateFailed   = "failed"
)

type renditionKey struct {
	src   *relay.Stream
	needs string
}

// Renditions is the pool of the renditions of every stream: readers get the stream that fits
// their needs with Fit. It is safe for concurrent use.
type Renditions struct {
	o      Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	rends  map[renditionKey]*rendition
}

// New returns a pool with no rendition.
func New(o Options) *Renditions {
	if o.FFmpeg == "" {
		o.FFmpeg = DefaultFFmpeg
	}
	if o.AACBitrate <= 0 {
		o.AACBitrate = DefaultAACBitrate
	}
	if o.OpusBitrate <= 0 {
		o.OpusBitrate = DefaultOpusBitrate
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Renditions{
		o: o, log: log, ctx: ctx, cancel: cancel,
		rends: map[renditionKey]*rendition{},
	}
}

// acquire returns the stream a reader with these needs must read, as Fit does, but without
// waiting: src itself when its tracks (as they are now) fit, else the rendition of (src,
// needs), started if none runs, which may have no media yet. release must be called when the
// reader is done with it; the process stops when the last reader released it, or when src's
// live session ends (the derived stream's readers then get relay.ErrEnded).
func (m *Renditions) acquire(ctx context.Context, src *relay.Stream, needs Needs) (r *rendition, release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	video, audio := src.Track(relay.Video), src.Track(relay.Audio)
	bframes := needs.NoBFrames && video != nil && HasBFrames(src)
	if !bframes && needs.Fits(video, audio) {
		return nil, func() {}, nil
	}
	if state, _ := src.State(); state == relay.Idle {
		return nil, nil, relay.ErrNotLive
	}
	p, err := makePlan(video, audio, needs, bframes)
	if err != nil {
		return nil, nil, err
	}
	path, err := exec.LookPath(m.o.FFmpeg)
	if err != nil {
		return nil, nil, fmt.Errorf("ffmpeg not found (%q): %w", m.o.FFmpeg, err)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, nil, ErrClosed
	}
	k := renditionKey{src: src, needs: needs.String()}
	r = m.rends[k]
	if r != nil && bframes {
		// A rendition that copies the video (an AAC source) re-encodes it from its next
		// start: its feeder restarts it when the first B-frame comes.
		r.bframes.Store(true)
	}
	if r == nil {
		r = m.newRendition(k, path, needs, p)
		r.bframes.Store(bframes) // before its first start
		m.rends[k] = r
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			r.run()
			m.mu.Lock()
			if m.rends[k] == r {
				delete(m.rends, k)
			}
			m.mu.Unlock()
		}()
	}
	r.users++
	var once sync.Once
	return r, func() { once.Do(func() { m.release(k, r) }) }, nil
}

// release drops one user of r, stopping r with its last one.
func (m *Renditions) release(k renditionKey, r *rendition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r.users--
	if r.users > 0 {
		return
	}
	if m.rends[k] == r {
		delete(m.rends, k)
	}
	r.cancel()
}

// Status returns the renditions, sorted by stream and needs.
func (m *Renditions) Status() []RenditionStatus {
	m.mu.Lock()
	l := make([]RenditionStatus, 0, len(m.rends))
	for _, r := range m.rends {
		l = append(l, r.status())
	}
	m.mu.Unlock()
	slices.SortFunc(l, func(a, b RenditionStatus) int {
		if c := strings.Compare(a.Stream, b.Stream); c != 0 {
			return c
		}
		return strings.Compare(a.Needs, b.Needs)
	})
	return l
}

// Close stops every rendition, ends their derived streams and waits for their goroutines
// and processes.
func (m *Renditions) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}
