package replays

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/beffroi/beffroi/web/store"
)

// Retention is how long recordings are kept and how much room they may take.
type Retention struct {
	// MaxAge deletes recordings that ended longer ago than this; 0 keeps them.
	MaxAge time.Duration
	// MaxSize deletes the oldest recordings while the recordings take more bytes than this;
	// 0 sets no limit.
	MaxSize int64
	// KeepPublished keeps published recordings whatever their age and size.
	KeepPublished bool
}

// Policy is the global retention and the streams that have their own.
type Policy struct {
	Default Retention
	// Streams override Default for their recordings (age and published). A stream's MaxSize
	// bounds that stream's recordings; the global MaxSize bounds them all.
	Streams map[string]Retention
}

func (p Policy) of(stream string) Retention {
	if r, ok := p.Streams[stream]; ok {
		return r
	}
	return p.Default
}

// Deletion is one recording the sweep deleted and why.
type Deletion struct {
	ID, Stream, Reason string
	Size               int64
}

// Run sweeps at once, then every SweepEvery, until ctx is cancelled; each pass also makes
// the thumbnails finished recordings lack. When it returns, the MP4s and thumbnails being
// made have stopped.
func (s *Service) Run(ctx context.Context) error {
	every := s.SweepEvery
	if every <= 0 {
		every = 10 * time.Minute
	}
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.mu.Lock()
	s.base = base
	s.mu.Unlock()
	defer func() {
		cancel()
		s.running.Wait()
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log().Error("retention: sweep failed", "error", err)
		}
		s.thumbnails(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SetRetention replaces the retention policy (a configuration reload); the next sweep
// follows it.
func (s *Service) SetRetention(p Policy) {
	s.mu.Lock()
	s.Retention = p
	s.mu.Unlock()
}

// Sweep deletes what the retention policy no longer keeps, logging one line per deletion.
// It never deletes a recording in progress, nor a published one when KeepPublished.
func (s *Service) Sweep(ctx context.Context) ([]Deletion, error) {
	all, _, err := s.Store.List(ctx, store.Filter{})
	if err != nil {
		return nil, err
	}
	now := s.now()
	s.mu.Lock()
	policy := s.Retention
	s.mu.Unlock()
	// all is newest first; sizes are weighed oldest first.
	slices.Reverse(all)
	gone := map[string]bool{}
	var out []Deletion
	deletable := func(r store.Recording) bool {
		kept := r.Published && policy.of(r.Stream).KeepPublished
		return !gone[r.ID] && !r.InProgress() && !kept
	}
	del := func(r store.Recording, reason string) {
		if err := s.removeRecording(ctx, r.ID); err != nil {
			s.log().Error("retention: cannot delete a recording", "recording", r.ID, "stream", r.Stream, "error", err)
			return
		}
		gone[r.ID] = true
		s.log().Info("retention: deleted recording", "recording", r.ID, "stream", r.Stream, "reason", reason, "size", r.Size)
		out = append(out, Deletion{ID: r.ID, Stream: r.Stream, Reason: reason, Size: r.Size})
	}

	for _, r := range all {
		pol := policy.of(r.Stream)
		end := r.Ended
		if end.IsZero() {
			end = r.Started
		}
		if pol.MaxAge > 0 && now.Sub(end) > pol.MaxAge && deletable(r) {
			del(r, "older than "+formatAge(pol.MaxAge))
		}
	}
	// Per-stream sizes, then the global one.
	for stream, pol := range policy.Streams {
		if pol.MaxSize > 0 {
			s.trim(all, func(r store.Recording) bool { return r.Stream == stream }, pol.MaxSize,
				fmt.Sprintf("stream %q over %s", stream, formatSize(pol.MaxSize)), deletable, del, gone)
		}
	}
	if m := policy.Default.MaxSize; m > 0 {
		s.trim(all, func(store.Recording) bool { return true }, m, "recordings over "+formatSize(m), deletable, del, gone)
	}
	return out, nil
}

// trim deletes the oldest deletable recordings among those sel selects until they take at
// most limit bytes.
func (s *Service) trim(oldestFirst []store.Recording, sel func(store.Recording) bool, limit int64, reason string,
	deletable func(store.Recording) bool, del func(store.Recording, string), gone map[string]bool) {
	var total int64
	for _, r := range oldestFirst {
		if sel(r) && !gone[r.ID] {
			total += r.Size
		}
	}
	for _, r := range oldestFirst {
		if total <= limit {
			return
		}
		if sel(r) && deletable(r) {
			del(r, reason)
			if gone[r.ID] {
				total -= r.Size
			}
		}
	}
	if total > limit {
		s.log().Warn("retention: recordings still take more than the limit (what is left is published or in progress)",
			"limit", formatSize(limit), "size", formatSize(total), "scope", reason)
	}
}

func (s *Service) removeRecording(ctx context.Context, id string) error {
	_, err := s.remove(ctx, id)
	return err
}

func formatAge(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

func formatSize(n int64) string {
	const gib = 1 << 30
	if n >= gib {
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// thumbnails makes the thumbnails of finished recordings that have none, so that the first
// visitor of /replays does not wait for them.
func (s *Service) thumbnails(ctx context.Context) {
	recs, _, err := s.Store.List(ctx, store.Filter{})
	if err != nil {
		return
	}
	for _, r := range recs {
		if ctx.Err() != nil {
			return
		}
		if r.Thumbnail || r.InProgress() || r.Segments == 0 {
			continue
		}
		if err := s.makeThumbnail(ctx, r); err != nil && ctx.Err() == nil && !errors.Is(err, errNoThumbnail) {
			s.log().Warn("replay thumbnail: cannot make it", "recording", r.ID, "error", err)
		}
	}
}
