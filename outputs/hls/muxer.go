package hls

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/beffroi/beffroi/relay"
)

// epoch is one gohlslib muxer: the tracks it was made for, and one watcher per media playlist
// that turns what the muxer makes into our renditions' snapshots.
type epoch struct {
	mux    *gohlslib.Muxer
	video  *relay.Track
	audio  *relay.Track
	vt, at *gohlslib.Track
	wg     sync.WaitGroup
}

// capture is a minimal ResponseWriter for the in-process requests made to gohlslib.
type capture struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (c *capture) Header() http.Header {
	if c.h == nil {
		c.h = http.Header{}
	}
	return c.h
}
func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(p)
}
func (c *capture) WriteHeader(s int) { c.status = s }

// get asks the muxer for one of its files, as a player would; playlist requests with
// _HLS_msn block until the muxer has the part.
func (e *epoch) get(name, query string) ([]byte, int) {
	req, err := http.NewRequest(http.MethodGet, "/"+name, nil)
	if err != nil {
		return nil, http.StatusBadRequest
	}
	req.URL.RawQuery = query
	var c capture
	e.mux.Handle(&c, req)
	if c.status == 0 {
		c.status = http.StatusNotFound
	}
	return c.body.Bytes(), c.status
}

// gohlsTrack converts a relay track into gohlslib's.
func gohlsTrack(t *relay.Track) (*gohlslib.Track, error) {
	switch t.Codec {
	case relay.H264:
		return &gohlslib.Track{Codec: &codecs.H264{SPS: t.SPS, PPS: t.PPS}, ClockRate: 90000}, nil
	case relay.H265:
		return &gohlslib.Track{Codec: &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}, ClockRate: 90000}, nil
	case relay.AV1:
		if len(t.AV1Config) == 0 {
			return nil, errors.New("AV1 track without its sequence header")
		}
		return &gohlslib.Track{Codec: &codecs.AV1{SequenceHeader: t.AV1Config}, ClockRate: 90000}, nil
	case relay.AAC:
		var c mpeg4audio.AudioSpecificConfig
		if err := c.Unmarshal(t.AACConfig); err != nil {
			return nil, fmt.Errorf("AAC config: %w", err)
		}
		return &gohlslib.Track{Codec: &codecs.MPEG4Audio{Config: c}, ClockRate: c.SampleRate}, nil
	case relay.Opus:
		return &gohlslib.Track{Codec: &codecs.Opus{ChannelCount: max(t.Channels, 1)}, ClockRate: 48000}, nil
	}
	return nil, fmt.Errorf("codec %s cannot go in HLS", t.Codec)
}

func newEpoch(video, audio *relay.Track, o Options, log *slog.Logger) (*epoch, error) {
	e := &epoch{video: video, audio: audio}
	var tracks []*gohlslib.Track
	var err error
	if video != nil {
		if e.vt, err = gohlsTrack(video); err != nil {
			return nil, err
		}
		tracks = append(tracks, e.vt)
	}
	if audio != nil {
		if e.at, err = gohlsTrack(audio); err != nil {
			return nil, err
		}
		tracks = append(tracks, e.at)
	}
	if len(tracks) == 0 {
		return nil, errors.New("no track")
	}
	e.mux = &gohlslib.Muxer{
		Tracks:             tracks,
		Variant:            gohlslib.MuxerVariantLowLatency,
		SegmentCount:       keepSegments,
		SegmentMinDuration: o.SegmentDuration,
		PartMinDuration:    o.PartDuration,
		OnEncodeError: func(err error) {
			log.Debug("hls: muxer", "error", err.Error())
		},
	}
	if err := e.mux.Start(); err != nil {
		return nil, fmt.Errorf("hls muxer: %w", err)
	}
	return e, nil
}

// ids returns the media playlist ids gohlslib gives the tracks.
func (e *epoch) ids() []string {
	var l []string
	i := 1
	if e.vt != nil {
		l = append(l, "video"+strconv.Itoa(i))
		i++
	}
	if e.at != nil {
		l = append(l, "audio"+strconv.Itoa(i))
	}
	return l
}

