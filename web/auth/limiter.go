package auth

import (
	"sync"
	"time"
)

// Login limits. A login attempt is counted before its password is hashed (reserved), then
// confirmed as a failure or released, so concurrent attempts cannot slip past a limit while
// argon2 runs. Three limits apply:
//
//   - per client address (clientip.Key): maxFailuresPerAddr failures and attempts in flight
//     within failureWindow, then 429 until the oldest failure leaves the window;
//   - per (name, address): pairFreeFailures free failures, then a delay doubling from
//     pairBaseDelay up to pairMaxDelay before the next attempt (429 meanwhile);
//   - per name alone, from every address: nameFreeFailures free failures, then each attempt
//     waits a delay doubling from nameBaseDelay up to nameMaxDelay before it is checked. It
//     is a wait, never a refusal: a stranger can slow the admin down by a second but never
//     keep them out from another address.
const (
	maxFailuresPerAddr = 10
	failureWindow      = 5 * time.Minute

	pairFreeFailures = 3
	pairBaseDelay    = time.Second
	pairMaxDelay     = 15 * time.Minute
	// pairForget is how long after its last failure a (name, address) starts afresh.
	pairForget = pairMaxDelay + failureWindow

	nameFreeFailures = 5
	nameBaseDelay    = 100 * time.Millisecond
	nameMaxDelay     = time.Second

	// maxTracked bounds each of the limiter's maps: beyond it, forgotten entries are swept,
	// then arbitrary ones dropped (a flood from that many addresses is beyond what a
	// per-address limit can stop anyway).
	maxTracked = 50000

	// refusalLogEvery is the burst of refused logins from one address that makes one log
	// line.
	refusalLogEvery = time.Minute
)

// addrState is one client address's recent failures, attempts in flight and refusals not yet
// logged.
type addrState struct {
	fails   []time.Time // within failureWindow, oldest first, at most maxFailuresPerAddr
	pending int
	refused int       // refusals since the last log line
	logged  time.Time // when the last log line was written
}

// streak is consecutive failures of a name, or of a name from one address.
type streak struct {
	fails int
	last  time.Time
}

// limiter holds the login limits' state; every map is bounded by maxTracked.
type limiter struct {
	mu    sync.Mutex
	addrs map[string]*addrState
	pairs map[pairKey]*streak
	names map[string]*streak
}

type pairKey struct{ name, addr string }

func newLimiter() *limiter {
	return &limiter{addrs: map[string]*addrState{}, pairs: map[pairKey]*streak{}, names: map[string]*streak{}}
}

// backoff is base doubled once per failure beyond free, at most maxDelay; zero within free.
func backoff(fails, free int, base, maxDelay time.Duration) time.Duration {
	if fails < free {
		return 0
	}
	d := base
	for i := free; i < fails && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

// reserve counts an attempt of name from addr before its password is checked. It returns
// retry > 0 when the attempt is refused (nothing is reserved), else how long the attempt must
// wait first (the name's delay) and a reservation that the caller must end with fail,
// succeed or release.
func (l *limiter) reserve(now time.Time, addr, name string) (wait, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.addr(now, addr)
	a.prune(now)
	if n := len(a.fails) + a.pending; n >= maxFailuresPerAddr {
		retry = time.Second // attempts in flight end within a second or so
		if len(a.fails) >= maxFailuresPerAddr {
			retry = max(retry, a.fails[len(a.fails)-maxFailuresPerAddr].Add(failureWindow).Sub(now))
		}
	}
	if p := l.pairs[pairKey{name, addr}]; p != nil {
		if until := p.last.Add(backoff(p.fails, pairFreeFailures, pairBaseDelay, pairMaxDelay)); now.Before(until) && p.fails >= pairFreeFailures {
			retry = max(retry, until.Sub(now))
		}
	}
	if retry > 0 {
		return 0, retry
	}
	a.pending++
	if n := l.names[name]; n != nil && now.Sub(n.last) < failureWindow {
		wait = backoff(n.fails, nameFreeFailures, nameBaseDelay, nameMaxDelay)
	}
	return wait, 0
}

// addr returns the state of addr, made when missing.
func (l *limiter) addr(now time.Time, addr string) *addrState {
	a := l.addrs[addr]
	if a == nil {
		if len(l.addrs) >= maxTracked {
			sweep(l.addrs, func(a *addrState) bool { return a.idle(now) })
		}
		a = &addrState{}
		l.addrs[addr] = a
	}
	return a
}

func (a *addrState) prune(now time.Time) {
	i := 0
	for i < len(a.fails) && now.Sub(a.fails[i]) >= failureWindow {
		i++
	}
	a.fails = a.fails[i:]
}

// idle reports whether the state holds nothing worth keeping.
func (a *addrState) idle(now time.Time) bool {
	a.prune(now)
	return len(a.fails) == 0 && a.pending == 0 && now.Sub(a.logged) >= refusalLogEvery
}

// sweep makes room in m: it drops the entries forgotten says may go, then, when m is still
// at least 7/8 full, arbitrary others (map order is random) down to 7/8 of maxTracked.
func sweep[K comparable, V any](m map[K]V, forgotten func(V) bool) {
	for k, v := range m {
		if forgotten(v) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) < maxTracked*7/8 {
			break
		}
		delete(m, k)
	}
}

func (l *limiter) endPending(addr string) *addrState {
	a := l.addrs[addr]
	if a == nil { // swept while in flight: only under a flood from maxTracked addresses
		a = &addrState{}
		l.addrs[addr] = a
	}
	if a.pending > 0 {
		a.pending--
	}
	return a
}

// fail confirms a reserved attempt as a failure.
func (l *limiter) fail(now time.Time, addr, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.endPending(addr)
	a.prune(now)
	if len(a.fails) >= maxFailuresPerAddr {
		a.fails = a.fails[1:]
	}
	a.fails = append(a.fails, now)
	bump(now, l.pairs, pairKey{name, addr}, pairForget)
	bump(now, l.names, name, failureWindow)
}

// bump counts a failure in the streak of k, forgotten after forget without one.
func bump[K comparable](now time.Time, m map[K]*streak, k K, forget time.Duration) {
	s := m[k]
	if s == nil {
		if len(m) >= maxTracked {
			sweep(m, func(s *streak) bool { return now.Sub(s.last) >= forget })
		}
		s = &streak{}
		m[k] = s
	} else if now.Sub(s.last) >= forget {
		s.fails = 0
	}
	if s.fails < 1000 {
		s.fails++
	}
	s.last = now
}

// succeed ends a reserved attempt that logged in: the name's streaks start afresh.
func (l *limiter) succeed(addr, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endPending(addr)
	delete(l.pairs, pairKey{name, addr})
	delete(l.names, name)
}

// release ends a reserved attempt that was never checked.
func (l *limiter) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endPending(addr)
}

// refused counts a refused login from addr. It returns whether to write a log line now
// (the first refusal of a burst, then one a refusalLogEvery) and how many refusals it
// stands for.
func (l *limiter) refused(now time.Time, addr string) (logNow bool, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.addr(now, addr)
	a.refused++
	if now.Sub(a.logged) < refusalLogEvery {
		return false, 0
	}
	n, a.refused, a.logged = a.refused, 0, now
	return true, n
}

// size is how many entries the limiter holds, for tests.
func (l *limiter) size() (addrs, pairs, names int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs), len(l.pairs), len(l.names)
}
