package outputs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
)

// State is a destination's state as the console shows it.
type State string

// Destination states.
const (
	// StateIdle: enabled, waiting for the stream to go live.
	StateIdle State = "idle"
	// StateDisabled: switched off by the operator.
	StateDisabled State = "disabled"
	// StateConnecting: connecting and setting up the publish session.
	StateConnecting State = "connecting"
	// StateLive: the platform accepted the stream and media flows.
	StateLive State = "live"
	// StateRetrying: the last attempt failed; the next one is at RetryAt.
	StateRetrying State = "retrying"
)

// Progress is what a pusher reports while it runs.
type Progress interface {
	// Live is called once the platform accepted the publish session.
	Live()
	// Wrote counts bytes and frames sent.
	Wrote(bytes, frames int)
}

// Pusher sends one stream to one destination.
type Pusher interface {
	// Push connects, then sends what r reads until ctx is cancelled (nil or ctx.Err()), the
	// stream ends (relay.ErrEnded) or something fails (any other error, which must say what
	// failed and must not contain the destination's stream key).
	Push(ctx context.Context, r *relay.Reader, p Progress) error
}

// NewPusherFunc makes the pusher for a destination URL.
type NewPusherFunc func(u *url.URL, o Options) (Pusher, error)

// Status is a snapshot of a destination for the API, the console and the metrics. It never
// holds the destination URL: that URL carries the platform's stream key.
type Status struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Host     string `json:"host"`
	Enabled  bool   `json:"enabled"`
	// AllowPrivate: the destination may reach private and loopback addresses (set by an admin).
	AllowPrivate bool `json:"allow_private,omitempty"`
	// Shape is the picture the destination gets ("vertical-crop", "vertical-blur"); empty:
	// the source's.
	Shape      string     `json:"shape,omitempty"`
	State      State      `json:"state"`
	Since      time.Time  `json:"since"`
	LastError  string     `json:"last_error,omitempty"`
	RetryAt    *time.Time `json:"retry_at,omitempty"`
	Bytes      uint64     `json:"bytes"`
	Frames     uint64     `json:"frames"`
	Bitrate    float64    `json:"bitrate"`
	Skipped    uint64     `json:"frames_skipped"`
	Reconnects uint64     `json:"reconnects"`
	// Uptime is how long, in seconds, the destination has been live since Beffroi started
	// (every live period added up).
	Uptime float64 `json:"uptime"`
}

// Destination is one push target of one stream, supervised.
type Destination struct {
	name   string
	u      *url.URL
	stream *relay.Stream
	pusher Pusher
	opts   Options
	log    *slog.Logger
	// allowPrivate is the destination's own opt-in (DestinationConfig.AllowPrivate).
	allowPrivate bool
	// shape is the picture the destination gets (DestinationConfig.Shape), shapeName its name.
	shape     transcode.Shape
	shapeName string

	mu       sync.Mutex
	enabled  bool
	state    State
	since    time.Time
	liveTime time.Duration // live periods that ended
	lastErr  string
	retryAt  time.Time
	cancelFn context.CancelFunc
	wake     chan struct{}

	bytes, frames, skipped, reconnects atomic.Uint64
	reader                             atomic.Pointer[relay.Reader] // the running session's
	// bitrate sampling, by the manager's ticker
	lastBytes  uint64
	lastSample time.Time
	bitrate    atomic.Uint64 // float64 bits

	remove context.CancelFunc // stops the supervisor (set when started)
	// refusedOnce: the last attempt ended on ErrTrackNotAccepted before sending anything.
	// Only the supervisor's goroutine (which runs the pusher) uses it.
	refusedOnce bool
	done        chan struct{}
}

