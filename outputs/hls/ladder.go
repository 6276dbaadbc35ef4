package hls

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
)

// The adaptive ladder: besides the source, the multivariant playlist offers smaller
// renditions of the video (rungs, "480p"), each made once per stream by a rendition of
// relay/transcode (libx264, keyframes exactly where the source has them) and packaged by a
// muxer of its own. They share the source's audio playlist. Players (hls.js, Safari) switch
// between them by themselves: a rung's segments carry the source's timestamps and sequence
// numbers, so a switch lands on the same picture.
//
// The rungs run while players do: from the first multivariant request (or from the start of
// the live session, with Options.LadderAlways) until no player asked for a media playlist for
// ladderIdle.

// ladderIdle: the rungs stop this long after the last media playlist request.
const ladderIdle = 30 * time.Second

// rungPrefix names a rung's media playlist: "r480p-video1_stream.m3u8".
const rungPrefix = "r"

// keyRecord is one keyframe of the stream HLS reads: its timestamp, and when it was
// published (the program date-time of the segment it starts).
type keyRecord struct {
	pts       time.Duration
	published time.Time
}

// keyIndex keeps the newest keyframes of the source, for the rungs to find theirs.
type keyIndex struct {
	mu   sync.Mutex
	keys []keyRecord // oldest first, at most keepKeys
}

const keepKeys = 64

func (k *keyIndex) add(f *relay.Frame) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.keys) == keepKeys {
		copy(k.keys, k.keys[1:])
		k.keys = k.keys[:keepKeys-1]
	}
	k.keys = append(k.keys, keyRecord{f.PTS, f.Published})
}

// at returns the source keyframe at pts (within a millisecond).
func (k *keyIndex) at(pts time.Duration) (keyRecord, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := len(k.keys) - 1; i >= 0; i-- {
		if d := k.keys[i].pts - pts; d <= time.Millisecond && d >= -time.Millisecond {
			return k.keys[i], true
		}
	}
	return keyRecord{}, false
}

// timeSlip is the largest step of the source's timeline a rung follows without starting its
// match again.
const timeSlip = 300 * time.Millisecond

// near returns the source keyframe closest to pts, within d.
func (k *keyIndex) near(pts, d time.Duration) (keyRecord, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	best, found := keyRecord{}, false
	for _, r := range k.keys {
		if diff := (r.pts - pts).Abs(); diff <= d && (!found || diff < (best.pts-pts).Abs()) {
			best, found = r, true
		}
	}
	return best, found
}

// before returns the newest source keyframe published at or before t.
func (k *keyIndex) before(t time.Time) (keyRecord, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := len(k.keys) - 1; i >= 0; i-- {
		if !k.keys[i].published.After(t) {
			return k.keys[i], true
		}
	}
	return keyRecord{}, false
}

// rung is one smaller rendition of a live stream's HLS.
type rung struct {
	name  string // "480p"
	shape transcode.Shape
	l     *live // its muxer's playlists (video only)
}

// id is the rung's media playlist id in the stream's multivariant playlist.
func (g *rung) id() string { return rungPrefix + g.name + "-video1" }

// timeMap moves a rung's frames onto the source's timeline. ffmpeg's output has its own
// timeline (the rendition's derived stream starts at zero), a constant away from the source's
// while one ffmpeg runs: the rung's keyframes are the source's (force_key_frames source), so
// the offset is found by matching one, and checked on every other.
type timeMap struct {
	keys      *keyIndex
	offset    time.Duration
	set       bool      // offset guessed
	confirmed bool      // ... and confirmed by a second keyframe
	key       keyRecord // the source keyframe of the rung's newest keyframe
}

