package hls

import (
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// muxerState builds what gohlslib's media playlist shows: gaps, complete segments with their
// parts, the parts of the segment in progress.
func muxerState(prefix string, seq, gaps int, segParts []int, cur int) *playlist.Media {
	pl := &playlist.Media{MediaSequence: seq, Map: &playlist.MediaMap{URI: prefix + "_video1_init.mp4"},
		PartInf: &playlist.MediaPartInf{PartTarget: 200 * time.Millisecond}}
	for range gaps {
		pl.Segments = append(pl.Segments, &playlist.MediaSegment{Gap: true, Duration: time.Second, URI: "gap.mp4"})
	}
	// Parts are named after their segment's sequence number and their index in it.
	part := func(msn, j int) *playlist.MediaPart {
		return &playlist.MediaPart{URI: prefix + "_video1_part" + itoa(msn) + "-" + itoa(j) + ".mp4", Duration: 200 * time.Millisecond}
	}
	for i, np := range segParts {
		msn := seq + gaps + i
		s := &playlist.MediaSegment{Duration: time.Duration(np) * 200 * time.Millisecond, URI: prefix + "_video1_seg" + itoa(msn) + ".mp4"}
		for j := range np {
			s.Parts = append(s.Parts, part(msn, j))
		}
		pl.Segments = append(pl.Segments, s)
	}
	msn := seq + gaps + len(segParts)
	for j := range cur {
		pl.Parts = append(pl.Parts, part(msn, j))
	}
	pl.PreloadHint = &playlist.MediaPreloadHint{URI: part(msn, cur).URI}
	return pl
}

func fetchAll(name string) ([]byte, bool) { return []byte(name), true }

// TestRenditionAcrossMuxers: a new muxer continues our media sequence with a discontinuity;
// the parts of the old muxer's unfinished segment become a segment; renditions stay aligned.
func TestRenditionAcrossMuxers(t *testing.T) {
	r := newRendition("video1")
	r.apply(muxerState("aaa", 1, 6, []int{5}, 2), fetchAll, false)
	r.publish()
	s := r.snap.Load()
	// The first muxer's gaps are kept (iOS wants them): 6 gaps then one segment, msn 0-6.
	if s.next != 7 || s.nparts != 2 || len(r.segs) != 7 || !r.segs[0].gap {
		t.Fatalf("first muxer: next %d parts %d segs %d", s.next, s.nparts, len(r.segs))
	}
	r.apply(muxerState("aaa", 2, 5, []int{5, 5}, 3), fetchAll, false)
	r.publish()
	if s = r.snap.Load(); s.next != 8 || s.nparts != 3 {
		t.Fatalf("second segment: next %d parts %d", s.next, s.nparts)
	}

	// A new muxer: the 3 parts in progress become segment 8; the new muxer's first segment
	// (after its own gaps, skipped now) is 9, with a discontinuity and a new map.
	r.newEpoch()
	r.apply(muxerState("bbb", 1, 6, []int{5}, 1), fetchAll, true)
	r.publish()
	s = r.snap.Load()
	if s.next != 10 || s.nparts != 1 {
		t.Fatalf("new muxer: next %d parts %d, want 10 and 1", s.next, s.nparts)
	}
	pl := string(s.playlist)
	for _, want := range []string{
		"aaa_video1_part09-00_s.mp4\n", // the old muxer's unfinished segment, from its parts
		"#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"bbb_video1_init.mp4\"\n",
		"bbb_video1_seg07.mp4\n",
		`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="bbb_video1_part08-01.mp4"`,
	} {
		if !strings.Contains(pl, want) {
			t.Errorf("playlist without %q:\n%s", want, pl)
		}
	}
	if f := s.files["aaa_video1_part09-00_s.mp4"]; f == nil || f.size != len("aaa_video1_part09-00.mp4")*3 {
		t.Errorf("the closed segment is not served as its three parts: %+v", f)
	}
	if !s.has(8, 3) || !s.has(9, 5) || s.has(10, 1) {
		t.Error("blocking requests across the change are not answered as they should")
	}
	// Seven segments later the discontinuity leaves the window: the sequence counts it.
	for i := range 8 {
		r.apply(muxerState("bbb", 1+i+1, 6, []int{5, 5}, 0), fetchAll, true)
	}
	r.publish()
	if pl := string(r.snap.Load().playlist); !strings.Contains(pl, "#EXT-X-DISCONTINUITY-SEQUENCE:1\n") || strings.Contains(pl, "aaa_") {
		t.Errorf("after the old segments left:\n%s", pl)
	}
}

// TestRenditionsAligned: renditions of one muxer keep the same sequence numbers across a
// change, even when only one had parts in progress.
func TestRenditionsAligned(t *testing.T) {
	l := newLive("fete")
	v, a := newRendition("video1"), newRendition("audio2")
	l.rends["video1"], l.rends["audio2"] = v, a
	v.apply(muxerState("aaa", 1, 6, []int{5}, 2), fetchAll, false)
	a.apply(muxerState("aaa", 1, 6, []int{5}, 0), fetchAll, false)
	var nextMSN uint64
	for _, r := range []*rendition{v, a} {
		r.newEpoch()
		nextMSN = max(nextMSN, r.next)
	}
	for _, r := range []*rendition{v, a} {
		r.padTo(nextMSN, time.Second)
	}
	if v.next != a.next || v.next != 8 {
		t.Fatalf("after the change: video next %d, audio next %d; want both 8", v.next, a.next)
	}
	if !a.segs[len(a.segs)-1].gap {
		t.Error("the audio rendition was not padded with a gap")
	}
}
