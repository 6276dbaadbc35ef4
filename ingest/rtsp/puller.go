package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/beffroi/beffroi/ingest/internal/guard"
	"github.com/beffroi/beffroi/relay"
)

// PullProtocol is the source protocol of streams a Puller feeds.
const PullProtocol = "rtsp-pull"

// PullState is where a Puller is, as the console shows it.
type PullState string

// Puller states.
const (
	// PullConnecting: connecting to the camera and setting up the session.
	PullConnecting PullState = "connecting"
	// PullLive: the camera plays and its media feeds the stream.
	PullLive PullState = "live"
	// PullRetrying: the last attempt failed or the camera dropped; the next one is at RetryAt.
	PullRetrying PullState = "retrying"
)

// PullStatus is a snapshot of a Puller. It never holds the camera URL, whose credentials are
// secret.
type PullStatus struct {
	State PullState `json:"state"`
	// LastError is why the last attempt failed, without credentials; empty once live.
	LastError string `json:"last_error,omitempty"`
	// RetryAt is when the next attempt starts (zero unless retrying, and while another
	// publisher holds the stream).
	RetryAt time.Time `json:"retry_at,omitzero"`
	// Since is when the state last changed.
	Since time.Time `json:"since"`
	// Reconnects counts the attempts after the first.
	Reconnects uint64 `json:"reconnects"`
}

// Default reconnect delays of a Puller.
const (
	DefaultRetryMin = time.Second
	DefaultRetryMax = 30 * time.Second
)

// errReplaced ends a pull whose stream another publisher took over.
var errReplaced = errors.New("replaced by another publisher of the stream")

// Puller pulls an IP camera's RTSP stream into a relay stream, reconnecting with backoff for as
// long as it runs. While another publisher (an encoder pushing with the stream's key) holds the
// stream, the puller waits for it to leave, so the camera is the stream's fallback source.
type Puller struct {
	// URL is the camera's rtsp:// or rtsps:// URL. It may carry credentials
	// (rtsp://user:password@camera/path): those never reach a log line or Status.
	URL string
	// Transport is how media travels: "tcp" (interleaved in the RTSP connection; the default),
	// "udp", or "auto" (UDP, then TCP when no UDP packet arrives).
	Transport string
	// Stream is the stream the camera feeds.
	Stream *relay.Stream
	// Source is the stream's source the camera is (a backup pulled as a last resort); ""
	// is the stream's primary source.
	Source string
	// Logger receives one line per connection event; nil discards.
	Logger *slog.Logger
	// RetryMin and RetryMax bound the reconnect delay, which doubles from RetryMin after each
	// failure up to RetryMax, with ±20% jitter (defaults 1 s and 30 s).
	RetryMin, RetryMax time.Duration

	// onPlay and onPacket, when set, run once the camera plays and before each of its packets
	// is decoded: tests make them panic.
	onPlay, onPacket func()

	mu     sync.Mutex
	status PullStatus
}

// Status returns a snapshot of the puller's state.
func (p *Puller) Status() PullStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.status
	if s.State == "" {
		s.State = PullConnecting
	}
	return s
}

func (p *Puller) setState(st PullState, lastErr string, retryAt time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status.State != st {
		p.status.State, p.status.Since = st, time.Now()
	}
	p.status.LastError, p.status.RetryAt = lastErr, retryAt
}

func (p *Puller) transport() (*gortsplib.Protocol, error) {
	switch p.Transport {
	case "", "tcp":
		t := gortsplib.ProtocolTCP
		return &t, nil
	case "udp":
		t := gortsplib.ProtocolUDP
		return &t, nil
	case "auto":
		return nil, nil
	}
	return nil, fmt.Errorf("rtsp pull: transport %q: want tcp, udp or auto", p.Transport)
}

