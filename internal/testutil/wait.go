package testutil

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// WaitTimeout bounds every wait for something that should happen at once: reaching it means
// a bug, not a slow machine.
const WaitTimeout = 10 * time.Second

// WaitFor polls cond every 5 ms until it holds, failing the test with "timed out waiting for
// what" once WaitTimeout has passed.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Eventually polls cond every 100 ms until it returns nil, failing the test with cond's last
// error once timeout has passed. It suits slow conditions (a child process, an HTTP API)
// whose error says what is still missing.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not true after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// NoGoroutines waits until no goroutine's stack mentions any of names (function names such
// as "ingest/rtmp.(*Server).publish"), failing the test with every stack once WaitTimeout
// has passed.
func NoGoroutines(t testing.TB, names ...string) {
	t.Helper()
	var stacks string
	deadline := time.Now().Add(WaitTimeout)
	for {
		stacks = Stacks()
		leaked := false
		for _, n := range names {
			leaked = leaked || strings.Contains(stacks, n)
		}
		if !leaked {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left behind:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stacks returns the stacks of all goroutines (up to 1 MiB of them).
func Stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
