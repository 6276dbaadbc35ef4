package mp4

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// PlaylistFile is the playlist Write reads in a recording's directory.
const PlaylistFile = "index.m3u8"

// Summary describes the file Write wrote.
type Summary struct {
	Duration float64 // seconds, of the longest track
	Size     int64   // bytes written
	Tracks   int
	Samples  int
	// Parts is the number of init segments (1 + the discontinuities with new parameters);
	// each became one more sample entry in the stsd of each track.
	Parts int
}

// Write writes the recording in dir as one progressive MP4 (ftyp, moov, mdat) to w. It
// reads every segment twice (tables, then media) and holds only the sample tables in
// memory. It returns ctx's error when ctx is cancelled between segments.
func Write(ctx context.Context, dir string, w io.Writer) (Summary, error) {
	parts, err := readPlaylist(dir, PlaylistFile)
	if err != nil {
		return Summary{}, err
	}
	if len(parts) == 0 {
		return Summary{}, errors.New("the playlist lists no segment")
	}
	m := &movie{}
	if err := m.scan(ctx, dir, parts); err != nil {
		return Summary{}, err
	}
	if m.samples == 0 {
		return Summary{}, errors.New("the recording holds no sample")
	}

	head := m.head()
	bw := bufio.NewWriterSize(w, 1<<20)
	n, err := bw.Write(head)
	if err != nil {
		return Summary{}, err
	}
	written := int64(n)
	copied, err := m.copyMedia(ctx, dir, parts, bw)
	written += copied
	if err != nil {
		return Summary{}, err
	}
	if err := bw.Flush(); err != nil {
		return Summary{}, err
	}
	tracks := 0
	for _, t := range m.tracks {
		if len(t.sizes) > 0 {
			tracks++
		}
	}
	return Summary{Duration: m.duration(), Size: written, Tracks: tracks, Samples: m.samples, Parts: len(parts)}, nil
}

// movie is the sample tables of every track, gathered by scan.
type movie struct {
	tracks  []*track
	mdat    uint64 // bytes of media
	samples int
}

type run struct{ count, delta uint32 }

type offsetRun struct {
	count  uint32
	offset int32
}

type chunk struct {
	n, desc uint32
	off     uint64 // from the start of the mdat payload
}

// track is one track of the progressive file, gathered across every part.
type track struct {
	kind      string // handler type
	ordinal   int    // among the tracks of its kind
	first     initTrack
	timescale uint32
	entries   []byte // every part's sample entries, for stsd
	nEntries  uint32

	sizes   []uint32
	stts    []run
	ctts    []offsetRun
	anyCTTS bool
	negCTTS bool
	sync    []uint32 // 1-based sample numbers of keyframes
	chunks  []chunk

	outPos uint64  // decode time of the next sample, in timescale
	delay  float64 // seconds of empty edit before the first sample
}

// partTrack maps one track of one part onto its output track.
type partTrack struct {
	t       *track
	desc    uint32 // 1-based sample entry of this part in t's stsd
	scale   uint32 // the part's timescale for this track
	in0     uint64 // first base time seen in this part
	seen    bool
	inRel   uint64 // input ticks since in0
	partOut uint64 // t.outPos when the part started
	// prefix goes in front of every keyframe of this part: its H.264 parameter sets when
	// they differ from the first part's. Players that follow stsd entries do not need it;
	// Chromium does (it keeps decoding with the first entry's parameters).
	prefix []byte
}

func (t *track) end() float64 { return float64(t.outPos) / float64(t.timescale) }

// extend lengthens the last sample by d ticks (a gap in the recording, or the alignment
// of the tracks at a discontinuity).
func (t *track) extend(d uint64) {
	if d == 0 || len(t.stts) == 0 {
		return
	}
	last := &t.stts[len(t.stts)-1]
	nd := uint64(last.delta) + d
	if nd > math.MaxUint32 {
		nd = math.MaxUint32
	}
	if last.count == 1 {
		last.delta = uint32(nd)
	} else {
		last.count--
		t.stts = append(t.stts, run{1, uint32(nd)})
	}
	t.outPos += d
}

