package outputs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/beffroi/beffroi/internal/netguard"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
)

// Options tunes every destination.
type Options struct {
	// WriteTimeout: a destination that accepts nothing for this long is reconnected.
	WriteTimeout time.Duration
	// MaxLag: a destination further behind live skips to the newest keyframe.
	MaxLag time.Duration
	// RetryMin and RetryMax bound the reconnect backoff.
	RetryMin, RetryMax time.Duration
	// Logger receives destination events; nil discards.
	Logger *slog.Logger
	// Renditions, when set, gives destinations whose pusher declares needs (Needer) a stream
	// that fits them when the source does not (Opus from a phone to an AAC-only platform).
	Renditions Renditions
	// AllowPrivateNetworks lets destinations connect to loopback, private, link-local (cloud
	// metadata included) and other non-public addresses (outputs.allow_private_networks).
	// Default false: a destination reaches only public addresses, checked when dialling. The
	// Options a pusher is made with have it set when its destination has AllowPrivate.
	AllowPrivateNetworks bool
	// Resolver resolves destination host names (nil: the system's). Tests give one of their own.
	Resolver *net.Resolver
}

// Guard returns the address check a pusher dials through.
func (o Options) Guard() netguard.Guard {
	return netguard.Guard{AllowPrivate: o.AllowPrivateNetworks, Resolver: o.Resolver}
}

// Renditions gives a reader the stream that fits its needs: the source, or a derived stream
// (*transcode.Renditions; see its Fit for the contract).
type Renditions interface {
	Fit(ctx context.Context, src *relay.Stream, needs transcode.Needs) (*relay.Stream, func(), error)
}

// ErrTrackNotAccepted is returned (wrapped) by a pusher that met a track its destination does
// not accept: the supervisor then chooses its source again at once (a rendition, say) instead
// of counting a failure.
var ErrTrackNotAccepted = errors.New("track not accepted by the destination")

// Needer is implemented by pushers that accept only some codecs.
type Needer interface {
	Needs() transcode.Needs
}

// The tuning of destinations when Options leaves it zero; the configuration's outputs.*
// defaults are these.
const (
	DefaultWriteTimeout = 10 * time.Second
	DefaultMaxLag       = 5 * time.Second
	DefaultRetryMin     = time.Second
	DefaultRetryMax     = 30 * time.Second
)

