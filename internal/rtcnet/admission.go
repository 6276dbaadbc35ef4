package rtcnet

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/beffroi/beffroi/internal/clientip"
)

// Caps on WebRTC sessions not yet connected (an offer answered, ICE not yet done), shared by
// WHIP publishers and WHEP viewers (webrtc.max_pending, webrtc.max_pending_per_address): past
// them an offer gets 503 with Retry-After, so a flood of offers cannot hold thousands of
// goroutines and ports.
const (
	DefaultMaxPending           = 64
	DefaultMaxPendingPerAddress = 8
)

// PendingTimeout is how long a session may stay pending (answered, ICE and DTLS not yet
// connected) before it is closed. A browser on a mobile network connects within a few
// seconds of the answer (pion's ICE gives up on a pair after 10 s, see Listen); a session
// that has not connected by then never will, and holds a slot of the caps.
const PendingTimeout = 10 * time.Second

// RetryAfter is the Retry-After (in seconds) of an offer refused by the caps: by then, some
// pending sessions have connected or timed out.
const RetryAfter = 5

// Admission caps the sessions pending on the shared port, overall and per client address
// (clientip.Key: an IPv4 address or an IPv6 /64). One Admission is shared by the WHIP and
// WHEP servers. Connected sessions are not counted: the number of viewers is bounded by other
// means (the audience, the machine), not by this.
type Admission struct {
	max, perAddr int

	mu     sync.Mutex
	total  int
	byAddr map[string]int // only addresses with pending sessions: at most max entries

	refusals *Throttle // one log line a minute for the offers refused, WHIP and WHEP together
}

// NewAdmission returns caps of maxPending sessions overall and perAddress per address; a
// value below 1 means its default.
func NewAdmission(maxPending, perAddress int) *Admission {
	if maxPending < 1 {
		maxPending = DefaultMaxPending
	}
	if perAddress < 1 {
		perAddress = DefaultMaxPendingPerAddress
	}
	return &Admission{max: maxPending, perAddr: min(perAddress, maxPending), byAddr: map[string]int{},
		refusals: NewThrottle(time.Minute)}
}

// Admit is Acquire for an HTTP offer: past a cap it answers 503 with Retry-After (Busy),
// logs one line a minute for every refusal of the port ("what refused: ..."), and returns ok
// false.
func (a *Admission) Admit(w http.ResponseWriter, addr netip.Addr, log *slog.Logger, what string) (release func(), ok bool) {
	release, ok = a.Acquire(addr)
	if !ok {
		if logNow, held := a.refusals.Allow(); logNow {
			log.Warn(what+" refused: too many WebRTC sessions connecting (webrtc.max_pending, webrtc.max_pending_per_address)",
				"refused_since_last_line", held)
		}
		Busy(w)
	}
	return release, ok
}

// Acquire takes a pending slot for a session offered from addr (clientip.Addr of the
// request). It returns ok false when a cap is reached. Otherwise release gives the slot
// back: call it when the session connects (it is no longer pending) or ends, whichever comes
// first; calls after the first do nothing.
func (a *Admission) Acquire(addr netip.Addr) (release func(), ok bool) {
	key := clientip.Key(addr) // the zero Addr ("invalid IP") is one address: tests, pipes
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.total >= a.max || a.byAddr[key] >= a.perAddr {
		return func() {}, false
	}
	a.total++
	a.byAddr[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.total--
			if a.byAddr[key]--; a.byAddr[key] <= 0 {
				delete(a.byAddr, key)
			}
		})
	}, true
}

// Pending returns the number of pending sessions.
func (a *Admission) Pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// Busy answers an offer refused by the caps: 503 with Retry-After.
func Busy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
	http.Error(w, "too many WebRTC sessions connecting: try again in a few seconds", http.StatusServiceUnavailable)
}

// Recover turns a panic into one log line with the stack and ends that session only (stop,
// with the reason): one bad session never ends the process. Defer it at the top of each of a
// session's goroutines and pion callbacks; where names the goroutine or callback.
func Recover(log *slog.Logger, where string, stop func(reason string)) {
	v := recover()
	if v == nil {
		return
	}
	log.Error("panic in a WebRTC session: closing it", "in", where, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	stop(fmt.Sprintf("internal error (panic in %s)", where))
}

// Throttle lets one log line through per period and counts the ones it held back: a flood
// of refusals makes a line a minute, not a line a request.
type Throttle struct {
	period time.Duration

	mu   sync.Mutex
	next time.Time
	held int
}

// NewThrottle returns a Throttle of one line per period.
func NewThrottle(period time.Duration) *Throttle { return &Throttle{period: period} }

// Allow reports whether a line may be logged now, and how many were held back since the last
// one that was.
func (t *Throttle) Allow() (ok bool, held int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if now.Before(t.next) {
		t.held++
		return false, 0
	}
	t.next = now.Add(t.period)
	held, t.held = t.held, 0
	return true, held
}
