package record

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beffroi/beffroi/relay"
)

// Defaults of Options.
const (
	DefaultSegmentDuration = 2 * time.Second
	DefaultRetryInterval   = 3 * time.Second
)

// Options configures a Recorder.
type Options struct {
	// Root is the directory recordings are written under (<data_dir>/recordings).
	Root string
	// SegmentDuration is the target length of media segments; segments are cut on the first
	// video keyframe after it (audio-only streams: on time). Default 2 s.
	SegmentDuration time.Duration
	// RetryInterval is how often a paused recording (disk full) tries to write again, at the
	// next keyframe. Default 3 s.
	RetryInterval time.Duration
	// Catalog, when set, is told of every change of every recording.
	Catalog Catalog
	// Logger receives the recorder's events; nil discards them.
	Logger *slog.Logger
	// Off: streams are not recorded unless switched on with SetEnabled (record.enabled:
	// false in the configuration).
	Off bool
	// Uploads, when set, is told of every segment once durable and of every recording once
	// closed (record.storage: s3 copies them to object storage).
	Uploads Uploads

	// beforeWrite, set by tests, is called before each segment or init segment is written:
	// returning an error fails the write (a full disk), sleeping makes a slow disk.
	beforeWrite func(name string) error
}

// Status is a stream's recorder state as the API shows it.
type Status struct {
	// State: "off" (recording disabled for the stream), "idle" (enabled, the stream is not
	// live), "recording" or "paused" (the disk is full or unwritable).
	State string `json:"state"`
	// Recording is the ID of the current recording, if any.
	Recording string `json:"recording_id,omitempty"`
	// Skipped counts the frames the recorder skipped because it fell behind the stream (a
	// disk too slow for the stream), since start-up.
	Skipped uint64 `json:"frames_skipped"`
}

// Recorder records every live session of the streams of a registry, each into its own
// recording. It is one relay reader per live stream: it never slows the publisher or the
// other readers; if the disk is too slow it falls behind and skips like any reader.
type Recorder struct {
	reg  *relay.Registry
	opts Options
	log  *slog.Logger

	// frames counts the frames the recorder read, every stream together.
	frames atomic.Uint64

	mu        sync.Mutex
	enabledBy map[string]bool // streams switched on or off with SetEnabled
	wake      map[string]chan struct{}
	status    map[string]Status
	readers   map[string]*relay.Reader // the current session's, by stream
	skipped   map[string]uint64        // frames skipped by past sessions' readers
}

// New returns a recorder of reg's streams; every stream is recorded unless switched off with
// SetEnabled (or, with Options.Off, only those switched on).
func New(reg *relay.Registry, o Options) *Recorder {
	if o.SegmentDuration <= 0 {
		o.SegmentDuration = DefaultSegmentDuration
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	if abs, err := filepath.Abs(o.Root); err == nil {
		o.Root = abs // Info.Dir, as the catalogue sees it, does not depend on the working directory
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{
		reg: reg, opts: o, log: log,
		enabledBy: map[string]bool{}, wake: map[string]chan struct{}{}, status: map[string]Status{},
		readers: map[string]*relay.Reader{}, skipped: map[string]uint64{},
	}
}

// SetEnabled switches recording of a stream on or off (on by default). Switching it off
// while live closes the current recording (finished); switching it on while live starts a
// new one at the next keyframe.
func (r *Recorder) SetEnabled(stream string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.enabledBy[stream] = on
	if ch := r.wake[stream]; ch != nil {
		close(ch)
		r.wake[stream] = make(chan struct{})
	}
}

func (r *Recorder) enabled(stream string) (bool, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := r.wake[stream]
	if ch == nil {
		ch = make(chan struct{})
		r.wake[stream] = ch
	}
	return r.isOn(stream), ch
}

// isOn reports whether a stream is recorded. Called with mu held.
func (r *Recorder) isOn(stream string) bool {
	if on, ok := r.enabledBy[stream]; ok {
		return on
	}
	return !r.opts.Off
}

// Status returns the recorder's state for a stream.
func (r *Recorder) Status(stream string) Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	skipped := r.skipped[stream]
	if rd := r.readers[stream]; rd != nil {
		skipped += rd.Skipped()
	}
	if !r.isOn(stream) {
		return Status{State: "off", Skipped: skipped}
	}
	st, ok := r.status[stream]
	if !ok {
		st = Status{State: "idle"}
	}
	st.Skipped = skipped
	return st
}

// setReader records the reader of a stream's session (nil when it ends).
func (r *Recorder) setReader(stream string, rd *relay.Reader) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.readers[stream]; old != nil && rd == nil {
		r.skipped[stream] += old.Skipped()
	}
	r.readers[stream] = rd
}

func (r *Recorder) setStatus(stream string, st Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[stream] = st
}

// Run records until ctx is cancelled, following streams as they are added to and removed
// from the registry. Recordings in progress are closed (finished) before it returns, after
// recording the frames their stream had already published. Shutdown: stop ingest first, then
// cancel ctx, so that recordings hold everything the publishers sent.
func (r *Recorder) Run(ctx context.Context) error {
	r.reg.Follow(ctx, r.follow)
	return nil
}

// follow records each live session of one stream while recording is enabled for it.
func (r *Recorder) follow(ctx context.Context, st *relay.Stream) {
	name := st.Name()
	log := r.log.With("stream", name)
	defer func() {
		r.mu.Lock()
		delete(r.status, name)
		r.mu.Unlock()
	}()
	for {
		// Wait until the stream is live and recording enabled.
		for {
			state, changed := st.State()
			on, wake := r.enabled(name)
			if on && state != relay.Idle {
				break
			}
			r.setStatus(name, Status{State: "idle"})
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-wake:
			}
		}
		// The reader is taken as soon as the stream is live, before its media: ingest may
		// hold the first seconds back while it analyses the tracks and then write them at
		// once, and a reader taken later would start at the newest keyframe of that burst.
		rd, err := st.Subscribe(relay.ReaderOptions{})
		if err != nil {
			continue // ended meanwhile
		}
		r.setReader(name, rd)
		sctx, cancel := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() { // switching recording off closes the recording
			defer close(watched)
			for {
				on, wake := r.enabled(name)
				if !on {
					cancel()
					return
				}
				select {
				case <-wake:
				case <-sctx.Done():
					return
				}
			}
		}()
		s := newSession(sessionConfig{
			root: r.opts.Root, stream: st, target: r.opts.SegmentDuration, retry: r.opts.RetryInterval,
			catalog: r.opts.Catalog, log: log, frames: &r.frames, beforeWrite: r.opts.beforeWrite,
			uploads: r.opts.Uploads,
			status:  func(state State, id string) { r.setStatus(name, Status{State: string(state), Recording: id}) },
		})
		s.run(sctx, rd)
		cancel()
		<-watched
		r.setReader(name, nil)
		rd.Close()
		r.setStatus(name, Status{State: "idle"})
		if ctx.Err() != nil {
			return
		}
		// Next: the stream's next session, or recording switched on again.
	}
}
