package hls

import (
	"math"
	"strconv"
	"time"
)

// part is one LL-HLS partial segment, as served.
type part struct {
	name  string
	dur   time.Duration
	indep bool
	data  []byte
}

// segment is one media segment of a rendition's playlist.
type segment struct {
	msn     uint64
	dur     time.Duration
	gap     bool   // EXT-X-GAP: no media (the initial gaps iOS wants)
	disc    bool   // first segment of a new muxer: EXT-X-DISCONTINUITY
	initURI string // the EXT-X-MAP of the muxer it comes from
	pdt     time.Time
	name    string
	parts   []*part
	// data holds the segment's bytes when its parts are not all known (the watcher fell
	// behind); otherwise the segment is served as the concatenation of its parts, which is
	// what gohlslib writes.
	data []byte
}

func (s *segment) chunks() ([][]byte, int) {
	if s.data != nil {
		return [][]byte{s.data}, len(s.data)
	}
	c := make([][]byte, len(s.parts))
	n := 0
	for i, p := range s.parts {
		c[i] = p.data
		n += len(p.data)
	}
	return c, n
}

// file is a prepared response body.
type file struct {
	chunks [][]byte
	size   int
	ctype  string
}

// snapshot is a rendition's playlist and files at one moment. It is immutable: requests read
// it without a lock, and an update replaces it and closes its updated channel.
type snapshot struct {
	playlist []byte
	next     uint64         // msn of the segment in progress
	nparts   int            // complete parts of the segment in progress
	oldest   uint64         // msn of the oldest segment listed
	partsOf  map[uint64]int // parts of each complete segment listed (0: unknown)
	preload  string         // the part announced by EXT-X-PRELOAD-HINT
	files    map[string]*file
	target   time.Duration // target duration
	updated  chan struct{}
}

// has reports whether the playlist holds part p of segment msn (p < 0: the whole segment), as
// a blocking playlist request asks.
func (s *snapshot) has(msn uint64, p int) bool {
	for {
		switch {
		case msn > s.next:
			return false
		case msn == s.next:
			return p >= 0 && p < s.nparts
		case p < 0:
			return true
		}
		n := s.partsOf[msn]
		if n == 0 || p < n {
			return true
		}
		// A part index past the segment's last part means part 0 of the next segment.
		msn, p = msn+1, 0
	}
}

func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 5, 64)
}

// render writes the media playlist of a rendition: complete segments (with their parts for
// the last ones), the parts of the segment in progress and the preload hint.
func render(segs []*segment, cur []*part, preload string, partTarget time.Duration, target int, discSeq int) []byte {
	b := make([]byte, 0, 4096)
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:10\n#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendInt(b, int64(target), 10)
	b = append(b, "\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK="...)
	b = append(b, secs(partTarget*3)...)
	b = append(b, "\n#EXT-X-PART-INF:PART-TARGET="...)
	b = append(b, secs(partTarget)...)
	b = append(b, "\n#EXT-X-MEDIA-SEQUENCE:"...)
	first := uint64(0)
	if len(segs) > 0 {
		first = segs[0].msn
	}
	b = strconv.AppendUint(b, first, 10)
	if discSeq > 0 {
		b = append(b, "\n#EXT-X-DISCONTINUITY-SEQUENCE:"...)
		b = strconv.AppendInt(b, int64(discSeq), 10)
	}
	b = append(b, '\n')
	initURI := ""
	for i, s := range segs {
		if s.disc {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		if !s.gap && s.initURI != initURI {
			initURI = s.initURI
			b = append(b, "#EXT-X-MAP:URI=\""...)
			b = append(b, initURI...)
			b = append(b, "\"\n"...)
		}
		if s.gap {
			b = append(b, "#EXT-X-GAP\n#EXTINF:"...)
			b = append(b, secs(s.dur)...)
			b = append(b, ",\ngap.mp4\n"...)
			continue
		}
		if len(segs)-i <= 2 {
			b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
			b = s.pdt.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
			b = append(b, '\n')
		}
		if len(segs)-i <= 3 {
			b = appendParts(b, s.parts)
		}
		b = append(b, "#EXTINF:"...)
		b = append(b, secs(s.dur)...)
		b = append(b, ",\n"...)
		b = append(b, s.name...)
		b = append(b, '\n')
	}
	b = appendParts(b, cur)
	if preload != "" {
		b = append(b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""...)
		b = append(b, preload...)
		b = append(b, "\"\n"...)
	}
	return b
}

func appendParts(b []byte, parts []*part) []byte {
	for _, p := range parts {
		b = append(b, "#EXT-X-PART:DURATION="...)
		b = append(b, secs(p.dur)...)
		b = append(b, ",URI=\""...)
		b = append(b, p.name...)
		b = append(b, '"')
		if p.indep {
			b = append(b, ",INDEPENDENT=YES"...)
		}
		b = append(b, '\n')
	}
	return b
}

// targetDuration is the EXT-X-TARGETDURATION of segments: every EXTINF rounded must fit.
func targetDuration(segs []*segment) int {
	t := 1
	for _, s := range segs {
		if v := int(math.Round(s.dur.Seconds())); v > t {
			t = v
		}
	}
	return t
}
