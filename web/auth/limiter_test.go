package auth

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLimiterCountsBeforeHashing: attempts in flight count against the per-address limit,
// so concurrent attempts cannot all pass while the hashes run; a release gives the slot back.
func TestLimiterCountsBeforeHashing(t *testing.T) {
	l := newLimiter()
	now := time.Unix(1_700_000_000, 0)
	for i := range maxFailuresPerAddr {
		if _, retry := l.reserve(now, "127.0.0.1", fmt.Sprintf("n%d", i)); retry > 0 {
			t.Fatalf("attempt %d in flight refused", i)
		}
	}
	if _, retry := l.reserve(now, "127.0.0.1", "another"); retry <= 0 {
		t.Fatalf("attempt beyond %d in flight not refused", maxFailuresPerAddr)
	}
	if _, retry := l.reserve(now, "127.0.0.2", "another"); retry > 0 {
		t.Fatal("another address refused")
	}
	l.release("127.0.0.1")
	if _, retry := l.reserve(now, "127.0.0.1", "another"); retry > 0 {
		t.Fatal("a released slot is not given back")
	}
	// Confirmed failures fill the window; it empties after failureWindow.
	for range maxFailuresPerAddr {
		l.fail(now, "127.0.0.1", "x")
	}
	if _, retry := l.reserve(now, "127.0.0.1", "y"); retry < failureWindow-time.Second {
		t.Fatalf("after %d failures: retry in %v, want about %v", maxFailuresPerAddr, retry, failureWindow)
	}
	if _, retry := l.reserve(now.Add(failureWindow), "127.0.0.1", "y"); retry > 0 {
		t.Fatalf("failures older than the window still count: retry %v", retry)
	}
}

// TestLimiterBackoff: (name, address) delays double up to their bound; the name alone only
// ever slows an attempt down, by at most nameMaxDelay, from any address.
func TestLimiterBackoff(t *testing.T) {
	l := newLimiter()
	now := time.Unix(1_700_000_000, 0)
	var last time.Duration
	for i := range 40 {
		addr := "127.0.0.1"
		if i >= pairFreeFailures+5 { // many addresses share the name's failures
			addr = fmt.Sprintf("127.0.1.%d", i)
		}
		wait, retry := l.reserve(now, addr, "admin")
		if retry > 0 {
			t.Fatalf("attempt %d refused: %v", i, retry)
		}
		if wait > nameMaxDelay || wait < last {
			t.Fatalf("attempt %d waits %v (before: %v): want growing, at most %v", i, wait, last, nameMaxDelay)
		}
		last = wait
		l.fail(now, addr, "admin")
		now = now.Add(time.Hour / 100) // within failureWindow of each other for the name
		if addr == "127.0.0.1" {
			now = now.Add(pairMaxDelay) // the pair's backoff has passed
		}
	}
	if last != nameMaxDelay {
		t.Fatalf("the name's delay stayed at %v, want %v", last, nameMaxDelay)
	}
	// A clean address is never refused for the name: it waits, then is checked.
	if wait, retry := l.reserve(now, "127.0.0.99", "admin"); retry > 0 || wait > nameMaxDelay {
		t.Fatalf("a clean address: wait %v, retry %v", wait, retry)
	}
	l.release("127.0.0.99")

	// The pair: free failures, then a delay that doubles.
	p := newLimiter()
	for i := range pairFreeFailures {
		p.fail(now, "127.0.0.1", "admin")
		if _, retry := p.reserve(now, "127.0.0.1", "admin"); retry > 0 && i < pairFreeFailures-1 {
			t.Fatalf("free failure %d refused", i)
		}
		p.release("127.0.0.1")
	}
	want := pairBaseDelay
	for range 6 {
		if _, retry := p.reserve(now, "127.0.0.1", "admin"); retry != want {
			t.Fatalf("retry %v, want %v", retry, want)
		}
		if _, retry := p.reserve(now, "127.0.0.1", "other-name"); retry > 0 {
			t.Fatalf("another name from the same address refused: %v", retry)
		}
		p.release("127.0.0.1")
		now = now.Add(want)
		if _, retry := p.reserve(now, "127.0.0.1", "admin"); retry > 0 {
			t.Fatalf("after the delay: refused %v", retry)
		}
		p.fail(now, "127.0.0.1", "admin")
		want *= 2
	}
	if got := backoff(1000, pairFreeFailures, pairBaseDelay, pairMaxDelay); got != pairMaxDelay {
		t.Fatalf("backoff bound %v", got)
	}
	// A success ends the streaks.
	p.succeed("127.0.0.1", "admin")
	if _, retry := p.reserve(now, "127.0.0.1", "admin"); retry > 0 {
		t.Fatalf("after a success: refused %v", retry)
	}
}

