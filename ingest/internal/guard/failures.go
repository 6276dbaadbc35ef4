package guard

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/beffroi/beffroi/internal/clientip"
)

// The limits of Failures when Limits leaves them zero. Five wrong keys in 10 s is more than
// an operator retyping a key makes, and a guesser then gets five tries per block: 10 s, then
// 20 s, 40 s, ... up to 15 min (fail2ban's default ban, with a growing delay as sshd's
// PerSourcePenalties).
const (
	DefaultBurst        = 5
	DefaultWindow       = 10 * time.Second
	DefaultBlock        = 10 * time.Second
	DefaultMaxBlock     = 15 * time.Minute
	DefaultMaxAddresses = 10000
)

// Limits tunes Failures; a zero field takes its default.
type Limits struct {
	// Burst is how many wrong publish keys one address may present within Window before
	// its attempts are refused unchecked (DefaultBurst).
	Burst int
	// Window is the period over which wrong keys are counted, and that of the log lines
	// summing refusals up (DefaultWindow).
	Window time.Duration
	// Block is how long an address is refused after its first burst; the delay doubles with
	// each burst that follows, up to MaxBlock (DefaultBlock, DefaultMaxBlock). An address
	// quiet for MaxBlock after its last block starts over at Block.
	Block, MaxBlock time.Duration
	// MaxAddresses bounds the addresses remembered (DefaultMaxAddresses): beyond it the one
	// seen least recently is forgotten.
	MaxAddresses int
	// Now is the clock (time.Now); tests set a fake one.
	Now func() time.Time
}

func (l Limits) withDefaults() Limits {
	if l.Burst <= 0 {
		l.Burst = DefaultBurst
	}
	if l.Window <= 0 {
		l.Window = DefaultWindow
	}
	if l.Block <= 0 {
		l.Block = DefaultBlock
	}
	if l.MaxBlock < l.Block {
		l.MaxBlock = max(DefaultMaxBlock, l.Block)
	}
	if l.MaxAddresses <= 0 {
		l.MaxAddresses = DefaultMaxAddresses
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	return l
}

// Failures counts wrong publish keys per client address (clientip.Key: an IPv4 address, an
// IPv6 /64). A server asks Allowed before it compares any key, and reports each wrong key
// with Failed. It logs one line per burst per address: the first refusal of a quiet address
// is the caller's to log (Failed says so), the ones that follow within Window are summed up
// in one line ("refused 99 publish attempts with a wrong key from 192.0.2.7 in the last
// 10s") when the window ends. No line ever holds a key. Safe for concurrent use.
type Failures struct {
	lim Limits
	log *slog.Logger

	mu sync.Mutex
	m  map[string]*address
}

// address is what Failures remembers of one client address.
type address struct {
	windowStart  time.Time // start of the window wrong keys are counted in
	failures     int       // wrong keys in that window
	blockedUntil time.Time
	blocks       int // bursts so far: the next block lasts Block << blocks
	lastSeen     time.Time

	// Refusals not logged yet, since reportStart (zero: none).
	reportStart time.Time
	wrong       int // wrong keys
	unchecked   int // attempts refused while blocked
}

// NewFailures returns a limiter logging its summaries to log (nil discards), which should
// name the protocol.
func NewFailures(log *slog.Logger, lim Limits) *Failures {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Failures{lim: lim.withDefaults(), log: log, m: map[string]*address{}}
}

// Allowed reports whether a publish attempt from a may go on to the key comparison. When it
// may not, the attempt is counted in the address's next summary line: the caller refuses it
// without logging.
func (f *Failures) Allowed(a netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := clientip.Key(a)
	e := f.m[k]
	if e == nil {
		return true
	}
	now := f.lim.Now()
	f.report(k, e, now)
	e.lastSeen = now
	if now.Before(e.blockedUntil) {
		if e.reportStart.IsZero() {
			e.reportStart = now
		}
		e.unchecked++
		return false
	}
	return true
}

// BlockedFor returns how long attempts from a are still refused unchecked (zero when they
// are not), for a protocol that can tell the client when to come back (HTTP's Retry-After).
// It counts nothing.
func (f *Failures) BlockedFor(a netip.Addr) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.m[clientip.Key(a)]
	if e == nil {
		return 0
	}
	return max(0, e.blockedUntil.Sub(f.lim.Now()))
}