func newDestination(name string, u *url.URL, st *relay.Stream, p Pusher, enabled bool, o Options) *Destination {
	return &Destination{
		name: name, u: u, stream: st, pusher: p, opts: o,
		log:     o.Logger.With("stream", st.Name(), "destination", name, "host", u.Host),
		enabled: enabled, state: StateIdle, since: time.Now(),
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
}

// Status returns a snapshot.
func (d *Destination) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Status{
		Name: d.name, Protocol: d.u.Scheme, Host: d.u.Host,
		Enabled: d.enabled, AllowPrivate: d.allowPrivate, Shape: d.shapeName, State: d.state, Since: d.since, LastError: d.lastErr,
		Bytes: d.bytes.Load(), Frames: d.frames.Load(), Skipped: d.skipped.Load(),
		Reconnects: d.reconnects.Load(),
	}
	if r := d.reader.Load(); r != nil {
		s.Skipped += r.Skipped()
	}
	if d.state == StateRetrying {
		t := d.retryAt
		s.RetryAt = &t
	}
	if d.state == StateLive {
		s.Bitrate = math.Round(float64frombits(d.bitrate.Load()))
	}
	up := d.liveTime
	if d.state == StateLive {
		up += time.Since(d.since)
	}
	s.Uptime = math.Round(up.Seconds()*10) / 10
	return s
}

func (d *Destination) setState(s State) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != s {
		now := time.Now()
		if d.state == StateLive {
			d.liveTime += now.Sub(d.since)
		}
		d.state, d.since = s, now
	}
	if s == StateLive {
		d.lastErr = ""
	}
}

func (d *Destination) setEnabled(on bool) {
	d.mu.Lock()
	d.enabled = on
	cancel := d.cancelFn
	d.mu.Unlock()
	if !on && cancel != nil {
		cancel()
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Destination) isEnabled() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.enabled
}

// progress is the Progress a pusher reports to.
type progress struct {
	d      *Destination
	liveAt time.Time
}

// refused reports whether the previous attempt already ended on a refused track: a second
// refusal in a row is a real failure (no rendition can help), retried with backoff.
func (p *progress) refused() bool { return p.d.refusedOnce }

func (p *progress) Live() {
	p.liveAt = time.Now()
	p.d.setState(StateLive)
	p.d.log.Info("destination live")
}

func (p *progress) Wrote(bytes, frames int) {
	if frames > 0 {
		p.d.refusedOnce = false // media flows: a later refusal is news again
	}
	p.d.bytes.Add(uint64(bytes))
	p.d.frames.Add(uint64(frames))
}

// run supervises the destination until ctx is cancelled.
func (d *Destination) run(ctx context.Context) {
	defer close(d.done)
	backoff := d.opts.RetryMin
	for {
		// Wait until the destination is enabled and its stream live.
		for {
			st, changed := d.stream.State()
			on := d.isEnabled()
			if on && st != relay.Idle {
				break
			}
			if on {
				d.setState(StateIdle)
			} else {
				d.setState(StateDisabled)
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-d.wake:
			}
		}
		runCtx, cancel := context.WithCancel(ctx)
		d.mu.Lock()
		d.cancelFn = cancel
		d.mu.Unlock()
		if !d.isEnabled() {
			cancel() // disabled between the check and now
		}
		d.setState(StateConnecting)
		r, release, err := d.subscribe(runCtx)
		if err != nil {
			cancel()
			switch {
			case ctx.Err() != nil:
				return
			case errors.Is(err, relay.ErrNotLive), runCtx.Err() != nil:
				continue // the stream ended, or the destination was switched off, meanwhile
			}
			if !d.wait(ctx, d.fail(err, &backoff, nil)) {
				return
			}
			continue
		}
		p := &progress{d: d}
		d.reader.Store(r)
		err = d.pusher.Push(runCtx, r, p)
		d.mu.Lock() // Status reads reader and skipped together under mu
		d.reader.Store(nil)
		d.skipped.Add(r.Skipped())
		d.mu.Unlock()
		r.Close()
		release()
		cancel()
		d.mu.Lock()
		d.cancelFn = nil
		d.mu.Unlock()

		switch {
		case ctx.Err() != nil:
			return
		case !d.isEnabled():
			d.log.Info("destination disabled")
			backoff = d.opts.RetryMin
			continue
		case errors.Is(err, relay.ErrEnded):
			d.log.Info("stream ended, destination closed")
			backoff = d.opts.RetryMin
			continue
		case errors.Is(err, ErrTrackNotAccepted) && d.opts.Renditions != nil && !p.refused():
			// The source's tracks changed (a publisher came back with other codecs, or one
			// track arrived late): choose the source again, a rendition this time.
			d.log.Info("source tracks changed, choosing the stream to send again", "reason", err.Error())
			d.refusedOnce = true
			continue
		}
		if err == nil {
			err = errors.New("connection closed")
		}
		if !d.wait(ctx, d.fail(err, &backoff, p)) {
			return
		}
	}
}

