package transcode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/beffroi/beffroi/relay"
)

// FitTimeout bounds Fit: the wait for the source's media (a stream that just went live has
// its tracks within a second or two) and, when a rendition is needed, for its ffmpeg's first
// frames (under a second when it starts at once; the bound leaves room for a restart).
const FitTimeout = 15 * time.Second

// ErrNoFit is returned (wrapped) by Renditions.Fit when it has no stream for a reader's needs.
// The error names the stream and the needs, and wraps the cause: relay.ErrNotLive (the live
// session ended, or there is none), ErrUnsupported, ErrClosed, the rendition's stopping
// before its first frames, or the context's error (context.DeadlineExceeded once FitTimeout
// is over).
var ErrNoFit = errors.New("no stream fits the reader's needs")

// errRenditionStopped: the rendition stopped before its first frames (its source ended).
var errRenditionStopped = errors.New("the rendition stopped before its first frames")

// Fit returns the stream a reader with these needs reads: src itself (release does nothing)
// when its tracks fit, else the rendition of (src, needs), shared by every reader with those
// needs and started if none runs. It waits for src's media first (its tracks are known
// then), and for the rendition's first frames, so that a reader taken of the stream returned
// starts at once; both waits together take at most FitTimeout. release must be called once
// the reader is done; the rendition stops when its last reader released it.
//
// A reader that must not miss the first frames of src (ingest may write them in one burst
// once it has analysed the tracks) subscribes to src before calling Fit and keeps that reader
// when Fit returns src.
func (m *Renditions) Fit(ctx context.Context, src *relay.Stream, needs Needs) (st *relay.Stream, release func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, FitTimeout)
	defer cancel()
	fail := func(err error) (*relay.Stream, func(), error) {
		return nil, nil, fmt.Errorf("%w: stream %q, %s: %w", ErrNoFit, src.Name(), needs, err)
	}
	if err := src.WaitMedia(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no media: %w", err)
		}
		return fail(err)
	}
	r, release, err := m.acquire(ctx, src, needs)
	if err != nil {
		return fail(err)
	}
	if r == nil {
		return src, release, nil
	}
	if err := r.waitMedia(ctx); err != nil {
		release()
		return fail(fmt.Errorf("rendition %q: %w", r.out.Name(), err))
	}
	return r.out, release, nil
}

// trackWait bounds how long Fit waits, once a rendition has its first frames, for the rest
// of its tracks: ffmpeg writes the audio it converts long before the first picture it
// re-encodes, and a reader that took the stream then (a destination negotiating its tracks)
// would go without video.
const trackWait = 3 * time.Second

// waitMedia waits until the derived stream has media, with every track it is to carry (one of
// each kind the source has and the needs keep), or trackWait after its first frames. The
// derived stream is idle until its ffmpeg's first frames, so relay.Stream.WaitMedia, which
// returns at once on an idle stream, does not fit: the rendition's own end is what says that
// no frame will come.
func (r *rendition) waitMedia(ctx context.Context) error {
	var late <-chan time.Time
	for {
		// The channel first, then the check: media arriving in between still wakes us.
		_, changed := r.out.State()
		if r.out.HasMedia() {
			if r.complete() {
				return nil
			}
			if late == nil {
				t := time.NewTimer(trackWait)
				defer t.Stop()
				late = t.C
			}
		}
		select {
		case <-ctx.Done():
			if r.out.HasMedia() {
				return nil
			}
			return ctx.Err()
		case <-late:
			return nil
		case <-r.ctx.Done():
			return errRenditionStopped
		case <-changed:
		}
	}
}

// complete reports whether the derived stream has a track of each kind that the source has
// and the needs keep.
func (r *rendition) complete() bool {
	for _, k := range []relay.Kind{relay.Video, relay.Audio} {
		if r.needs.keeps(k) && r.src.Track(k) != nil && r.out.Track(k) == nil {
			return false
		}
	}
	return true
}
