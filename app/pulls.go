package app

import (
	"context"
	"sync"

	ingestrtsp "github.com/beffroi/beffroi/ingest/rtsp"
)

// pullSet runs the camera pullers of the streams of the file, one per stream; a reload adds
// and removes them while it runs. It is one component of the ingest phase.
type pullSet struct {
	mu      sync.Mutex
	ctx     context.Context // nil until Run
	pullers map[string]*runningPuller
	wg      sync.WaitGroup
}

type runningPuller struct {
	p    *ingestrtsp.Puller
	stop context.CancelFunc // nil until started
	done chan struct{}
}

func newPullSet() *pullSet { return &pullSet{pullers: map[string]*runningPuller{}} }

// Run runs every puller until ctx is cancelled, then returns once they all have.
func (s *pullSet) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	for _, r := range s.pullers {
		s.start(r)
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.wg.Wait()
	return nil
}

// start runs r under the set's context; s.mu held, s.ctx set.
func (s *pullSet) start(r *runningPuller) {
	ctx, stop := context.WithCancel(s.ctx)
	r.stop, r.done = stop, make(chan struct{})
	s.wg.Go(func() {
		defer close(r.done)
		_ = r.p.Run(ctx) // reconnects forever; returns when cancelled
	})
}

// set adds (or replaces) the puller of a stream; it starts at once when the set runs.
func (s *pullSet) set(stream string, p *ingestrtsp.Puller) {
	s.remove(stream)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &runningPuller{p: p}
	s.pullers[stream] = r
	if s.ctx != nil && s.ctx.Err() == nil {
		s.start(r)
	}
}

// remove stops a stream's puller, if it has one, and waits for it.
func (s *pullSet) remove(stream string) {
	s.mu.Lock()
	r := s.pullers[stream]
	delete(s.pullers, stream)
	s.mu.Unlock()
	if r != nil && r.stop != nil {
		r.stop()
		<-r.done
	}
}

// PullStatus returns the state of a stream's camera puller; false when it has none
// (web.PullStatuses).
func (s *pullSet) PullStatus(stream string) (ingestrtsp.PullStatus, bool) {
	s.mu.Lock()
	r := s.pullers[stream]
	s.mu.Unlock()
	if r == nil {
		return ingestrtsp.PullStatus{}, false
	}
	return r.p.Status(), true
}

// names is a set of names safe for concurrent use: the streams and destinations of the file
// ("stream" and "stream/destination"), which a reload changes while the console reads them.
type names struct {
	mu sync.RWMutex
	m  map[string]bool
}

func (n *names) set(name string, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = map[string]bool{}
	}
	if on {
		n.m[name] = true
	} else {
		delete(n.m, name)
	}
}

func (n *names) has(name string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.m[name]
}