func (o *Options) defaults() {
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MaxLag <= 0 {
		o.MaxLag = DefaultMaxLag
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(DefaultRetryMax, o.RetryMin)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// DestinationConfig describes a destination to add.
type DestinationConfig struct {
	Name    string
	URL     string // full push URL with the platform's stream key: a secret
	Enabled bool
	// AllowPrivate lets this destination reach a private or loopback address (a server of the
	// town's own network) whatever Options.AllowPrivateNetworks says. Only admins set it.
	AllowPrivate bool
	// Shape names the picture the destination gets instead of the source's (see
	// transcode.ParseShape): "vertical-crop" or "vertical-blur" make a 720x1280 rendition for
	// phone-first platforms, shared by every destination of the stream with that shape. ""
	// sends the source's picture.
	Shape string
}

// Manager holds every stream's destinations and runs their supervisors. Destinations can be
// added, removed, enabled and disabled at any time, live or not.
type Manager struct {
	reg     *relay.Registry
	pushers map[string]NewPusherFunc
	opts    Options

	mu    sync.Mutex
	ctx   context.Context
	wg    sync.WaitGroup
	dests map[string][]*Destination // by stream name, in the order added
}

// NewManager returns a manager; pushers maps URL schemes ("rtmp", "rtmps", ...) to pushers.
func NewManager(reg *relay.Registry, pushers map[string]NewPusherFunc, o Options) *Manager {
	o.defaults()
	return &Manager{reg: reg, pushers: pushers, opts: o, dests: map[string][]*Destination{}}
}

// Errors of Add, Remove and SetEnabled (wrapped).
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Add adds a destination to a stream and starts it if the manager runs.
func (m *Manager) Add(stream string, c DestinationConfig) error {
	st := m.reg.Get(stream)
	if st == nil {
		return fmt.Errorf("%w: stream %q", ErrNotFound, stream)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("destination %q: invalid URL", c.Name)
	}
	newPusher, ok := m.pushers[u.Scheme]
	if !ok {
		return fmt.Errorf("destination %q: protocol %q is not supported", c.Name, u.Scheme)
	}
	shape, err := transcode.ParseShape(c.Shape)
	if err != nil {
		return fmt.Errorf("destination %q: %w", c.Name, err)
	}
	if !shape.IsZero() && m.opts.Renditions == nil {
		return fmt.Errorf("destination %q: shape %s needs renditions (ffmpeg), which this server does not make", c.Name, c.Shape)
	}
	o := m.opts
	o.AllowPrivateNetworks = o.AllowPrivateNetworks || c.AllowPrivate
	p, err := newPusher(u, o)
	if err != nil {
		return fmt.Errorf("destination %q: %s", c.Name, redact(err.Error(), u))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.dests[stream] {
		if d.name == c.Name {
			return fmt.Errorf("%w: destination %q on stream %q", ErrExists, c.Name, stream)
		}
	}
	d := newDestination(c.Name, u, st, p, c.Enabled, m.opts)
	d.allowPrivate = c.AllowPrivate
	if !shape.IsZero() {
		if _, ok := p.(Needer); !ok {
			return fmt.Errorf("destination %q: protocol %q cannot take a shape", c.Name, u.Scheme)
		}
		d.shape, d.shapeName = shape, strings.ToLower(strings.TrimSpace(c.Shape))
	}
	m.dests[stream] = append(m.dests[stream], d)
	if m.ctx != nil {
		m.start(d)
	}
	return nil
}

func (m *Manager) start(d *Destination) {
	ctx, cancel := context.WithCancel(m.ctx)
	d.remove = cancel
	m.wg.Go(func() { d.run(ctx) })
}

func (m *Manager) find(stream, name string) (*Destination, int) {
	for i, d := range m.dests[stream] {
		if d.name == name {
			return d, i
		}
	}
	return nil, -1
}

// Remove stops and removes a destination.
func (m *Manager) Remove(stream, name string) error {
	m.mu.Lock()
	d, i := m.find(stream, name)
	if d == nil {
		m.mu.Unlock()
		return fmt.Errorf("%w: destination %q on stream %q", ErrNotFound, name, stream)
	}
	m.dests[stream] = append(m.dests[stream][:i:i], m.dests[stream][i+1:]...)
	running := m.ctx != nil
	m.mu.Unlock()
	if running {
		// The supervisor returns once its pusher noticed the cancellation.
		d.remove()
		<-d.done
	}
	return nil
}

// SetEnabled switches a destination on or off; off closes its connection at once.
func (m *Manager) SetEnabled(stream, name string, on bool) error {
	m.mu.Lock()
	d, _ := m.find(stream, name)
	m.mu.Unlock()
	if d == nil {
		return fmt.Errorf("%w: destination %q on stream %q", ErrNotFound, name, stream)
	}
	d.setEnabled(on)
	return nil
}

// List returns the status of a stream's destinations.
func (m *Manager) List(stream string) []Status {
	m.mu.Lock()
	ds := append([]*Destination(nil), m.dests[stream]...)
	m.mu.Unlock()
	out := make([]Status, len(ds))
	for i, d := range ds {
		out[i] = d.Status()
	}
	return out
}

// Run starts every destination and samples bitrates until ctx is cancelled, then waits for
// every supervisor to return.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.ctx = ctx
	for _, ds := range m.dests {
		for _, d := range ds {
			m.start(d)
		}
	}
	m.mu.Unlock()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.wg.Wait()
			return nil
		case now := <-t.C:
			m.sample(now)
		}
	}
}

func (m *Manager) sample(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ds := range m.dests {
		for _, d := range ds {
			b := d.bytes.Load()
			if !d.lastSample.IsZero() {
				rate := float64(b-d.lastBytes) * 8 / now.Sub(d.lastSample).Seconds()
				d.bitrate.Store(math.Float64bits(rate))
			}
			d.lastBytes, d.lastSample = b, now
		}
	}
}

func float64frombits(b uint64) float64 { return math.Float64frombits(b) }