// apply returns f on the source's timeline, or false while the offset is not known: the
// first keyframe gives a guess (the source's newest keyframe published before it: once
// running, an encoder takes a fraction of a keyframe interval), which the next keyframe must
// confirm; a keyframe that no longer matches (ffmpeg restarted) starts the guess again.
func (m *timeMap) apply(f *relay.Frame) (*relay.Frame, bool) {
	if f.Key {
		if m.set {
			if k, ok := m.keys.at(f.PTS + m.offset); ok {
				m.key, m.confirmed = k, true
			} else if k, ok := m.keys.near(f.PTS+m.offset, timeSlip); ok && m.confirmed {
				// The source's timeline stepped a little (a publisher's timestamps jumping,
				// the relay moving them on): the rung follows without a break.
				m.offset, m.key = k.pts-f.PTS, k
			} else {
				m.set, m.confirmed = false, false
			}
		}
		if !m.set {
			k, ok := m.keys.before(f.Published)
			if !ok {
				return nil, false
			}
			m.offset, m.key, m.set = k.pts-f.PTS, k, true
			return nil, false
		}
	}
	if !m.confirmed {
		return nil, false
	}
	pts := f.PTS + m.offset
	return &relay.Frame{Track: f.Track, DTS: f.DTS + m.offset, PTS: pts, Key: f.Key, Units: f.Units,
		Published: m.key.published.Add(pts - m.key.pts)}, true
}

// ladderState is a live stream's rungs: demanded by players, made while they watch.
type ladderState struct {
	mu       sync.Mutex
	demand   chan struct{} // closed when a player asks for the multivariant playlist
	demanded bool
	lastPlay atomic.Int64 // unix nanoseconds of the last playlist request
	rungs    atomic.Pointer[[]*rung]
	// ready is closed once the rungs starting have their playlists (or gave up): a player
	// asking for the multivariant playlist meanwhile waits for it (see ladderWait), since
	// players read that playlist once. armed: the rungs are about to start, or starting.
	armed bool
	ready chan struct{}
}

// ladderWait bounds the wait of a multivariant request for the rungs starting (ffmpeg's start
// and two of the source's keyframes); ladderGiveUp is when starting rungs stop being waited for.
const (
	ladderWait   = 8 * time.Second
	ladderGiveUp = 10 * time.Second
)

// arm makes multivariant requests wait for the rungs about to start.
func (ls *ladderState) arm() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if !ls.armed {
		ls.armed, ls.ready = true, make(chan struct{})
	}
}

// settle lets multivariant requests go: the rungs are ready, failed or stopped.
func (ls *ladderState) settle() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.armed {
		ls.armed = false
		close(ls.ready)
	}
}

// pending returns the channel closed once the starting rungs are ready, nil when none are.
func (ls *ladderState) pending() <-chan struct{} {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.armed {
		return ls.ready
	}
	return nil
}

func newLadderState() *ladderState { return &ladderState{demand: make(chan struct{})} }

// want marks the ladder demanded (a player asked for the multivariant playlist).
func (ls *ladderState) want() {
	ls.played()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if !ls.demanded {
		ls.demanded = true
		close(ls.demand)
	}
}

// wanted returns the channel closed once the ladder is demanded.
func (ls *ladderState) wanted() <-chan struct{} {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.demand
}

// reset waits for a new demand.
func (ls *ladderState) reset() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.demanded {
		ls.demanded = false
		ls.demand = make(chan struct{})
	}
}

// played records a playlist request.
func (ls *ladderState) played() { ls.lastPlay.Store(time.Now().UnixNano()) }

// rung returns the rung of a media playlist id ("r480p-video1"), and the id within it.
func (ls *ladderState) rung(id string) (*rung, string) {
	if !strings.HasPrefix(id, rungPrefix) {
		return nil, ""
	}
	p := ls.rungs.Load()
	if p == nil {
		return nil, ""
	}
	for _, g := range *p {
		if name, inner, ok := strings.Cut(id[len(rungPrefix):], "-"); ok && name == g.name {
			return g, inner
		}
	}
	return nil, ""
}