// origin returns the URL's scheme and host, what logs and errors may show of it.
func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// Run pulls until ctx is cancelled, then returns nil once every goroutine it started has
// returned. It returns an error at once only when URL, Transport or Stream is unusable.
func (p *Puller) Run(ctx context.Context) error {
	if p.Stream == nil {
		return errors.New("rtsp pull: no stream")
	}
	// Parsed by net/url rather than gortsplib's parser, whose errors quote the URL.
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" {
		return errors.New("rtsp pull: the URL must be rtsp://[user:password@]host[:port]/path")
	}
	proto, err := p.transport()
	if err != nil {
		return err
	}
	retryMin, retryMax := p.RetryMin, p.RetryMax
	if retryMin <= 0 {
		retryMin = DefaultRetryMin
	}
	if retryMax < retryMin {
		retryMax = max(DefaultRetryMax, retryMin)
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("protocol", PullProtocol, "stream", p.Stream.Name(), "camera", origin(u))
	secrets := urlSecrets(u)

	backoff := retryMin
	for {
		p.setState(PullConnecting, p.Status().LastError, time.Time{})
		liveAt, err := p.safePull(ctx, u, proto, log, secrets)
		select {
		case <-ctx.Done():
			return nil // cancellation is how a puller stops: not a failure
		default:
		}
		if !liveAt.IsZero() && time.Since(liveAt) > 30*time.Second {
			backoff = retryMin // it worked for a while: start over gently
		}
		msg := redact(err.Error(), secrets...)
		p.mu.Lock()
		p.status.Reconnects++
		p.mu.Unlock()
		if errors.Is(err, errReplaced) {
			p.setState(PullRetrying, msg, time.Time{})
			log.Info("camera pull paused: another publisher took the stream; resuming when it leaves")
			if !p.waitStreamFree(ctx) {
				return nil
			}
			// At once: the stream waits in its reconnect grace.
			log.Info("camera pull resuming: the other publisher left")
			backoff = retryMin
			continue
		}
		delay := min(jitter(backoff), retryMax)
		backoff = min(backoff*2, retryMax)
		p.setState(PullRetrying, msg, time.Now().Add(delay))
		log.Warn("camera pull failed, retrying", "error", msg, "retry_in", delay.Round(time.Millisecond).String())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// waitStreamFree waits until no other publisher holds the stream; false when ctx ends first.
func (p *Puller) waitStreamFree(ctx context.Context) bool {
	for {
		st, changed := p.Stream.State()
		if st != relay.Live {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		}
	}
}

// errPanicked ends a pull whose code panicked; the panic is logged.
var errPanicked = errors.New("internal error (logged)")

// safePull is pull, with a panic turned into a failed attempt: the puller retries, and the
// process and the other pullers go on.
func (p *Puller) safePull(ctx context.Context, u *url.URL, proto *gortsplib.Protocol, log *slog.Logger,
	secrets []string) (liveAt time.Time, err error) {
	defer func() {
		if v := recover(); v != nil {
			guard.LogPanic(log, "rtsp camera pull", redact(fmt.Sprint(v), secrets...))
			err = errPanicked
		}
	}()
	return p.pull(ctx, u, proto, log, secrets)
}

// pull runs one session with the camera, until it fails or ctx is cancelled. It returns when
// the camera went live (zero if it never did) and why the session ended.
func (p *Puller) pull(ctx context.Context, u *url.URL, proto *gortsplib.Protocol, log *slog.Logger,
	secrets []string) (time.Time, error) {
	var liveAt time.Time
	bu, err := base.ParseURL(u.String())
	if err != nil {
		return liveAt, errors.New("invalid URL")
	}
	var errs *mediaErrors // set once the feeder exists; the callbacks below start later
	c := &gortsplib.Client{
		Scheme:   u.Scheme,
		Host:     u.Host,
		Protocol: proto,
		OnTransportSwitch: func(err error) {
			log.Info("camera transport switched", "detail", redact(err.Error(), secrets...))
		},
		OnPacketsLost: func(lost uint64) {
			if errs != nil {
				errs.add(nil, lost)
			}
		},
		OnDecodeError: func(err error) {
			if errs != nil {
				errs.add(err, 0)
			}
		},
	}
	if err := c.Start(); err != nil {
		return liveAt, fmt.Errorf("start: %w", err)
	}
	// Closing the client interrupts whatever it waits for (a camera that does not answer).
	unwatch := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-unwatch:
		}
	})
	defer func() {
		close(unwatch)
		watcher.Wait()
		c.Close()
	}()

	desc, _, err := c.Describe(bu)
	if err != nil {
		return liveAt, fmt.Errorf("describe: %w", err)
	}
	feed, err := newFeeder(desc.Medias, log)
	if err != nil {
		return liveAt, err
	}
	if len(feed.ignored) > 0 {
		log.Info("camera tracks ignored", "tracks", feed.ignored)
	}
	errs = &feed.errs
	feed.onPacket = p.onPacket
	for _, m := range feed.medias() {
		if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
			return liveAt, fmt.Errorf("setup: %w", err)
		}
	}
	pub, err := p.Stream.PublishSource(p.Source, relay.SourceInfo{Protocol: PullProtocol, RemoteAddr: u.Host})
	if err != nil {
		return liveAt, err
	}
	defer func() {
		c.Close() // no packet callback after this
		pub.Close()
		feed.errs.flush()
	}()
	feed.start(pub, c)
	if _, err := c.Play(nil); err != nil {
		return liveAt, fmt.Errorf("play: %w", err)
	}
	liveAt = time.Now()
	if p.onPlay != nil {
		p.onPlay()
	}
	p.setState(PullLive, "", time.Time{})
	transport := "auto"
	if t := c.Transport(); t != nil && t.Session != nil {
		transport = t.Session.Protocol.String()
	}
	log.Info("camera connected", "tracks", feed.describe(), "transport", transport)

	waited := make(chan struct{})
	go func() {
		err = c.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-feed.broken:
		c.Close()
		<-waited
		return liveAt, errors.New("the camera's media could not be decoded (internal error, logged)")
	case <-pub.Done():
		c.Close()
		<-waited
		if st, _ := p.Stream.State(); st == relay.Live {
			return liveAt, errReplaced
		}
		return liveAt, errors.New("the stream was stopped")
	}
	if err == nil {
		err = errors.New("connection closed")
	}
	return liveAt, fmt.Errorf("camera dropped: %w", err)
}

// urlSecrets returns the parts of a camera URL that must not be shown.
func urlSecrets(u *url.URL) []string {
	var s []string
	if u.User != nil {
		s = append(s, u.User.String())
		if pw, ok := u.User.Password(); ok {
			s = append(s, pw)
		}
	}
	if u.RawQuery != "" {
		s = append(s, u.RawQuery)
	}
	return s
}

// jitter spreads retries by ±20% so that cameras that failed together do not retry together.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