// write gives a frame to the muxer.
func (e *epoch) write(f *relay.Frame) error {
	ntp := f.Published
	switch f.Track.Codec {
	case relay.H264:
		return e.mux.WriteH264(e.vt, ntp, relay.DurationToTicks(f.PTS, 90000), withParams(f, f.Track.SPS, f.Track.PPS))
	case relay.H265:
		return e.mux.WriteH265(e.vt, ntp, relay.DurationToTicks(f.PTS, 90000), withParams(f, f.Track.VPS, f.Track.SPS, f.Track.PPS))
	case relay.AV1:
		return e.mux.WriteAV1(e.vt, ntp, relay.DurationToTicks(f.PTS, 90000), f.Units)
	case relay.AAC:
		return e.mux.WriteMPEG4Audio(e.at, ntp, relay.DurationToTicks(f.PTS, int64(e.at.ClockRate)), f.Units)
	case relay.Opus:
		return e.mux.WriteOpus(e.at, ntp, relay.DurationToTicks(f.PTS, 48000), f.Units)
	}
	return nil
}

// withParams returns a keyframe's units with the track's parameter sets in front, when the
// frame does not carry them (RTMP sends them apart): gohlslib reads them in band.
func withParams(f *relay.Frame, params ...[]byte) [][]byte {
	if !f.Key {
		return f.Units
	}
	for _, p := range params {
		if len(p) == 0 {
			return f.Units
		}
		found := false
		for _, u := range f.Units {
			if bytes.Equal(u, p) {
				found = true
				break
			}
		}
		if !found {
			au := make([][]byte, 0, len(params)+len(f.Units))
			au = append(au, params...)
			return append(au, f.Units...)
		}
	}
	return f.Units
}

// fits reports whether frame f can go into this muxer as it is.
func (e *epoch) fits(f *relay.Frame) bool {
	cur := e.video
	if f.Track.Kind() == relay.Audio {
		cur = e.audio
	}
	return cur != nil && (cur == f.Track || cur.SameParams(f.Track))
}

// watch follows one media playlist of the muxer with blocking requests, so it wakes once per
// part, and applies each new state to the rendition. It returns when the muxer is closed.
func (e *epoch) watch(l *live, r *rendition, first bool) {
	name := r.id + "_stream.m3u8"
	query := ""
	for {
		body, status := e.get(name, query)
		if status != http.StatusOK {
			if status == http.StatusBadRequest && query != "" {
				query = "" // fell out of the muxer's window: start again from its newest state
				continue
			}
			return // the muxer is closed
		}
		pl, err := playlist.Unmarshal(body)
		if err != nil {
			return
		}
		mp, ok := pl.(*playlist.Media)
		if !ok {
			return
		}
		l.mu.Lock()
		if l.epoch != e {
			l.mu.Unlock()
			return
		}
		if r.apply(mp, func(n string) ([]byte, bool) {
			b, st := e.get(n, "")
			return bytes.Clone(b), st == http.StatusOK
		}, !first) {
			r.publish()
			l.signalReady()
		}
		l.mu.Unlock()
		query = "_HLS_msn=" + strconv.Itoa(mp.MediaSequence+len(mp.Segments)) +
			"&_HLS_part=" + strconv.Itoa(len(mp.Parts))
	}
}

// live is a stream's HLS while it is live: its renditions, across muxers.
type live struct {
	stream string
	event  uint64 // the live session (audience.EventOf): session tokens hold for it only
	mu     sync.Mutex
	epoch  *epoch
	rends  map[string]*rendition
	view   atomic.Pointer[map[string]*rendition] // rends, for requests (no lock)
	order  []string
	ready  chan struct{} // closed once every rendition has a playlist
	isRdy  bool
	mv     [][]byte // the multivariant playlist split around the session tokens
	first  bool
	ended  bool

	// mvSource is gohlslib's multivariant playlist, mvPub the same once the stream is ready
	// to play (a rung's, read by the source's live without its lock).
	mvSource []byte
	mvPub    atomic.Pointer[[]byte]

	// The adaptive ladder (ladder.go): the source's keyframes, for the rungs to line up on,
	// and the rungs. For a rung's own live: align numbers its first segment as the source's
	// segment at the same time; onReady tells the source's live its playlist is ready.
	keys    keyIndex
	ladder  *ladderState
	align   func(pdt time.Time) (msn uint64, cc int, ok bool)
	onReady func()
}

func newLive(stream string) *live {
	return &live{stream: stream, rends: map[string]*rendition{}, ready: make(chan struct{}), first: true,
		ladder: newLadderState()}
}

