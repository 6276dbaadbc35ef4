package platforms

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// The poll spacing: the 30 s, and the least the configuration accepts (the
// platforms' quotas: YouTube's 10 000 units a day allow one read every 9 s).
const (
	DefaultEvery = 30 * time.Second
	MinEvery     = 10 * time.Second
	// DefaultMaxBackoff bounds the wait after repeated errors (and the retry of a token
	// the platform refused, in case it was fixed on the platform's side).
	DefaultMaxBackoff = 10 * time.Minute
	// pollTimeout bounds one request.
	pollTimeout = 10 * time.Second
)

// State is what the console shows of a destination's viewer count.
type State string

// The states of a target.
const (
	// StateIdle: the destination is not live; nothing is polled.
	StateIdle State = "idle"
	// StateWaiting: live, the first count has not come yet.
	StateWaiting State = "waiting"
	// StateOK: the last poll returned a count.
	StateOK State = "ok"
	// StateOffline: the platform says the broadcast is not live (yet): counted as 0.
	StateOffline State = "offline"
	// StateRateLimited, StateTokenExpired, StateNotFound, StateError: the last poll failed
	// (Kind); the count is dropped once it is stale.
	StateRateLimited  State = State(RateLimited)
	StateTokenExpired State = State(Unauthorized)
	StateNotFound     State = State(NotFound)
	StateError        State = State(Failed)
)

// Target is one destination whose platform count is read.
type Target struct {
	Stream, Destination string
	Credentials         Credentials
}

// Status is a target as the API shows it: never the credentials, only that they are set.
type Status struct {
	Destination string     `json:"destination"`
	Platform    string     `json:"platform"`
	ID          string     `json:"id"`
	Credentials string     `json:"credentials"` // "set"
	State       State      `json:"state"`
	Viewers     int        `json:"viewers"`
	At          *time.Time `json:"at,omitempty"` // the last count
	Counted     bool       `json:"counted"`      // Viewers is in the total now
	Message     string     `json:"message,omitempty"`
	RetryAt     *time.Time `json:"retry_at,omitempty"`
}

// Viewers is what a Poller needs of a client: one count.
type Viewers interface {
	Viewers(ctx context.Context, cred Credentials) (int, error)
}

// Options configures a Poller.
type Options struct {
	// Client reads the counts (a *Client).
	Client Viewers
	// Every is the spacing of the polls while a destination is live (default 30s).
	Every time.Duration
	// MaxBackoff bounds the wait after errors (default 10 min).
	MaxBackoff time.Duration
	// StaleAfter is how long a count stays in the total after its last success (default
	// 2.5 times Every: one failed or slow poll does not make the curve drop).
	StaleAfter time.Duration
	// Live reports whether a stream's destination is live on its platform now.
	Live func(stream, dest string) bool
	// Clock returns the time (nil: time.Now).
	Clock  func() time.Time
	Logger *slog.Logger
}

// Poller polls every target while its destination is live. Each target is polled on its
// own: a platform that fails, is slow or limits us never delays another.
type Poller struct {
	o Options

	mu      sync.Mutex
	targets map[key]*target
	wake    chan struct{}
}

type key struct{ stream, dest string }

type target struct {
	t        Target
	gen      int // bumps on each Set: a poll of old credentials is dropped
	state    State
	viewers  int
	at       time.Time // last count
	msg      string
	next     time.Time
	fails    int
	inFlight bool
}

