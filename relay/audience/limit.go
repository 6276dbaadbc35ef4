package audience

import (
	"sync"
	"time"
)

// The mint limit of Options left zero.
const (
	// DefaultMintBurst is how many tokens one address gets at once: a class arriving
	// together behind one NAT.
	DefaultMintBurst = 32
	// DefaultMintRate is how many more tokens per second one address gets after its burst.
	DefaultMintRate = 2.0
	// DefaultMaxClients bounds the addresses the mint limiter follows at once (about 100
	// bytes each). Beyond it, a new address gets its shared token at once.
	DefaultMaxClients = 65536
)

// mintLimiter is a token bucket per client address key: each new player token takes one;
// buckets refill at rate per second up to burst. A full bucket is forgotten (Tick sweeps
// them), so the map holds the addresses that minted in the last burst/rate seconds.
type mintLimiter struct {
	rate  float64
	burst float64
	max   int

	mu      sync.Mutex
	buckets map[string]bucket
}

type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds
}

func newMintLimiter(rate float64, burst, maxClients int) *mintLimiter {
	return &mintLimiter{rate: rate, burst: float64(burst), max: maxClients, buckets: map[string]bucket{}}
}

// allow takes a token of client's bucket, or reports false when it is empty. followed is
// false when too many addresses are followed to start client's bucket.
func (l *mintLimiter) allow(client string, now time.Time) (ok, followed bool) {
	ns := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[client]
	if !ok {
		if len(l.buckets) >= l.max {
			return false, false
		}
		b = bucket{tokens: l.burst, last: ns}
	}
	if d := ns - b.last; d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/1e9*l.rate)
	}
	b.last = ns
	if b.tokens < 1 {
		l.buckets[client] = b
		return false, true
	}
	b.tokens--
	l.buckets[client] = b
	return true, true
}

// sweep forgets the buckets that are full again.
func (l *mintLimiter) sweep(now time.Time) {
	ns := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.buckets {
		if b.tokens+float64(ns-b.last)/1e9*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// Mint returns a session token for a new player of stream's live session event, coming from
// client (the address key, as internal/clientip.Key gives it). Each address gets
// Options.MintBurst tokens at once and Options.MintRate more per second; beyond that, its
// players share one token (and count as one viewer) until its bucket refills. A flood of
// playlist requests from one address thus makes at most MintBurst + MintRate*t viewers (and
// only those that go on to play: see Playlist), while a school behind one NAT still counts
// its first MintBurst viewers at once and MintRate more each second. When Options.MaxClients
// addresses are followed already (a flood from many addresses), every new address shares
// one token: under such a flood, new viewers count as one rather than the flood as many.
func (c *Counter) Mint(stream string, event uint64, client string) string {
	ok, followed := c.limit.allow(client, c.clock())
	switch {
	case ok:
		return c.NewToken(stream, event)
	case !followed:
		client = "*"
	}
	return c.sharedToken(stream, event, client)
}
