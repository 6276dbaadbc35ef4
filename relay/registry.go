package relay

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Registry holds the streams by name.
type Registry struct {
	grace    time.Duration
	ringSize int
	log      *slog.Logger

	mu      sync.RWMutex
	streams map[string]*Stream
	changed chan struct{}
}

// DefaultGrace is the reconnect grace Beffroi runs with when none is configured (the
// configuration's reconnect_grace default). A zero Grace is no grace, not this default: the
// publisher leaving ends the session at once.
const DefaultGrace = 30 * time.Second

// RegistryOptions configures a Registry.
type RegistryOptions struct {
	// Grace is the reconnect grace of every stream; zero is none.
	Grace time.Duration
	// RingSize is passed to every stream (zero: DefaultRingSize).
	RingSize int
	// Logger receives the streams' events; nil discards them.
	Logger *slog.Logger
}

// NewRegistry returns an empty registry.
func NewRegistry(o RegistryOptions) *Registry {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{
		grace: o.Grace, ringSize: o.RingSize, log: log,
		streams: map[string]*Stream{},
		changed: make(chan struct{}),
	}
}

// Add creates a stream. Names are unique, and so are publish keys.
func (r *Registry) Add(name, publishKey string) (*Stream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.streams[name]; ok {
		return nil, fmt.Errorf("stream %q already exists", name)
	}
	for _, s := range r.streams {
		if s.ownsKey(publishKey) {
			return nil, fmt.Errorf("stream %q: publish key already used by another stream", name)
		}
	}
	s := NewStream(StreamOptions{
		Name: name, PublishKey: publishKey, Grace: r.grace, RingSize: r.ringSize, Logger: r.log,
	})
	r.streams[name] = s
	close(r.changed)
	r.changed = make(chan struct{})
	return s, nil
}

// Remove stops and removes a stream.
func (r *Registry) Remove(name string) bool {
	r.mu.Lock()
	s, ok := r.streams[name]
	if ok {
		delete(r.streams, name)
		close(r.changed)
		r.changed = make(chan struct{})
	}
	r.mu.Unlock()
	if ok {
		s.Stop()
	}
	return ok
}

// SetKey replaces a stream's publish key (a key that leaked). The publisher already
// connected goes on; the next connection needs the new key.
func (r *Registry) SetKey(name, publishKey string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.streams[name]
	if !ok {
		return fmt.Errorf("stream %q not found", name)
	}
	if publishKey == "" {
		return fmt.Errorf("stream %q: empty publish key", name)
	}
	for _, o := range r.streams {
		if o != s && o.ownsKey(publishKey) {
			return fmt.Errorf("stream %q: publish key already used by another stream", name)
		}
	}
	s.mu.RLock()
	backup := s.keySource(publishKey)
	s.mu.RUnlock()
	if backup != nil {
		return fmt.Errorf("stream %q: publish key already used by its source %q", name, backup.name)
	}
	k := []byte(publishKey)
	s.key.Store(&k)
	return nil
}

// Get returns a stream by name, or nil.
func (r *Registry) Get(name string) *Stream {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.streams[name]
}

// Authenticate returns the stream whose publish key is key, or nil. Every stream's key is
// compared in constant time, so the time taken tells nothing about the keys.
func (r *Registry) Authenticate(key string) *Stream {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var found *Stream
	for _, s := range r.streams {
		if s.CheckKey(key) {
			found = s
		}
	}
	return found
}

// AuthenticateSource returns the stream and the source (see Stream.PublishSource; "" is the
// primary) whose publish key is key, or a nil stream. Like Authenticate, it compares every
// key of every stream.
func (r *Registry) AuthenticateSource(key string) (*Stream, string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var found *Stream
	var source string
	for _, s := range r.streams {
		if name, ok := s.authenticate(key); ok {
			found, source = s, name
		}
	}
	return found, source
}

// SetSources sets a stream's sources (its primary's name, its backups by priority and the
// failover delays). Every backup's publish key must be unique across the registry.
func (r *Registry) SetSources(name string, o SourcesOptions) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.streams[name]
	if !ok {
		return fmt.Errorf("stream %q not found", name)
	}
	keys := map[string]string{}
	for _, b := range o.Backups {
		if b.PublishKey == "" {
			continue
		}
		if s.CheckKey(b.PublishKey) {
			return fmt.Errorf("stream %q: source %q: publish key is the stream's own key", name, b.Name)
		}
		if other, dup := keys[b.PublishKey]; dup {
			return fmt.Errorf("stream %q: sources %q and %q have the same publish key", name, other, b.Name)
		}
		keys[b.PublishKey] = b.Name
		for _, o := range r.streams {
			if o != s && o.ownsKey(b.PublishKey) {
				return fmt.Errorf("stream %q: source %q: publish key already used by another stream", name, b.Name)
			}
		}
	}
	return s.setSources(o)
}

// List returns the streams sorted by name.
func (r *Registry) List() []*Stream {
	r.mu.RLock()
	l := make([]*Stream, 0, len(r.streams))
	for _, s := range r.streams {
		l = append(l, s)
	}
	r.mu.RUnlock()
	slices.SortFunc(l, func(a, b *Stream) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	return l
}

// Changed returns a channel closed when a stream is added or removed.
func (r *Registry) Changed() <-chan struct{} {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.changed
}

// StopAll ends every stream's live session (shutdown).
func (r *Registry) StopAll() {
	for _, s := range r.List() {
		s.Stop()
	}
}

// Follow calls fn, each call in its own goroutine, for every stream of the registry: those
// present now and those added later. The ctx given to fn is cancelled when its stream is
// removed or ctx ends. Follow returns once ctx ended and every fn returned.
func (r *Registry) Follow(ctx context.Context, fn func(ctx context.Context, s *Stream)) {
	var wg sync.WaitGroup
	running := map[*Stream]context.CancelFunc{}
	defer func() {
		for _, cancel := range running {
			cancel()
		}
		wg.Wait()
	}()
	for {
		// The channel first, then the list: a stream added in between still wakes us.
		changed := r.Changed()
		present := map[*Stream]bool{}
		for _, s := range r.List() {
			present[s] = true
			if running[s] == nil {
				sctx, cancel := context.WithCancel(ctx)
				running[s] = cancel
				wg.Go(func() { fn(sctx, s) })
			}
		}
		for s, cancel := range running {
			if !present[s] {
				cancel()
				delete(running, s)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}