func (t *track) add(size, dur uint32, cts int32, sync bool) {
	t.sizes = append(t.sizes, size)
	if n := len(t.stts); n > 0 && t.stts[n-1].delta == dur {
		t.stts[n-1].count++
	} else {
		t.stts = append(t.stts, run{1, dur})
	}
	if n := len(t.ctts); n > 0 && t.ctts[n-1].offset == cts {
		t.ctts[n-1].count++
	} else {
		t.ctts = append(t.ctts, offsetRun{1, cts})
	}
	if cts != 0 {
		t.anyCTTS = true
	}
	if cts < 0 {
		t.negCTTS = true
	}
	if sync {
		t.sync = append(t.sync, uint32(len(t.sizes)))
	}
	t.outPos += uint64(dur)
}

// mapPart reads a part's init segment and maps its tracks onto the movie's, adding tracks
// the first part defines and a sample entry per part to each.
func (m *movie) mapPart(dir string, p part, first bool) (map[int]*partTrack, error) {
	b, err := os.ReadFile(filepath.Join(dir, p.init))
	if err != nil {
		return nil, err
	}
	its, err := parseInit(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.init, err)
	}
	out := map[int]*partTrack{}
	ordinals := map[string]int{}
	for _, it := range its {
		ord := ordinals[it.handler]
		ordinals[it.handler]++
		var t *track
		for _, c := range m.tracks {
			if c.kind == it.handler && c.ordinal == ord {
				t = c
			}
		}
		if t == nil {
			if !first && len(m.tracks) > 0 {
				// A track that appears mid-recording starts where the others are.
				t = &track{kind: it.handler, ordinal: ord, first: it, timescale: it.timescale, delay: m.duration()}
			} else {
				t = &track{kind: it.handler, ordinal: ord, first: it, timescale: it.timescale, delay: it.delay}
			}
			m.tracks = append(m.tracks, t)
		}
		t.entries = append(t.entries, it.entries...)
		desc := t.nEntries + 1
		t.nEntries += it.nEntries
		pt := &partTrack{t: t, desc: desc, scale: it.timescale, partOut: t.outPos}
		if it.paramSets != nil && !bytes.Equal(it.paramSets, t.first.paramSets) {
			pt.prefix = it.paramSets
		}
		out[int(it.id)] = pt
	}
	return out, nil
}

// scan is the first pass: the sample tables and the layout of the mdat.
func (m *movie) scan(ctx context.Context, dir string, parts []part) error {
	var firstBase map[*track]float64
	for pi, p := range parts {
		if pi > 0 {
			m.align()
		}
		pts, err := m.mapPart(dir, p, pi == 0)
		if err != nil {
			return err
		}
		if pi == 0 {
			firstBase = map[*track]float64{}
		}
		for _, seg := range p.segments {
			if err := ctx.Err(); err != nil {
				return err
			}
			err := forEachChunk(dir, seg, pts, func(pt *partTrack, tr *fmp4.PartTrack) error {
				t := pt.t
				if !pt.seen {
					pt.seen, pt.in0 = true, tr.BaseTime
					if firstBase != nil && len(t.sizes) == 0 {
						firstBase[t] = float64(tr.BaseTime) / float64(pt.scale)
					}
				}
				// A jump forward in decode time (a pause of the recording) lengthens the
				// last sample, so the tracks stay in sync; a jump back is ignored.
				if tr.BaseTime > pt.in0+pt.inRel {
					pt.inRel = tr.BaseTime - pt.in0
					if target := pt.partOut + rescale(pt.inRel, t.timescale, pt.scale); target > t.outPos {
						t.extend(target - t.outPos)
					}
				}
				c := chunk{desc: pt.desc, off: m.mdat}
				for _, s := range tr.Samples {
					pt.inRel += uint64(s.Duration)
					target := pt.partOut + rescale(pt.inRel, t.timescale, pt.scale)
					d := uint32(0)
					if target > t.outPos {
						d = uint32(min(target-t.outPos, math.MaxUint32))
					}
					cts := s.PTSOffset
					if pt.scale != t.timescale {
						cts = int32(int64(cts) * int64(t.timescale) / int64(pt.scale))
					}
					size := uint64(len(s.Payload))
					if !s.IsNonSyncSample {
						size += uint64(len(pt.prefix))
					}
					t.add(uint32(size), d, cts, !s.IsNonSyncSample)
					m.mdat += size
					c.n++
				}
				m.samples += len(tr.Samples)
				t.chunks = append(t.chunks, c)
				return nil
			})
			if err != nil {
				return err
			}
		}
		if pi == 0 {
			// Tracks that start later than others in the first part (audio that began
			// after the video) wait for their start with an empty edit.
			lo := math.Inf(1)
			for _, v := range firstBase {
				lo = min(lo, v)
			}
			for t, v := range firstBase {
				t.delay += v - lo
			}
			firstBase = nil
		}
	}
	return nil
}

