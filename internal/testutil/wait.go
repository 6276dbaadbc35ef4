package testutil

import (
	"fmt"
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

// WaitBlocked waits until n goroutines whose stacks mention function (as "outputs/hls.(*Server).serveMedia")
// are parked in a select or a channel operation, failing the test once WaitTimeout has
// passed. It is how a test knows that a request is waiting for something before it makes
// that thing happen, without sleeping.
func WaitBlocked(t testing.TB, n int, function string) {
	t.Helper()
	WaitFor(t, fmt.Sprintf("%d goroutines waiting in %s", n, function), func() bool {
		found := 0
		for g := range strings.SplitSeq(Stacks(), "\n\n") {
			head, _, _ := strings.Cut(g, "\n")
			parked := strings.Contains(head, "[select") || strings.Contains(head, "[chan receive") ||
				strings.Contains(head, "[chan send")
			if parked && strings.Contains(g, function) {
				found++
			}
		}
		return found >= n
	})
}