// fail records a failed attempt and returns how long to wait before the next one.
func (d *Destination) fail(err error, backoff *time.Duration, p *progress) time.Duration {
	if p != nil && !p.liveAt.IsZero() && time.Since(p.liveAt) > 30*time.Second {
		*backoff = d.opts.RetryMin // it worked for a while: start over gently
	}
	delay := min(jitter(*backoff), d.opts.RetryMax)
	*backoff = min(*backoff*2, d.opts.RetryMax)
	msg := redact(err.Error(), d.u)
	d.reconnects.Add(1)
	d.mu.Lock()
	d.lastErr, d.retryAt = msg, time.Now().Add(delay)
	d.mu.Unlock()
	d.setState(StateRetrying)
	d.log.Warn("destination failed, retrying", "error", msg, "retry_in", delay.Round(time.Millisecond).String())
	return delay
}

// wait sleeps before the next attempt; switching the destination, or the stream's state,
// cuts it short. It returns false when ctx is done.
func (d *Destination) wait(ctx context.Context, delay time.Duration) bool {
	t := time.NewTimer(delay)
	defer t.Stop()
	_, changed := d.stream.State()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-d.wake:
	case <-changed:
	}
	return true
}

// subscribe returns a reader of the destination's stream, or of a rendition of it when the
// pusher needs codecs the source does not have. The reader of the source is taken first:
// ingest may hold media back while it analyses the tracks, then write it at once, and a
// reader taken after that burst would start at its newest keyframe and miss it.
func (d *Destination) subscribe(ctx context.Context) (*relay.Reader, func(), error) {
	opts := relay.ReaderOptions{MaxLag: d.opts.MaxLag}
	r, err := d.stream.Subscribe(opts)
	if err != nil {
		return nil, nil, err
	}
	nd, ok := d.pusher.(Needer)
	if !ok || d.opts.Renditions == nil {
		return r, func() {}, nil
	}
	st, release, err := d.opts.Renditions.Fit(ctx, d.stream, nd.Needs().WithShape(d.shape))
	switch {
	case err == nil && st == d.stream:
		return r, release, nil
	case err == nil:
		r.Close()
		if r, err = st.Subscribe(opts); err != nil {
			release()
			return nil, nil, fmt.Errorf("codec fitting: %w", err)
		}
		return r, release, nil
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && !d.stream.HasMedia() && d.shape.IsZero():
		return r, func() {}, nil // no media yet: the pusher will say what it cannot send
	}
	r.Close()
	return nil, nil, fmt.Errorf("codec fitting: %w", err)
}

// jitter spreads retries by ±20% so destinations that failed together do not retry together.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// redact removes the stream key (the URL's path after the application, its query, its
// credentials) from a message.
func redact(msg string, u *url.URL) string {
	var secrets []string
	if p := strings.TrimPrefix(u.Path, "/"); p != "" {
		if _, key, ok := strings.Cut(p, "/"); ok && key != "" {
			secrets = append(secrets, key)
		}
	}
	if u.RawQuery != "" {
		secrets = append(secrets, u.RawQuery)
	}
	if u.User != nil {
		secrets = append(secrets, u.User.String())
		if pw, ok := u.User.Password(); ok && pw != "" {
			secrets = append(secrets, pw)
		}
	}
	if u.Fragment != "" {
		secrets = append(secrets, u.Fragment)
	}
	for _, s := range secrets {
		if len(s) < 3 {
			continue
		}
		// The key may appear as given or escaped, depending on who printed it.
		for _, v := range []string{s, url.PathEscape(s), url.QueryEscape(s), strings.ReplaceAll(url.PathEscape(s), "%2F", "/")} {
			msg = strings.ReplaceAll(msg, v, "<key>")
		}
	}
	if ep := strings.TrimPrefix(u.EscapedPath(), "/"); ep != "" {
		if _, key, ok := strings.Cut(ep, "/"); ok && len(key) >= 3 {
			msg = strings.ReplaceAll(msg, key, "<key>")
		}
	}
	return msg
}