// signalReady marks the stream ready to play once every rendition has a snapshot. Called
// with l.mu held.
func (l *live) signalReady() {
	if l.isRdy || l.mv == nil {
		return
	}
	for _, id := range l.order {
		if l.rends[id].snap.Load() == nil {
			return
		}
	}
	l.isRdy = true
	close(l.ready)
	mv := l.mvSource
	l.mvPub.Store(&mv)
	if l.onReady != nil {
		l.onReady()
	}
}

// start makes e the stream's muxer: the renditions continue their sequence with a
// discontinuity, and a watcher per media playlist follows it.
//
// at is when the muxer's first frame was published (a rung's first segment is numbered as the
// source's segment that starts then).
func (l *live) start(e *epoch, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := e.ids()
	var nextMSN uint64
	var dur time.Duration
	for _, id := range ids {
		r := l.rends[id]
		if r == nil {
			r = newRendition(id)
			r.align = l.align
			l.rends[id] = r
		}
		r.newEpoch()
		r.startPDT = at
		nextMSN = max(nextMSN, r.next)
		if n := len(r.segs); n > 0 {
			dur = r.segs[n-1].dur
		}
	}
	for _, id := range ids {
		l.rends[id].padTo(nextMSN, dur)
	}
	l.order = ids
	l.epoch = e
	view := make(map[string]*rendition, len(l.rends))
	for id, r := range l.rends {
		view[id] = r
	}
	l.view.Store(&view)
	first := l.first
	l.first = false
	for _, id := range ids {
		r := l.rends[id]
		e.wg.Go(func() { e.watch(l, r, first) })
	}
	e.wg.Go(func() {
		// The multivariant playlist: gohlslib answers once it has content.
		body, status := e.get("index.m3u8", "")
		if status != http.StatusOK {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.epoch == e {
			l.mvSource = bytes.Clone(body)
			l.remux()
			l.signalReady()
		}
	})
}

// stop closes e's muxer and waits for its watchers.
func (l *live) stop(e *epoch) {
	e.mux.Close()
	e.wg.Wait()
}

// end closes the session: requests waiting get an answer, new ones a 404.
func (l *live) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = true
	for _, r := range l.rends {
		r.end()
	}
	if !l.isRdy {
		l.isRdy = true
		close(l.ready)
	}
}

// feed reads the stream and writes it to muxers until the session ends or ctx is done. A new
// muxer is started when the tracks change (a phone rotating: new parameters; a track that
// appears) or after a gap in the timeline (a publisher back after the reconnect grace's gap),
// because gohlslib takes its tracks once and would stretch one part over the gap.
//
// mapf, when not nil, moves each frame (a rung's onto the source's timeline, see timeMap) or
// holds it back. Every video keyframe is kept in l.keys.
func feed(ctx context.Context, r *relay.Reader, l *live, o Options, log *slog.Logger, mapf func(*relay.Frame) (*relay.Frame, bool)) error {
	var e *epoch
	defer func() {
		if e != nil {
			l.stop(e)
		}
	}()
	st := r.Stream()
	var lastDTS time.Duration
	var hasLast bool
	gap := max(2*o.SegmentDuration, 2*time.Second)
	for {
		f, err := r.Next(ctx)
		if err != nil {
			return err
		}
		if mapf != nil {
			var ok bool
			if f, ok = mapf(f); !ok {
				continue
			}
		}
		if f.Key && f.Track.Kind() == relay.Video {
			l.keys.add(f)
		}
		restart := e == nil || !e.fits(f) || (hasLast && f.DTS-lastDTS > gap)
		lastDTS, hasLast = f.DTS, true
		if restart {
			if f.Track.Kind() == relay.Video && !f.Key {
				continue // a new muxer starts on a keyframe
			}
			video, audio := st.Track(relay.Video), st.Track(relay.Audio)
			if f.Track.Kind() == relay.Video {
				video = f.Track
			} else {
				audio = f.Track
				if video != nil && e == nil {
					continue // wait for the video keyframe to start
				}
			}
			if e != nil {
				l.stop(e)
				log.Info("hls: new muxer", "reason", "tracks or timeline changed")
			}
			ne, err := newEpoch(video, audio, o, log)
			if err != nil {
				e = nil
				log.Warn("hls: cannot make the stream's HLS", "error", err.Error())
				continue
			}
			e = ne
			l.start(e, f.Published)
		}
		if err := e.write(f); err != nil {
			log.Debug("hls: frame refused by the muxer", "error", err.Error())
		}
	}
}