// runLadder makes the rungs of a live session of st (read as src by the HLS) while players
// want them, until ctx is done.
func (s *Server) runLadder(ctx context.Context, st, src *relay.Stream, l *live, log *slog.Logger) {
	if s.renditions == nil || s.o.Ladder == nil {
		return
	}
	for ctx.Err() == nil {
		rungs := s.o.Ladder(st.Name())
		video := src.Track(relay.Video)
		if len(rungs) == 0 || video == nil || video.Width <= 0 {
			return
		}
		shapes := transcode.Ladder(video.Width, video.Height, rungs)
		if len(shapes) == 0 {
			return // a source no larger than the smallest rung
		}
		w, h := video.Width, video.Height
		l.ladder.arm()
		if !s.o.LadderAlways {
			select {
			case <-ctx.Done():
				l.ladder.settle()
				return
			case <-l.ladder.wanted():
			}
		}
		started := time.Now()
		rctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		var made []*rung
		for _, sh := range shapes {
			g := &rung{name: rungName(sh), shape: sh, l: newLive(st.Name())}
			g.l.event, g.l.first = l.event, false // no initial gaps: the source's numbers
			g.l.align = l.alignment
			g.l.onReady = func() {
				l.mu.Lock()
				defer l.mu.Unlock()
				l.remux()
			}
			made = append(made, g)
			wg.Go(func() { s.runRung(rctx, src, l, g, log.With("rung", g.name)) })
		}
		l.ladder.rungs.Store(&made)
		log.Info("hls: adaptive ladder started", "rungs", len(made), "source", strconv.Itoa(w)+"x"+strconv.Itoa(h))
		// Until nobody plays for ladderIdle, or the source's picture changes size (a phone
		// rotating: the rungs take its new shape).
		reason := ""
		tick := time.NewTicker(time.Second)
		for reason == "" {
			select {
			case <-ctx.Done():
				reason = "session ended"
			case <-tick.C:
				if time.Since(started) > ladderGiveUp {
					l.ladder.settle() // a rung that is not ready by now is not waited for
				}
				if v := src.Track(relay.Video); v != nil && (v.Width != w || v.Height != h) {
					reason = "the source's picture changed size"
				} else if !s.o.LadderAlways && time.Since(time.Unix(0, l.ladder.lastPlay.Load())) > ladderIdle {
					reason = "no player"
				}
			}
		}
		tick.Stop()
		l.ladder.settle()
		l.ladder.rungs.Store(nil)
		l.mu.Lock()
		l.remux()
		l.mu.Unlock()
		stop()
		wg.Wait()
		log.Info("hls: adaptive ladder stopped", "reason", reason)
		if reason == "no player" {
			l.ladder.reset() // demanded again by the next multivariant request
		}
	}
}

// rungName names a rung by its lines ("480p"), as the configuration does.
func rungName(sh transcode.Shape) string {
	return strconv.Itoa(min(sh.Width, sh.Height)) + "p"
}

// rungNeeds is what a rung reads: its shape in H.264, no audio (players take the source's).
func rungNeeds(sh transcode.Shape) transcode.Needs {
	return transcode.Needs{Video: []relay.Codec{relay.H264}, Shape: sh}
}

