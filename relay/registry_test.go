package relay

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRegistryFollow: fn runs for the streams present and those added later, each until its
// stream is removed; Follow returns only once every fn returned.
func TestRegistryFollow(t *testing.T) {
	reg := NewRegistry(RegistryOptions{})
	if _, err := reg.Add("before", "key-before"); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		started  = map[string]int{}
		stopped  = map[string]chan struct{}{}
		running  atomic.Int32
		startedC = make(chan string, 10)
	)
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		reg.Follow(ctx, func(ctx context.Context, s *Stream) {
			running.Add(1)
			defer running.Add(-1)
			mu.Lock()
			started[s.Name()]++
			done := make(chan struct{})
			stopped[s.Name()] = done
			mu.Unlock()
			startedC <- s.Name()
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond) // a fn slow to return: Follow must wait for it
			close(done)
		})
	}()
	waitStarted := func(want string) {
		t.Helper()
		select {
		case got := <-startedC:
			if got != want {
				t.Fatalf("fn started for %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("fn not started for %q", want)
		}
	}
	waitStarted("before")
	if _, err := reg.Add("after", "key-after"); err != nil {
		t.Fatal(err)
	}
	waitStarted("after")

	reg.Remove("before")
	mu.Lock()
	doneBefore, doneAfter := stopped["before"], stopped["after"]
	mu.Unlock()
	select {
	case <-doneBefore:
	case <-time.After(5 * time.Second):
		t.Fatal("fn of a removed stream still runs")
	}
	select {
	case <-doneAfter:
		t.Fatal("fn of a stream still present stopped")
	default:
	}
	// The same name again is a new stream: a new fn.
	if _, err := reg.Add("before", "key-before"); err != nil {
		t.Fatal(err)
	}
	waitStarted("before")

	cancel()
	select {
	case <-followed:
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return after ctx ended")
	}
	if n := running.Load(); n != 0 {
		t.Errorf("Follow returned with %d fn still running", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if started["before"] != 2 || started["after"] != 1 {
		t.Errorf("fn started %v, want before twice (two streams of that name) and after once", started)
	}
	select {
	case <-startedC:
		t.Error("fn started more often than streams were added")
	default:
	}
}
