package hls

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/relay/transcode"
)

// Needs returns the codecs HLS (fMP4, as gohlslib writes it and browsers play it) takes:
// other sources (a VP8 phone, say) get a rendition from the codec fitting, when one can be
// made.
func Needs() transcode.Needs {
	return transcode.Needs{
		Video: []relay.Codec{relay.H264, relay.H265, relay.AV1},
		Audio: []relay.Codec{relay.AAC, relay.Opus},
	}
}

// Sessions is what the HLS output needs of the audience counter (relay/audience.Counter):
// session tokens handed to players in the multivariant playlist, and a count of the media
// playlist requests carrying one. event names the stream's live session (audience.EventOf):
// a token holds for one live session only.
type Sessions interface {
	// Mint returns a token for a new player coming from client (clientip.Key of its
	// address); the counter limits how many one address gets (beyond, its players share one).
	Mint(stream string, event uint64, client string) string
	// ValidToken reports whether a player's token (a page reload) still holds.
	ValidToken(stream string, event uint64, token string) bool
	// Playlist counts a media playlist request carrying token, unless the token does not
	// hold; the token counts from its second request (a player that plays reloads it).
	Playlist(stream string, event uint64, token string) bool
}

// Options configures the HLS output.
type Options struct {
	// PartDuration is the shortest part (default 200ms); gohlslib lengthens it to fit the
	// frame durations.
	PartDuration time.Duration
	// SegmentDuration is the shortest segment (default 1s); a segment ends on a keyframe.
	SegmentDuration time.Duration
	// Operator reports whether a request carries an operator's session or token: a
	// multivariant playlist asked with audience.PreviewHeader by an operator (the console's
	// preview) gets no session token, so its player is never counted. Nil: every player is.
	Operator func(*http.Request) bool
	// AllowOrigins lists the origins allowed to play from a page on another site (CORS);
	// "*" (the default) allows any.
	AllowOrigins []string
	// MaxLag: the muxer's reader skips to the newest keyframe beyond this (default 5s).
	MaxLag time.Duration
	// Ladder returns the rungs of a stream's adaptive ladder (transcode.ParseLadder), offered
	// beside the source when smaller than it; nil or none: the source alone. The rungs are
	// made while players ask for the stream's playlists, or for the whole live session with
	// LadderAlways.
	Ladder       func(stream string) []transcode.Rung
	LadderAlways bool
}

// The durations of Options left zero; the configuration's hls.* defaults are these.
const (
	DefaultPartDuration    = 200 * time.Millisecond
	DefaultSegmentDuration = time.Second
	DefaultMaxLag          = 5 * time.Second
)

func (o *Options) defaults() {
	if o.PartDuration <= 0 {
		o.PartDuration = DefaultPartDuration
	}
	if o.SegmentDuration <= 0 {
		o.SegmentDuration = DefaultSegmentDuration
	}
	if len(o.AllowOrigins) == 0 {
		o.AllowOrigins = []string{"*"}
	}
	if o.MaxLag <= 0 {
		o.MaxLag = DefaultMaxLag
	}
}

// Server makes and serves the HLS of every live stream of a registry. Each stream's muxer
// runs from the moment the stream goes live to its end (across the reconnect grace), whether
// anyone watches or not, so the first viewer waits for nothing.
type Server struct {
	reg        *relay.Registry
	renditions outputs.Renditions
	sessions   Sessions
	o          Options
	log        *slog.Logger

	mu    sync.RWMutex
	lives map[string]*live
	// livesChanged is closed (and replaced) when a stream's HLS starts.
	livesChanged chan struct{}
}

// New returns an HLS server for the streams of reg. renditions (may be nil) makes the
// streams whose codecs HLS cannot carry; sessions (may be nil) counts the players.
func New(reg *relay.Registry, renditions outputs.Renditions, sessions Sessions, o Options, log *slog.Logger) *Server {
	o.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{reg: reg, renditions: renditions, sessions: sessions, o: o, log: log, lives: map[string]*live{},
		livesChanged: make(chan struct{})}
}

// Run follows the registry's streams until ctx is cancelled, and returns once every muxer is
// closed.
func (s *Server) Run(ctx context.Context) error {
	s.reg.Follow(ctx, s.follow)
	return nil
}