// runRung packages one rung until ctx is done.
func (s *Server) runRung(ctx context.Context, src *relay.Stream, l *live, g *rung, log *slog.Logger) {
	defer g.l.end()
	for ctx.Err() == nil {
		st, release, err := s.renditions.Fit(ctx, src, rungNeeds(g.shape))
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, relay.ErrNotLive) {
				log.Warn("hls: rung cannot be made", "error", err.Error())
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
			continue
		}
		r, err := st.Subscribe(relay.ReaderOptions{MaxLag: s.o.MaxLag})
		if err == nil {
			m := &timeMap{keys: &l.keys}
			err = feed(ctx, r, g.l, s.o, log, m.apply)
			r.Close()
		}
		release()
		if ctx.Err() == nil && err != nil && !errors.Is(err, relay.ErrEnded) {
			log.Debug("hls: rung stopped, trying again", "error", err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// alignment returns the source's media sequence number and discontinuity sequence of the
// segment that starts at pdt, for a rung's first segment to take the same.
func (l *live) alignment(pdt time.Time) (msn uint64, cc int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var r *rendition
	for _, id := range l.order {
		if strings.HasPrefix(id, "video") {
			r = l.rends[id]
		}
	}
	if r == nil {
		return 0, 0, false
	}
	near := func(t time.Time) bool { d := t.Sub(pdt); return d < 50*time.Millisecond && d > -50*time.Millisecond }
	cc = r.discSeq
	for _, s := range r.segs {
		if s.disc {
			cc++
		}
		if !s.gap && near(s.pdt) {
			return s.msn, cc, true
		}
	}
	if r.disc {
		cc++
	}
	if near(r.curPDT) || r.curPDT.IsZero() {
		// The segment in progress (its start unknown before the first complete one).
		return r.next, cc, true
	}
	return 0, 0, false
}

// remux rebuilds the multivariant playlist: the source's (gohlslib's) with a variant for each
// rung that has its playlist. Called with l.mu held.
func (l *live) remux() {
	if l.mvSource == nil {
		return
	}
	base, err := playlist.Unmarshal(l.mvSource)
	mv, ok := base.(*playlist.Multivariant)
	if err != nil || !ok || len(mv.Variants) == 0 {
		l.mv = bytes.SplitAfter(l.mvSource, []byte("_stream.m3u8"))
		return
	}
	src := mv.Variants[0]
	audioCodecs := slices.DeleteFunc(slices.Clone(src.Codecs), func(c string) bool {
		return strings.HasPrefix(c, "avc1") || strings.HasPrefix(c, "hvc1") || strings.HasPrefix(c, "hev1") || strings.HasPrefix(c, "av01")
	})
	if p := l.ladder.rungs.Load(); p != nil {
		all := true
		for _, g := range *p {
			v := g.variant()
			if v == nil {
				all = false
				continue
			}
			v.Codecs = append(v.Codecs, audioCodecs...)
			v.Audio = src.Audio
			if src.Audio != "" {
				// The audio playlist's share of the source's bandwidth goes with each rung.
				v.Bandwidth += max(src.Bandwidth/20, 160000)
			}
			mv.Variants = append(mv.Variants, v)
		}
		if all {
			l.ladder.settle()
		}
		// Players start with the first variant listed (hls.js, Safari): the middle one by
		// bandwidth starts quickly on a phone's link, and the player climbs from there.
		byRate := slices.Clone(mv.Variants)
		slices.SortStableFunc(byRate, func(a, b *playlist.MultivariantVariant) int { return b.Bandwidth - a.Bandwidth })
		start := byRate[len(byRate)/2]
		mv.Variants = append([]*playlist.MultivariantVariant{start}, slices.DeleteFunc(mv.Variants, func(v *playlist.MultivariantVariant) bool { return v == start })...)
	}
	b, err := mv.Marshal()
	if err != nil {
		b = l.mvSource
	}
	l.mv = bytes.SplitAfter(b, []byte("_stream.m3u8"))
}

// variant returns the rung's variant stream for the multivariant playlist, nil until it has
// its playlist.
func (g *rung) variant() *playlist.MultivariantVariant {
	mvb := g.l.mvPub.Load()
	if mvb == nil {
		return nil
	}
	pl, err := playlist.Unmarshal(*mvb)
	mv, ok := pl.(*playlist.Multivariant)
	if err != nil || !ok || len(mv.Variants) == 0 {
		return nil
	}
	v := mv.Variants[0]
	v.URI = g.id() + "_stream.m3u8"
	// The bandwidth gohlslib measured over the first segments is low while the encoder
	// ramps up: players choose by the rung's nominal bitrate.
	v.Bandwidth = max(v.Bandwidth, g.shape.Bitrate*11/10)
	avg := g.shape.Bitrate
	v.AverageBandwidth = &avg
	v.Resolution = strconv.Itoa(g.shape.Width) + "x" + strconv.Itoa(g.shape.Height)
	return v
}
