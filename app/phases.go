package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// A Component is one long-lived part of Beffroi: it serves until its context is cancelled,
// then returns once every goroutine it started has returned. A non-nil error other than the
// context's own is a failure, and a failure stops the whole App (in phase order).
type Component struct {
	// Name says what it is in logs and errors ("ingest rtmp", "destinations").
	Name string
	Run  func(ctx context.Context) error
}

// A Closer releases what a phase holds open (a port, the database) once the phase's
// components have returned.
type Closer struct {
	Name  string
	Close func() error
}

// A phase is a group of components started together and stopped together. Phases are listed
// in the order they stop at shutdown: ingest stops first, so that nothing is left reading
// once the publishers are gone and every recording is finished with what was published.
// They are launched in the opposite order (ingest last); components that follow the streams
// (recorders, HLS, destinations) also pick up a stream already live, so nothing waits for
// another to be ready.
type phase struct {
	name string
	run  []Component
	// close runs in order once every component of run has returned.
	close []Closer
}

// runPhases launches every phase (last first) and serves until ctx is cancelled or a component
// fails, then stops the phases one by one in order, each only once the one before it has
// returned. It returns every failure, joined; cancellation is not one.
//
// The configuration reload will use the same structure: start the new component next to the
// old one in its phase, then stop the old one (as Caddy does).
func runPhases(ctx context.Context, log *slog.Logger, phases []phase) error {
	failed := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var errs []error
	stopping := false // under mu
	report := func(name string, err error) {
		if err == nil || errors.Is(err, context.Canceled) {
			return
		}
		err = fmt.Errorf("%s: %w", name, err)
		mu.Lock()
		errs = append(errs, err)
		was := stopping
		stopping = true
		mu.Unlock()
		if was {
			log.Error("error while stopping", "component", name, "error", err.Error())
			return
		}
		log.Error("stopping after a failure", "component", name, "error", err.Error())
		once.Do(func() { close(failed) })
	}

	type running struct {
		stop context.CancelFunc
		wg   sync.WaitGroup
	}
	runs := make([]*running, len(phases))
	for i := len(phases) - 1; i >= 0; i-- {
		pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		r := &running{stop: stop}
		runs[i] = r
		for _, c := range phases[i].run {
			r.wg.Go(func() { report(c.Name, c.Run(pctx)) })
		}
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-failed:
	}
	mu.Lock()
	stopping = true
	mu.Unlock()
	for i, r := range runs {
		log.Debug("stopping", "phase", phases[i].name)
		r.stop()
		r.wg.Wait()
		for _, c := range phases[i].close {
			report(c.Name, c.Close())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return errors.Join(errs...)
}