// follow runs a stream's HLS for each of its live sessions.
func (s *Server) follow(ctx context.Context, st *relay.Stream) {
	log := s.log.With("stream", st.Name(), "output", "hls")
	for {
		state, changed := st.State()
		if state == relay.Idle {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
			continue
		}
		err := s.session(ctx, st, log)
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, relay.ErrEnded) && !errors.Is(err, relay.ErrNotLive) {
			log.Warn("hls stopped, trying again", "error", err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// session runs the HLS of one live session: one reader of the stream (or of its rendition),
// one muxer at a time.
func (s *Server) session(ctx context.Context, st *relay.Stream, log *slog.Logger) error {
	ropts := relay.ReaderOptions{MaxLag: s.o.MaxLag}
	r, err := st.Subscribe(ropts)
	if err != nil {
		return err
	}
	release := func() {}
	defer func() { r.Close(); release() }()
	// Players arriving now wait for the first playlists rather than get a 404.
	l := newLive(st.Name())
	if in := st.Info(); in.State != relay.Idle {
		l.event = audience.EventOf(in.Session, in.LiveSince)
	}
	s.mu.Lock()
	s.lives[st.Name()] = l
	close(s.livesChanged)
	s.livesChanged = make(chan struct{})
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.lives[st.Name()] == l {
			delete(s.lives, st.Name())
		}
		s.mu.Unlock()
		l.end()
	}()
	// Wait for the tracks, then choose the source or a rendition.
	src, rel, err := s.fit(ctx, st, log)
	if err != nil || src == nil {
		return err
	}
	release = rel
	if src != st {
		r.Close()
		if r, err = src.Subscribe(ropts); err != nil {
			return err
		}
	}
	log.Debug("hls: started")
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.runLadder(lctx, st, src, l, log) })
	defer wg.Wait()
	defer stop()
	return feed(ctx, r, l, s.o, log, nil)
}

// fit waits for the stream's tracks and returns the stream HLS reads: st, or its rendition.
// It returns no stream and no error when none fits and none can be made, once the session
// ends or its tracks change. HLS waits for a live stream's media as long as the session lasts.
func (s *Server) fit(ctx context.Context, st *relay.Stream, log *slog.Logger) (*relay.Stream, func(), error) {
	for {
		if s.renditions == nil {
			if err := st.WaitMedia(ctx); err != nil {
				if errors.Is(err, relay.ErrNotLive) {
					return nil, nil, relay.ErrEnded
				}
				return nil, nil, err
			}
			return st, func() {}, nil
		}
		src, release, err := s.renditions.Fit(ctx, st, Needs())
		state, changed := st.State()
		switch {
		case err == nil:
			return src, release, nil
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		case errors.Is(err, relay.ErrNotLive), state == relay.Idle:
			return nil, nil, relay.ErrEnded
		case !st.HasMedia():
			continue // no media yet: wait on
		case errors.Is(err, context.DeadlineExceeded):
			return nil, nil, err // the rendition did not start in time: follow tries again
		}
		log.Warn("hls: the stream's codecs do not fit HLS and no rendition can be made", "error", err.Error())
		// Wait for the session to end or the tracks to change.
		select {
		case <-ctx.Done():
		case <-changed:
		}
		return nil, nil, nil
	}
}

// liveOf returns the stream's live HLS, or nil.
func (s *Server) liveOf(stream string) *live {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lives[stream]
}

// waitLive returns the stream's live HLS. A stream that just went live may not have it yet
// (its HLS starts a moment later): a player arriving then waits for it rather than get a 404.
func (s *Server) waitLive(ctx context.Context, stream string) *live {
	var t *time.Timer
	for {
		s.mu.RLock()
		l, changed := s.lives[stream], s.livesChanged
		s.mu.RUnlock()
		if l != nil || s.reg == nil {
			return l
		}
		st := s.reg.Get(stream)
		if st == nil {
			return nil
		}
		if state, _ := st.State(); state == relay.Idle {
			return nil
		}
		if t == nil {
			t = time.NewTimer(10 * time.Second)
			defer t.Stop()
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		case <-t.C:
			return nil
		}
	}
}
