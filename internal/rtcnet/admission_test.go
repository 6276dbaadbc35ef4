package rtcnet

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// TestAdmission: the caps hold overall and per address (an IPv6 /64 is one address), a
// release (connected or ended) frees the slot once, however often it is called.
func TestAdmission(t *testing.T) {
	a := NewAdmission(5, 2)
	one, two := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	r1, ok1 := a.Acquire(one)
	_, ok2 := a.Acquire(one)
	if _, ok := a.Acquire(one); !ok1 || !ok2 || ok {
		t.Fatalf("per address: %v %v, then %v; want two then a refusal", ok1, ok2, ok)
	}
	r1()
	r1() // promotion, then the end of the session: one slot back, not two
	if _, ok := a.Acquire(one); !ok {
		t.Fatal("a released slot was not given back")
	}
	if _, ok := a.Acquire(one); ok {
		t.Fatal("release given back twice")
	}
	// IPv6: the /64 is what is counted.
	v6a, v6b := netip.MustParseAddr("::1"), netip.MustParseAddr("::2")
	if _, ok := a.Acquire(v6a); !ok {
		t.Fatal("::1 refused")
	}
	if _, ok := a.Acquire(v6b); !ok {
		t.Fatal("::2 refused")
	}
	if _, ok := a.Acquire(v6a); ok {
		t.Fatal("a third address of one /64 accepted past the per-address cap")
	}
	if a.Pending() != 4 {
		t.Fatalf("pending %d, want 4", a.Pending())
	}
	// Overall: 4 pending, one more from a new address, then none.
	if _, ok := a.Acquire(two); !ok {
		t.Fatal("the fifth refused")
	}
	if _, ok := a.Acquire(netip.MustParseAddr("127.0.0.3")); ok {
		t.Fatal("accepted past the overall cap")
	}
	if len(a.byAddr) != 3 {
		t.Errorf("%d addresses tracked, want 3", len(a.byAddr))
	}
}

// TestAdmissionDefaults: a cap below 1 is its default; the per-address cap is at most the
// overall one.
func TestAdmissionDefaults(t *testing.T) {
	if a := NewAdmission(0, 0); a.max != DefaultMaxPending || a.perAddr != DefaultMaxPendingPerAddress {
		t.Errorf("defaults %d/%d", a.max, a.perAddr)
	}
	if a := NewAdmission(3, 10); a.perAddr != 3 {
		t.Errorf("per address %d, want 3", a.perAddr)
	}
}

func TestBusy(t *testing.T) {
	w := httptest.NewRecorder()
	Busy(w)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" || w.Body.Len() == 0 {
		t.Errorf("%d Retry-After %q %q", w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
}

func TestThrottle(t *testing.T) {
	th := NewThrottle(1 << 62)
	if ok, _ := th.Allow(); !ok {
		t.Fatal("the first line held back")
	}
	for range 10 {
		if ok, _ := th.Allow(); ok {
			t.Fatal("a second line within the period")
		}
	}
	th.next = th.next.Add(-1 << 62)
	if ok, held := th.Allow(); !ok || held != 10 {
		t.Errorf("after the period: %v, %d held, want true, 10", ok, held)
	}
}

// TestRecover: a panic becomes one error line with the stack, and the session is stopped.
func TestRecover(t *testing.T) {
	var b strings.Builder
	log := slog.New(slog.NewTextHandler(&b, nil))
	var reason string
	func() {
		defer Recover(log, "test", func(r string) { reason = r })
		panic("boom")
	}()
	if !strings.Contains(reason, "panic in test") {
		t.Errorf("stop reason %q", reason)
	}
	out := b.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "boom") || !strings.Contains(out, "TestRecover") {
		t.Errorf("log %q: want one line with the panic and its stack", out)
	}
	func() {
		defer Recover(log, "test", func(string) { t.Error("stopped without a panic") })
	}()
}
