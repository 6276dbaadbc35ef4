package hls

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// keepSegments is how many complete segments a playlist lists (gohlslib's LL-HLS minimum).
const keepSegments = 7

// keepPartSegments is how many of the newest segments keep their parts served: parts are
// listed for the last three and stay fetchable a little longer for slow players.
const keepPartSegments = 4

// rendition is one media playlist of a stream (gohlslib makes one per track: "video1",
// "audio2") across every muxer of the live session, with its own media sequence numbers: a
// muxer restart continues them, with a discontinuity, so players keep playing.
type rendition struct {
	id    string
	ctype string

	segs    []*segment
	cur     []*part   // parts of the segment in progress
	curPDT  time.Time // start of the segment in progress
	next    uint64    // msn of the segment in progress
	discSeq int
	target  int
	partTgt time.Duration
	preload string
	inits   map[string][]byte // init segments by name, of the muxers still listed

	// The muxer in use: its media sequence number mapped to ours.
	epoch    int
	off      int64 // our msn = gohlslib's msn + off
	epochSet bool
	initURI  string
	disc     bool // the next segment added starts a new muxer

	// align, for a rung of the ladder, gives its first segment the number and discontinuity
	// sequence of the source's segment at the same time (see live.alignment).
	align    func(pdt time.Time) (msn uint64, cc int, ok bool)
	startPDT time.Time // when the current muxer's first frame was published

	snap atomic.Pointer[snapshot]
}

func newRendition(id string) *rendition {
	ctype := "video/mp4"
	if strings.HasPrefix(id, "audio") {
		ctype = "audio/mp4"
	}
	r := &rendition{id: id, ctype: ctype, inits: map[string][]byte{}}
	return r
}

// fetcher gets a file the current muxer made (a part, a segment, an init segment).
type fetcher func(name string) ([]byte, bool)

// newEpoch prepares for a new muxer: the parts of the segment in progress become a complete
// segment (what players already fetched stays valid) and the next segment added starts with
// a discontinuity.
func (r *rendition) newEpoch() {
	r.closeCurrent()
	r.epoch++
	r.epochSet = false
	r.disc = r.next > 0
	r.preload = ""
}

// closeCurrent turns the parts of the segment in progress into a complete segment.
func (r *rendition) closeCurrent() {
	if len(r.cur) == 0 {
		return
	}
	s := &segment{msn: r.next, initURI: r.initURI, pdt: r.curPDT, parts: r.cur,
		name: strings.TrimSuffix(r.cur[0].name, ".mp4") + "_s.mp4"}
	for _, p := range r.cur {
		s.dur += p.dur
	}
	r.add(s)
	r.cur = nil
}

// padTo adds gap segments until the segment in progress is msn: renditions of one muxer
// keep aligned sequence numbers.
func (r *rendition) padTo(msn uint64, dur time.Duration) {
	for r.next < msn {
		r.add(&segment{msn: r.next, gap: true, dur: max(dur, time.Second)})
	}
}

func (r *rendition) add(s *segment) {
	if r.disc && !s.gap {
		s.disc, r.disc = true, false
	}
	r.segs = append(r.segs, s)
	r.next = s.msn + 1
	for len(r.segs) > keepSegments {
		if r.segs[0].disc {
			r.discSeq++
		}
		r.segs[0] = nil
		r.segs = r.segs[1:]
	}
}

