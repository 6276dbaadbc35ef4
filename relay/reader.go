package relay

import (
	"context"
	"sync/atomic"
	"time"
)

// ReaderOptions configures a reader.
type ReaderOptions struct {
	// MaxLag is how far behind the newest frame a reader may fall before it skips to the
	// newest keyframe. Zero means only skipping frames the ring no longer holds.
	MaxLag time.Duration
}

// Reader is one consumer's position in a stream's ring. Each reader moves at its own pace; a
// reader that falls behind skips to the newest keyframe, and never slows the publisher or any
// other reader. A Reader is used by one goroutine.
type Reader struct {
	s       *Stream
	session uint64
	cursor  uint64
	maxLag  time.Duration
	skipped atomic.Uint64
	closed  bool
	// waitKey: video frames are skipped until a keyframe (the reader joined or lost its place
	// when the ring held none); countWait says whether those count as skipped.
	waitKey   bool
	countWait bool
}

// Subscribe returns a reader positioned at the newest keyframe, so it starts decoding at once.
func (s *Stream) Subscribe(o ReaderOptions) (*Reader, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.state == Idle {
		return nil, ErrNotLive
	}
	r := &Reader{s: s, session: s.session, maxLag: o.MaxLag, cursor: s.next}
	if s.hasKey && s.lastKey >= s.base && s.next-s.lastKey <= uint64(len(s.ring)) {
		r.cursor = s.lastKey
	} else {
		r.waitKey = true
	}
	s.readers.Add(1)
	return r, nil
}

// Next returns the next frame, waiting for it if needed. It returns ErrEnded when the session
// is over, or ctx's error.
func (r *Reader) Next(ctx context.Context) (*Frame, error) {
	s := r.s
	for {
		s.mu.RLock()
		if s.session != r.session || s.state == Idle {
			s.mu.RUnlock()
			return nil, ErrEnded
		}
		if r.cursor < s.next {
			f := r.take()
			s.mu.RUnlock()
			if f != nil {
				return f, nil
			}
			continue
		}
		ch := s.notify
		s.waiters.Store(true)
		s.mu.RUnlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// take returns the frame at the cursor, skipping to the newest keyframe first when the reader
// fell out of the ring or too far behind. Called with the stream's read lock held.
func (r *Reader) take() *Frame {
	s := r.s
	size := uint64(len(s.ring))
	lost := s.next-r.cursor > size
	var f *Frame
	if !lost {
		f = s.ring[r.cursor&s.mask]
	}
	if lost || r.lagging(f) {
		switch {
		case s.hasKey && s.lastKey > r.cursor && s.next-s.lastKey <= size:
			r.skipped.Add(s.lastKey - r.cursor)
			r.cursor = s.lastKey
		case lost:
			// No keyframe to go to: wait for the next one to arrive.
			r.skipped.Add(s.next - r.cursor)
			r.cursor = s.next
			r.waitKey, r.countWait = true, true
			return nil
		}
		f = s.ring[r.cursor&s.mask]
	}
	r.cursor++
	if r.waitKey && f.Track.Kind() == Video {
		if !f.Key {
			if r.countWait {
				r.skipped.Add(1)
			}
			return nil
		}
		r.waitKey, r.countWait = false, false
	}
	return f
}

// TryNext returns the next frame if one is already there, without waiting. Writers use it to
// gather the frames that are ready into one vectored write.
func (r *Reader) TryNext() (*Frame, bool) {
	s := r.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	for r.cursor < s.next && s.session == r.session && s.state != Idle {
		if f := r.take(); f != nil {
			return f, true
		}
	}
	return nil, false
}

// lagging reports whether the reader is more than MaxLag behind: in media time (the frame is
// that far behind the newest one) and in wall-clock time (it waited that long in the ring).
// Both, so that media an ingest held back and wrote at once (a burst of seconds of media at
// go-live) is not skipped by readers that keep up with it.
func (r *Reader) lagging(f *Frame) bool {
	s := r.s
	return r.maxLag > 0 && s.newest-f.DTS > r.maxLag && s.clock().Sub(f.Published) > r.maxLag
}

// Skipped returns how many frames the reader skipped because it fell behind.
func (r *Reader) Skipped() uint64 { return r.skipped.Load() }

// Stream returns the stream read.
func (r *Reader) Stream() *Stream { return r.s }

// Close releases the reader.
func (r *Reader) Close() {
	if !r.closed {
		r.closed = true
		r.s.readers.Add(-1)
	}
}
