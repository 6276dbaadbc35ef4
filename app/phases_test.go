package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// journal records the order in which components start and stop.
type journal struct {
	mu    sync.Mutex
	lines []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	j.lines = append(j.lines, s)
	j.mu.Unlock()
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.lines)
}

// waiter is a component that notes its start, waits for its stop, then notes that.
func waiter(j *journal, name string, started *sync.WaitGroup) Component {
	started.Add(1)
	return Component{Name: name, Run: func(ctx context.Context) error {
		j.add("start " + name)
		started.Done()
		<-ctx.Done()
		j.add("stop " + name)
		return ctx.Err()
	}}
}

// TestPhasesStopInOrder: phases stop in their order, each phase's closers
// after its components, and a phase stops only once the one before it has returned.
func TestPhasesStopInOrder(t *testing.T) {
	j := &journal{}
	var started sync.WaitGroup
	phases := []phase{
		{name: "ingest", run: []Component{waiter(j, "rtmp", &started), waiter(j, "srt", &started)}},
		{name: "recorders", run: []Component{waiter(j, "recorder", &started)},
			close: []Closer{{"finalise", func() error { j.add("close finalise"); return nil }}}},
		{name: "store", close: []Closer{{"database", func() error { j.add("close database"); return nil }}}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runPhases(ctx, slog.New(slog.DiscardHandler), phases) }()
	started.Wait()
	cancel()
	if err := waitErr(t, done); err != nil {
		t.Fatalf("cancellation is not a failure: %v", err)
	}
	got := j.get()[3:]
	if !slices.Equal(got[2:], []string{"stop recorder", "close finalise", "close database"}) ||
		!slices.Contains(got[:2], "stop rtmp") || !slices.Contains(got[:2], "stop srt") {
		t.Fatalf("stop order: %v", got)
	}
}

// TestPhasesFailureStopsAllAndIsReturned: a component that fails stops every phase in order,
// and Run returns its error with the component's name; errors from closers are returned too.
func TestPhasesFailureStopsAllAndIsReturned(t *testing.T) {
	j := &journal{}
	var started sync.WaitGroup
	boom := errors.New("address in use")
	phases := []phase{
		{name: "ingest", run: []Component{waiter(j, "rtmp", &started)}},
		{name: "http", run: []Component{{"http", func(context.Context) error {
			started.Wait()
			return boom
		}}}},
		{name: "store", close: []Closer{{"database", func() error { return errors.New("disk gone") }}}},
	}
	done := make(chan error, 1)
	go func() { done <- runPhases(context.Background(), slog.New(slog.DiscardHandler), phases) }()
	err := waitErr(t, done)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "http: address in use") ||
		!strings.Contains(err.Error(), "database: disk gone") {
		t.Fatalf("Run: %v", err)
	}
	if got := j.get(); !slices.Equal(got, []string{"start rtmp", "stop rtmp"}) {
		t.Fatalf("ingest did not stop after the failure: %v", got)
	}
}

func waitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("runPhases did not return")
		return nil
	}
}