// align lengthens the shorter tracks at a discontinuity so that every track of the next
// part starts at the same time.
func (m *movie) align() {
	end := m.duration()
	for _, t := range m.tracks {
		if len(t.sizes) == 0 {
			continue
		}
		if want := uint64(math.Round((end - t.delay) * float64(t.timescale))); want > t.outPos {
			t.extend(want - t.outPos)
		}
	}
}

// duration is the end of the longest track, in seconds.
func (m *movie) duration() float64 {
	d := 0.0
	for _, t := range m.tracks {
		if len(t.sizes) > 0 {
			d = max(d, t.delay+t.end()-float64(t.first.mediaTime)/float64(t.timescale))
		}
	}
	return d
}

func rescale(v uint64, to, from uint32) uint64 {
	if to == from {
		return v
	}
	return uint64(math.Round(float64(v) * float64(to) / float64(from)))
}

// forEachChunk reads one media segment and calls f for every run of samples of a mapped
// track, in file order. Both passes go through it, so they see the same chunks.
func forEachChunk(dir, seg string, pts map[int]*partTrack, f func(*partTrack, *fmp4.PartTrack) error) error {
	b, err := os.ReadFile(filepath.Join(dir, seg))
	if err != nil {
		return err
	}
	var ps fmp4.Parts
	if err := ps.Unmarshal(b); err != nil {
		return fmt.Errorf("%s: %w", seg, err)
	}
	for _, p := range ps {
		for _, tr := range p.Tracks {
			pt := pts[tr.ID]
			if pt == nil || len(tr.Samples) == 0 {
				continue
			}
			if err := f(pt, tr); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyMedia is the second pass: the mdat, chunk by chunk in the order scan laid out.
func (m *movie) copyMedia(ctx context.Context, dir string, parts []part, w io.Writer) (int64, error) {
	var written uint64
	// Reset the per-track positions mapPart records; only the mapping matters here.
	saved := make([]track, len(m.tracks))
	for i, t := range m.tracks {
		saved[i] = *t
	}
	defer func() {
		for i, t := range m.tracks {
			*t = saved[i]
		}
	}()
	for _, p := range parts {
		pts, err := m.mapPart(dir, p, false)
		if err != nil {
			return int64(written), err
		}
		for _, seg := range p.segments {
			if err := ctx.Err(); err != nil {
				return int64(written), err
			}
			err := forEachChunk(dir, seg, pts, func(pt *partTrack, tr *fmp4.PartTrack) error {
				for _, s := range tr.Samples {
					if !s.IsNonSyncSample && pt.prefix != nil {
						n, err := w.Write(pt.prefix)
						written += uint64(n)
						if err != nil {
							return err
						}
					}
					n, err := w.Write(s.Payload)
					written += uint64(n)
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return int64(written), err
			}
		}
	}
	if written != m.mdat {
		return int64(written), fmt.Errorf("the segments changed while the MP4 was built (%d bytes of media, %d expected)", written, m.mdat)
	}
	return int64(written), nil
}