// TestLimiterBounded: a flood of distinct addresses and names keeps every map within
// maxTracked.
func TestLimiterBounded(t *testing.T) {
	l := newLimiter()
	now := time.Unix(1_700_000_000, 0)
	for i := range maxTracked + maxTracked/2 {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) // parsed strings only, never dialled
		name := fmt.Sprintf("name-%d", i)
		if _, retry := l.reserve(now, addr, name); retry > 0 {
			t.Fatalf("attempt %d refused", i)
		}
		l.fail(now, addr, name)
		l.refused(now, addr)
	}
	if a, p, n := l.size(); a > maxTracked || p > maxTracked || n > maxTracked {
		t.Fatalf("limiter maps %d, %d, %d: beyond %d", a, p, n, maxTracked)
	}
}

// TestRefusalLogBursts: one line for the first refusal of a burst, then one a
// refusalLogEvery with the count it stands for.
func TestRefusalLogBursts(t *testing.T) {
	l := newLimiter()
	now := time.Unix(1_700_000_000, 0)
	lines, total := 0, 0
	for i := range 300 {
		if ok, n := l.refused(now.Add(time.Duration(i)*time.Second), "127.0.0.1"); ok {
			lines++
			total += n
		}
	}
	if lines != 5 || total != 241 { // at 0, 60, 120, 180 and 240 s
		t.Fatalf("%d lines standing for %d refusals, want 5 for 241", lines, total)
	}
	if ok, _ := l.refused(now, "127.0.0.2"); !ok {
		t.Fatal("another address's first refusal is not logged")
	}
}

func loginSeeds() []string {
	return []string{
		`{"name":"admin","password":"s3cret-admin-pw"}`,
		`{"password":"x","name":"é"}`,
		`{"name":"\u0000","password":"\ud800"}`,
		`{"name":"admin","password":"x","extra":1}`,
		`{"name":1,"password":"x"}`,
		`{"name":"a"} {"name":"b"}`,
		`{"name":"` + strings.Repeat("n", 65) + `","password":"x"}`,
		`{"name":"admin","password":"` + strings.Repeat("p", 1025) + `"}`,
		`[]`, `null`, ``, `{`, `{"name":null,"password":null}`,
	}
}

func TestReadLogin(t *testing.T) {
	for i, s := range loginSeeds() {
		in, err := readLogin(strings.NewReader(s))
		if (err == nil) != (i < 3) { // the first three are valid
			t.Errorf("%.40q: %+v, %v", s, in, err)
		}
	}
}

// FuzzReadLogin: whatever a stranger sends, readLogin does not panic, accepts only bounded
// names and passwords, round-trips what it accepts, and never repeats the password.
func FuzzReadLogin(f *testing.F) {
	for _, s := range loginSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := readLogin(strings.NewReader(string(body)))
		if err != nil {
			if len(in.Password) >= 4 && strings.Contains(err.Error(), in.Password) {
				t.Fatalf("the error repeats the password: %v", err)
			}
			return
		}
		if in.Name == "" || len(in.Name) > maxLoginName || in.Password == "" || len(in.Password) > maxLoginPassword {
			t.Fatalf("accepted out of bounds: %d-byte name, %d-byte password", len(in.Name), len(in.Password))
		}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := readLogin(strings.NewReader(string(b)))
		if err != nil || again != in {
			t.Fatalf("round trip of %q: %+v, %v", b, again, err)
		}
	})
}
