package whip

import (
	"sync"
	"time"
)

// Publish-key guessing: each address may fail keyFailBurst times, then one more time every
// keyFailRefill; past that it is refused (429) before its key is even looked at, so that a
// guess, right or wrong, tells nothing until the address is allowed again.
const (
	keyFailBurst  = 5
	keyFailRefill = 12 * time.Second
	// keyFailTracked bounds the addresses remembered; when full, the one whose last failure
	// is oldest is forgotten.
	keyFailTracked = 4096
)

// keyGuard counts publish-key failures per address (clientip.Key) in token buckets.
type keyGuard struct {
	now func() time.Time

	mu sync.Mutex
	by map[string]*keyBucket
}

type keyBucket struct {
	tokens float64
	at     time.Time // when tokens was computed
	last   time.Time // the last failure
}

func newKeyGuard(now func() time.Time) *keyGuard {
	if now == nil {
		now = time.Now
	}
	return &keyGuard{now: now, by: map[string]*keyBucket{}}
}

// refill brings b's tokens up to now. Called with mu held.
func refill(b *keyBucket, now time.Time) {
	b.tokens = min(keyFailBurst, b.tokens+float64(now.Sub(b.at))/float64(keyFailRefill))
	b.at = now
}

// blocked reports whether key has no failure left, and when it will have one.
func (g *keyGuard) blocked(key string) (retry time.Duration, blocked bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.by[key]
	if b == nil {
		return 0, false
	}
	now := g.now()
	refill(b, now)
	if b.tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - b.tokens) * float64(keyFailRefill)), true
}

// fail counts a failure of key. first reports that it starts a burst (the address had not
// failed for a while: log it), exhausted that it used the address's last failure (log that
// it is now refused); the failures in between are not logged.
func (g *keyGuard) fail(key string) (first, exhausted bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	b := g.by[key]
	if b == nil {
		if len(g.by) >= keyFailTracked {
			g.forgetOldest(now)
		}
		b = &keyBucket{tokens: keyFailBurst, at: now}
		g.by[key] = b
	}
	refill(b, now)
	first = b.tokens >= keyFailBurst
	b.tokens = max(0, b.tokens-1)
	b.last = now
	return first, b.tokens < 1
}

// forgetOldest drops the buckets that are full again, or else the one whose last failure is
// oldest. Called with mu held.
func (g *keyGuard) forgetOldest(now time.Time) {
	var oldest string
	for k, b := range g.by {
		if refill(b, now); b.tokens >= keyFailBurst {
			delete(g.by, k)
			continue
		}
		if oldest == "" || b.last.Before(g.by[oldest].last) {
			oldest = k
		}
	}
	if len(g.by) >= keyFailTracked {
		delete(g.by, oldest)
	}
}