// Failed counts a wrong key presented from a, and returns whether the caller logs this
// refusal itself (the first of a quiet address); otherwise the refusal is summed up in the
// address's next summary line.
func (f *Failures) Failed(a netip.Addr) (logIt bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.lim.Now()
	k := clientip.Key(a)
	e := f.m[k]
	if e == nil {
		if len(f.m) >= f.lim.MaxAddresses {
			f.sweep(now)
		}
		if len(f.m) >= f.lim.MaxAddresses {
			f.evictOldest(now)
		}
		e = &address{windowStart: now}
		f.m[k] = e
	}
	f.report(k, e, now)
	e.lastSeen = now
	if now.Sub(e.windowStart) >= f.lim.Window {
		e.windowStart, e.failures = now, 0
	}
	e.failures++
	if e.failures >= f.lim.Burst {
		e.blockedUntil = now.Add(f.blockFor(e.blocks))
		e.blocks++
		e.windowStart, e.failures = now, 0
	}
	if e.reportStart.IsZero() {
		// The first refusal of a quiet address: the caller logs it with its own detail, and
		// the window of its summary starts now.
		e.reportStart = now
		return true
	}
	e.wrong++
	return false
}

// blockFor is the length of the block after n earlier ones.
func (f *Failures) blockFor(n int) time.Duration {
	d := f.lim.Block
	for range n {
		if d >= f.lim.MaxBlock/2 {
			return f.lim.MaxBlock
		}
		d *= 2
	}
	return min(d, f.lim.MaxBlock)
}

// report logs the summary of k once its window is over. Called with mu held.
func (f *Failures) report(k string, e *address, now time.Time) {
	if e.reportStart.IsZero() || now.Sub(e.reportStart) < f.lim.Window {
		return
	}
	if n := e.wrong + e.unchecked; n > 0 {
		args := []any{"address", k, "wrong_keys", e.wrong, "refused_unchecked", e.unchecked}
		if now.Before(e.blockedUntil) {
			args = append(args, "blocked_for", e.blockedUntil.Sub(now).Round(time.Second).String())
		}
		f.log.Warn(fmt.Sprintf("refused %d publish attempts with a wrong key from %s in the last %s",
			n, k, f.lim.Window), args...)
	}
	e.reportStart, e.wrong, e.unchecked = time.Time{}, 0, 0
}

// Sweep logs the summaries whose window is over and forgets the addresses that have been
// quiet for long enough. Run calls it every second.
func (f *Failures) Sweep() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweep(f.lim.Now())
}

func (f *Failures) sweep(now time.Time) {
	for k, e := range f.m {
		f.report(k, e, now)
		if e.reportStart.IsZero() && now.Sub(e.lastSeen) >= f.lim.Window &&
			now.Sub(e.blockedUntil) >= f.lim.MaxBlock {
			delete(f.m, k)
		}
	}
}

// evictOldest forgets the address seen least recently, with its summary logged.
func (f *Failures) evictOldest(now time.Time) {
	var oldest string
	var at time.Time
	for k, e := range f.m {
		if oldest == "" || e.lastSeen.Before(at) {
			oldest, at = k, e.lastSeen
		}
	}
	if e := f.m[oldest]; e != nil {
		e.reportStart = now.Add(-f.lim.Window) // its summary now, not never
		f.report(oldest, e, now)
		delete(f.m, oldest)
	}
}

// Len returns how many addresses are remembered.
func (f *Failures) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

// Run sweeps every second until ctx is cancelled.
func (f *Failures) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.Sweep()
		}
	}
}
