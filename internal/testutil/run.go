package testutil

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Start calls run in a goroutine with a context that stop cancels. stop then waits up to
// WaitTimeout for run to return, and fails the test (without stopping it) if run returned an
// error or did not return. stop may be called more than once, and runs at the latest when the
// test ends.
func Start(t testing.TB, run func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(WaitTimeout):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