// New returns a Poller.
func New(o Options) *Poller {
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.Every {
		o.MaxBackoff = o.Every
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 2*o.Every + o.Every/2
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Live == nil {
		o.Live = func(string, string) bool { return false }
	}
	return &Poller{o: o, targets: map[key]*target{}, wake: make(chan struct{}, 1)}
}

// Set adds a target or replaces its credentials (its state starts again).
func (p *Poller) Set(t Target) {
	p.mu.Lock()
	k := key{t.Stream, t.Destination}
	old := p.targets[k]
	n := &target{t: t, state: StateIdle}
	if old != nil {
		n.gen = old.gen + 1
		n.inFlight = old.inFlight
	}
	p.targets[k] = n
	p.mu.Unlock()
	p.poke()
}

// Remove forgets a target.
func (p *Poller) Remove(stream, dest string) {
	p.mu.Lock()
	delete(p.targets, key{stream, dest})
	p.mu.Unlock()
}

func (p *Poller) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Status returns the targets of stream, sorted by destination.
func (p *Poller) Status(stream string) []Status {
	now := p.o.Clock()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []Status{}
	for k, t := range p.targets {
		if k.stream != stream {
			continue
		}
		s := Status{Destination: k.dest, Platform: t.t.Credentials.Platform, ID: t.t.Credentials.ID, Credentials: "set",
			State: t.state, Viewers: t.viewers, Message: t.msg}
		if !t.at.IsZero() {
			at := t.at
			s.At = &at
		}
		_, s.Counted = p.counted(t, now)
		if t.state != StateOK && t.state != StateIdle && t.state != StateWaiting && t.state != StateOffline && !t.next.IsZero() {
			r := t.next
			s.RetryAt = &r
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out
}

// counted returns the count of t that goes into the total now. Called with p.mu held.
func (p *Poller) counted(t *target, now time.Time) (int, bool) {
	if t.state == StateIdle || t.at.IsZero() || now.Sub(t.at) > p.o.StaleAfter {
		return 0, false
	}
	return t.viewers, true
}

// PlatformViewers returns the counted viewers of stream on each platform, by destination
// name (audience.Platforms).
func (p *Poller) PlatformViewers(stream string) map[string]int {
	now := p.o.Clock()
	p.mu.Lock()
	defer p.mu.Unlock()
	var m map[string]int
	for k, t := range p.targets {
		if k.stream != stream {
			continue
		}
		if n, ok := p.counted(t, now); ok {
			if m == nil {
				m = map[string]int{}
			}
			m[k.dest] = n
		}
	}
	return m
}

// Run polls the targets until ctx is cancelled and returns once its polls have returned.
func (p *Poller) Run(ctx context.Context) error {
	step := min(time.Second, p.o.Every/4)
	tick := time.NewTicker(step)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		p.round(ctx, &wg)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-p.wake:
		}
	}
}

// round starts the polls that are due, and puts the targets whose destination is not live
// to idle.
func (p *Poller) round(ctx context.Context, wg *sync.WaitGroup) {
	p.mu.Lock()
	list := make([]*target, 0, len(p.targets))
	for _, t := range p.targets {
		list = append(list, t)
	}
	p.mu.Unlock()
	for _, t := range list {
		live := p.o.Live(t.t.Stream, t.t.Destination) // outside p.mu: it asks the outputs
		now := p.o.Clock()
		p.mu.Lock()
		if p.targets[key{t.t.Stream, t.t.Destination}] != t {
			p.mu.Unlock()
			continue // replaced or removed meanwhile
		}
		switch {
		case !live:
			if t.state != StateIdle {
				p.setState(t, StateIdle, "")
				t.viewers, t.at, t.fails, t.next = 0, time.Time{}, 0, time.Time{}
			}
		case t.inFlight || now.Before(t.next):
		default:
			if t.state == StateIdle {
				p.setState(t, StateWaiting, "")
			}
			t.inFlight = true
			gen, tg := t.gen, t.t
			wg.Add(1)
			go func() {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, pollTimeout)
				n, err := p.o.Client.Viewers(pctx, tg.Credentials)
				cancel()
				p.result(tg, gen, n, err, ctx.Err() != nil)
			}()
		}
		p.mu.Unlock()
	}
}

// result takes a poll's outcome: the new state, and when to poll next.
func (p *Poller) result(tg Target, gen, n int, err error, stopping bool) {
	now := p.o.Clock()
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.targets[key{tg.Stream, tg.Destination}]
	if t == nil {
		return
	}
	if t.gen != gen {
		t.inFlight = false
		return // credentials changed while polling: poll the new ones at once
	}
	t.inFlight = false
	if stopping || t.state == StateIdle {
		return
	}
	var pe *Error
	switch {
	case err == nil:
		t.viewers, t.at, t.fails, t.next = n, now, 0, now.Add(p.o.Every)
		p.setState(t, StateOK, "")
	case errors.Is(err, ErrOffline):
		t.viewers, t.at, t.fails, t.next = 0, now, 0, now.Add(p.o.Every)
		p.setState(t, StateOffline, "the platform says the broadcast is not live (yet)")
	case errors.As(err, &pe):
		t.fails++
		wait := p.backoff(t.fails)
		msg := pe.Msg
		switch pe.Kind {
		case RateLimited:
			if pe.RetryAfter > 0 {
				wait = max(pe.RetryAfter, p.o.Every)
			}
			msg = "rate limited or quota reached; counts resume later: " + pe.Msg
		case Unauthorized:
			wait = p.o.MaxBackoff
			msg = "token expired or invalid: paste a new one (" + pe.Msg + ")"
		case NotFound:
			msg = "no such broadcast on the platform: check the ID (" + pe.Msg + ")"
		}
		t.next = now.Add(wait)
		p.setState(t, State(pe.Kind), msg)
	default:
		t.fails++
		t.next = now.Add(p.backoff(t.fails))
		p.setState(t, StateError, err.Error())
	}
}

// backoff doubles the spacing with each failure in a row, up to MaxBackoff.
func (p *Poller) backoff(fails int) time.Duration {
	d := p.o.Every
	for i := 1; i < fails && d < p.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.o.MaxBackoff)
}

// setState changes t's state and logs the change once. Called with p.mu held.
func (p *Poller) setState(t *target, s State, msg string) {
	changed := t.state != s
	t.state, t.msg = s, msg
	if !changed {
		return
	}
	args := []any{"stream", t.t.Stream, "destination", t.t.Destination, "platform", t.t.Credentials.Platform, "state", string(s)}
	if msg != "" {
		args = append(args, "reason", msg)
	}
	switch s {
	case StateOK, StateIdle, StateWaiting, StateOffline:
		p.o.Logger.Info("platform viewer count", args...)
	default:
		p.o.Logger.Warn("platform viewer count", args...)
	}
}
