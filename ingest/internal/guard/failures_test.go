package guard

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/ingest/internal/guard/guardtest"
	"github.com/beffroi/beffroi/internal/testutil"
)

func newFailures(lim Limits) (*Failures, *guardtest.Clock, *testutil.LogBuffer) {
	c := guardtest.NewClock()
	lim.Now = c.Now
	logs := &testutil.LogBuffer{}
	return NewFailures(logs.Logger(), lim), c, logs
}

// attempt is one publish attempt with a wrong key, as a server makes it: the block first,
// the key comparison (always wrong here) only when allowed. It returns whether the caller
// logged it, and whether the key was compared.
func attempt(f *Failures, a netip.Addr) (logged, compared bool) {
	if !f.Allowed(a) {
		return false, false
	}
	return f.Failed(a), true
}

func TestFailuresBurst(t *testing.T) {
	f, c, logs := newFailures(Limits{})
	guesser := netip.MustParseAddr("192.0.2.7") // parsed only: no test talks to it
	compared, logged := 0, 0
	for range 100 {
		l, cmp := attempt(f, guesser)
		if l {
			logged++
		}
		if cmp {
			compared++
		}
		c.Add(10 * time.Millisecond)
	}
	if compared != DefaultBurst {
		t.Errorf("%d keys compared out of 100, want %d", compared, DefaultBurst)
	}
	if logged != 1 {
		t.Errorf("%d refusals for the caller to log, want 1", logged)
	}
	// Another address is not held back by the guesser.
	if other := netip.MustParseAddr("198.51.100.1"); !f.Allowed(other) {
		t.Error("another address refused")
	}
	if logs.String() != "" {
		t.Errorf("summary before its window is over:\n%s", logs)
	}
	c.Add(DefaultWindow)
	f.Sweep()
	want := fmt.Sprintf("refused %d publish attempts with a wrong key from 192.0.2.7 in the last 10s", 99)
	if logs.Count(want) != 1 {
		t.Fatalf("want one line %q, got:\n%s", want, logs)
	}
	f.Sweep()
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Errorf("%d lines, want 1:\n%s", n, logs)
	}
	// The block is over (10 s): the address may try again.
	if !f.Allowed(guesser) {
		t.Error("still refused after the block")
	}
}

func TestFailuresGrowingDelay(t *testing.T) {
	f, c, _ := newFailures(Limits{Burst: 2, Block: time.Second, MaxBlock: 4 * time.Second})
	a := netip.MustParseAddr("2001:db8::1")
	sameNet := netip.MustParseAddr("2001:db8::ffff") // the same /64: the same client
	var blocks []time.Duration
	for range 5 {
		attempt(f, a)
		attempt(f, sameNet)
		start := c.Now()
		for !f.Allowed(a) {
			c.Add(100 * time.Millisecond)
		}
		blocks = append(blocks, c.Now().Sub(start))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	if fmt.Sprint(blocks) != fmt.Sprint(want) {
		t.Errorf("blocks %v, want %v", blocks, want)
	}
	// Quiet for MaxBlock: forgotten, and the next block starts over at Block.
	c.Add(4*time.Second + DefaultWindow)
	f.Sweep()
	if f.Len() != 0 {
		t.Fatalf("%d addresses remembered after a quiet period", f.Len())
	}
}

func TestFailuresBounded(t *testing.T) {
	f, c, logs := newFailures(Limits{MaxAddresses: 50})
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)})
		attempt(f, a)
		attempt(f, a)
		c.Add(time.Millisecond)
	}
	if f.Len() > 50 {
		t.Errorf("%d addresses remembered, want at most 50", f.Len())
	}
	// An evicted address's pending refusal is not lost.
	if logs.Count("refused 1 publish attempts") == 0 {
		t.Errorf("no summary of the evicted addresses:\n%.500s", logs)
	}
}