// apply takes what gohlslib's playlist shows: new complete segments and parts, whose bytes it
// fetches once. It reports whether anything changed.
func (r *rendition) apply(pl *playlist.Media, fetch fetcher, skipGaps bool) bool {
	if pl.Map != nil && pl.Map.URI != r.initURI {
		if data, ok := fetch(pl.Map.URI); ok {
			r.initURI = pl.Map.URI
			r.inits[pl.Map.URI] = data
		}
	}
	if r.initURI == "" {
		return false
	}
	if !r.epochSet && r.align != nil && r.next == 0 && len(r.segs) == 0 {
		// A rung's first muxer: numbered from the source's segment that starts with the same
		// keyframe (its first listed segment, or the one in progress after gohlslib's
		// initial gaps).
		msn, cc, ok := r.align(r.startPDT)
		if !ok {
			return false
		}
		idx := len(pl.Segments)
		for i, s := range pl.Segments {
			if !s.Gap {
				idx = i
				break
			}
		}
		r.next, r.discSeq = msn, cc
		r.off = int64(msn) - int64(pl.MediaSequence+idx)
		r.epochSet = true
	}
	if !r.epochSet {
		// The first segment this muxer lists (after its initial gaps, unless this is the
		// session's first muxer, where iOS wants them) gets our next number.
		first := int64(pl.MediaSequence)
		for i, s := range pl.Segments {
			if !s.Gap || !skipGaps {
				first = int64(pl.MediaSequence + i)
				break
			}
		}
		r.off = int64(r.next) - first
		r.epochSet = true
	}
	changed := false
	known := map[string]*part{}
	for _, p := range r.cur {
		known[p.name] = p
	}
	for i, s := range pl.Segments {
		msn := int64(pl.MediaSequence+i) + r.off
		if msn < int64(r.next) {
			continue
		}
		if s.Gap {
			if !skipGaps {
				r.add(&segment{msn: uint64(msn), gap: true, dur: s.Duration})
				changed = true
			}
			continue
		}
		seg := &segment{msn: uint64(msn), dur: s.Duration, initURI: r.initURI, name: s.URI}
		if s.DateTime != nil {
			seg.pdt = *s.DateTime
		} else {
			seg.pdt = r.curPDT
		}
		complete := len(s.Parts) > 0
		for _, sp := range s.Parts {
			p := known[sp.URI]
			if p == nil {
				data, ok := fetch(sp.URI)
				if !ok {
					complete = false
					break
				}
				p = &part{name: sp.URI, dur: sp.Duration, indep: sp.Independent, data: data}
			}
			seg.parts = append(seg.parts, p)
		}
		if !complete {
			seg.parts = nil
			data, ok := fetch(s.URI)
			if !ok {
				continue
			}
			seg.data = data
		}
		r.add(seg)
		r.cur = nil
		r.curPDT = seg.pdt.Add(seg.dur)
		changed = true
	}
	// The segment in progress.
	if len(pl.Parts) < len(r.cur) {
		r.cur = nil
	}
	for _, sp := range pl.Parts[len(r.cur):] {
		data, ok := fetch(sp.URI)
		if !ok {
			break
		}
		r.cur = append(r.cur, &part{name: sp.URI, dur: sp.Duration, indep: sp.Independent, data: data})
		changed = true
	}
	if pl.PartInf != nil && pl.PartInf.PartTarget > r.partTgt {
		r.partTgt = pl.PartInf.PartTarget
	}
	if pl.PreloadHint != nil && pl.PreloadHint.URI != r.preload {
		r.preload = pl.PreloadHint.URI
		changed = true
	}
	return changed
}

// publish renders the playlist and the files and makes them the current snapshot.
func (r *rendition) publish() {
	r.target = max(r.target, targetDuration(r.segs))
	files := map[string]*file{}
	partsOf := map[uint64]int{}
	usedInits := map[string]bool{}
	for i, s := range r.segs {
		if s.gap {
			continue
		}
		usedInits[s.initURI] = true
		c, n := s.chunks()
		files[s.name] = &file{chunks: c, size: n, ctype: r.ctype}
		partsOf[s.msn] = len(s.parts)
		if len(r.segs)-i <= keepPartSegments {
			for _, p := range s.parts {
				files[p.name] = &file{chunks: [][]byte{p.data}, size: len(p.data), ctype: r.ctype}
			}
		}
	}
	for _, p := range r.cur {
		files[p.name] = &file{chunks: [][]byte{p.data}, size: len(p.data), ctype: r.ctype}
	}
	usedInits[r.initURI] = true
	for name, data := range r.inits {
		if !usedInits[name] {
			delete(r.inits, name)
			continue
		}
		files[name] = &file{chunks: [][]byte{data}, size: len(data), ctype: r.ctype}
	}
	ptgt := r.partTgt
	if ptgt <= 0 {
		ptgt = 200 * time.Millisecond
	}
	s := &snapshot{
		playlist: render(r.segs, r.cur, r.preload, ptgt, r.target, r.discSeq),
		next:     r.next, nparts: len(r.cur), partsOf: partsOf,
		preload: r.preload, files: files,
		target:  time.Duration(r.target) * time.Second,
		updated: make(chan struct{}),
	}
	if len(r.segs) > 0 {
		s.oldest = r.segs[0].msn
	}
	if old := r.snap.Swap(s); old != nil {
		close(old.updated)
	}
}

// end wakes the requests waiting on the rendition: the live session is over.
func (r *rendition) end() {
	if old := r.snap.Swap(nil); old != nil {
		close(old.updated)
	}
}
