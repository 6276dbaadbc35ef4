package mp4

import (
	"math"
)

// movieTimescale is the timescale of mvhd, tkhd and elst durations.
const movieTimescale = 1000

// head returns everything before the media: ftyp, moov and the mdat header.
func (m *movie) head() []byte {
	var ftyp writer
	at := ftyp.open("ftyp")
	ftyp.bytes([]byte("isom"))
	ftyp.u32(0x200)
	ftyp.bytes([]byte("isomiso2avc1mp41"))
	ftyp.close(at)

	mdatHdr := 8
	if m.mdat+8 > math.MaxUint32 {
		mdatHdr = 16
	}
	// The chunk offsets depend on the moov's size, which depends only on how many there
	// are: write it once to measure, once for real.
	co64 := false
	moov := m.moov(0, co64)
	if uint64(len(ftyp.b)+len(moov)+mdatHdr)+m.mdat > math.MaxUint32 {
		co64 = true
		moov = m.moov(0, co64)
	}
	base := uint64(len(ftyp.b) + len(moov) + mdatHdr)
	moov = m.moov(base, co64)

	out := make([]byte, 0, len(ftyp.b)+len(moov)+16)
	out = append(out, ftyp.b...)
	out = append(out, moov...)
	var mdat writer
	if mdatHdr == 16 {
		mdat.u32(1)
		mdat.bytes([]byte("mdat"))
		mdat.u64(m.mdat + 16)
	} else {
		mdat.u32(uint32(m.mdat + 8))
		mdat.bytes([]byte("mdat"))
	}
	return append(out, mdat.b...)
}

func toMovie(seconds float64) uint64 {
	return uint64(math.Round(max(seconds, 0) * movieTimescale))
}

// moov writes the movie box; base is the file offset of the first media byte.
func (m *movie) moov(base uint64, co64 bool) []byte {
	w := &writer{}
	moov := w.open("moov")
	dur := toMovie(m.duration())

	v := version(dur)
	at := w.full("mvhd", v, 0)
	timeFields(w, v, movieTimescale, dur)
	w.u32(0x00010000) // rate 1.0
	w.u16(0x0100)     // volume 1.0
	w.zeros(10)
	for _, x := range identity() {
		w.u32(x)
	}
	w.zeros(24)
	w.u32(uint32(len(m.tracks) + 1)) // next_track_ID
	w.close(at)

	id := uint32(0)
	for _, t := range m.tracks {
		if len(t.sizes) == 0 {
			continue
		}
		id++
		m.trak(w, t, id, base, co64)
	}
	w.close(moov)
	return w.b
}

// version is the box version that holds d: 1 (64-bit times) only when needed.
func version(d uint64) uint8 {
	if d > math.MaxUint32 {
		return 1
	}
	return 0
}

// timeFields writes creation and modification times (zero: unknown) then timescale and
// duration, as mvhd and mdhd lay them out.
func timeFields(w *writer, v uint8, timescale uint32, dur uint64) {
	if v == 1 {
		w.u64(0)
		w.u64(0)
		w.u32(timescale)
		w.u64(dur)
		return
	}
	w.u32(0)
	w.u32(0)
	w.u32(timescale)
	w.u32(uint32(dur))
}

func (m *movie) trak(w *writer, t *track, id uint32, base uint64, co64 bool) {
	mediaStart := float64(t.first.mediaTime) / float64(t.timescale)
	present := toMovie(t.end() - mediaStart)
	total := toMovie(t.delay) + present

	trak := w.open("trak")
	v := version(total)
	at := w.full("tkhd", v, 3) // enabled, in movie
	if v == 1 {
		w.u64(0)
		w.u64(0)
		w.u32(id)
		w.u32(0)
		w.u64(total)
	} else {
		w.u32(0)
		w.u32(0)
		w.u32(id)
		w.u32(0)
		w.u32(uint32(total))
	}
	w.zeros(8)
	w.u16(0) // layer
	w.u16(0) // alternate group
	if t.kind == "soun" {
		w.u16(0x0100)
	} else {
		w.u16(0)
	}
	w.u16(0)
	w.bytes(t.first.matrix)
	w.u32(t.first.width)
	w.u32(t.first.height)
	w.close(at)

	if t.delay > 0.0005 || t.first.mediaTime != 0 {
		edts := w.open("edts")
		ev := version(max(total, uint64(max(t.first.mediaTime, 0))))
		at := w.full("elst", ev, 0)
		n := uint32(1)
		if toMovie(t.delay) > 0 {
			n = 2
		}
		w.u32(n)
		entry := func(d uint64, mt int64) {
			if ev == 1 {
				w.u64(d)
				w.u64(uint64(mt))
			} else {
				w.u32(uint32(d))
				w.u32(uint32(int32(mt)))
			}
			w.u32(0x00010000)
		}
		if n == 2 {
			entry(toMovie(t.delay), -1)
		}
		entry(present, t.first.mediaTime)
		w.close(at)
		w.close(edts)
	}

	mdia := w.open("mdia")
	mv := version(t.outPos)
	at = w.full("mdhd", mv, 0)
	timeFields(w, mv, t.timescale, t.outPos)
	w.u16(t.first.language)
	w.u16(0)
	w.close(at)
	w.bytes(t.first.hdlr)
	minf := w.open("minf")
	if t.first.mediaHdr != nil {
		w.bytes(t.first.mediaHdr)
	} else {
		w.close(w.full("nmhd", 0, 0))
	}
	dinf := w.open("dinf")
	at = w.full("dref", 0, 0)
	w.u32(1)
	w.close(w.full("url ", 0, 1)) // the media is in this file
	w.close(at)
	w.close(dinf)
	m.stbl(w, t, base, co64)
	w.close(minf)
	w.close(mdia)
	w.close(trak)
}

func (m *movie) stbl(w *writer, t *track, base uint64, co64 bool) {
	stbl := w.open("stbl")

	at := w.full("stsd", 0, 0)
	w.u32(t.nEntries)
	w.bytes(t.entries)
	w.close(at)

	at = w.full("stts", 0, 0)
	w.u32(uint32(len(t.stts)))
	for _, r := range t.stts {
		w.u32(r.count)
		w.u32(r.delta)
	}
	w.close(at)

	if t.anyCTTS {
		v := uint8(0)
		if t.negCTTS {
			v = 1
		}
		at = w.full("ctts", v, 0)
		w.u32(uint32(len(t.ctts)))
		for _, r := range t.ctts {
			w.u32(r.count)
			w.u32(uint32(r.offset))
		}
		w.close(at)
	}

	if len(t.sync) != len(t.sizes) {
		at = w.full("stss", 0, 0)
		w.u32(uint32(len(t.sync)))
		for _, n := range t.sync {
			w.u32(n)
		}
		w.close(at)
	}

	// stsc: a new entry only when the samples per chunk or the sample entry change.
	at = w.full("stsc", 0, 0)
	countAt := len(w.b)
	w.u32(0)
	entries := uint32(0)
	for i, c := range t.chunks {
		if i > 0 && c.n == t.chunks[i-1].n && c.desc == t.chunks[i-1].desc {
			continue
		}
		w.u32(uint32(i + 1))
		w.u32(c.n)
		w.u32(c.desc)
		entries++
	}
	putU32(w.b[countAt:], entries)
	w.close(at)

	at = w.full("stsz", 0, 0)
	w.u32(0)
	w.u32(uint32(len(t.sizes)))
	for _, s := range t.sizes {
		w.u32(s)
	}
	w.close(at)

	if co64 {
		at = w.full("co64", 0, 0)
		w.u32(uint32(len(t.chunks)))
		for _, c := range t.chunks {
			w.u64(base + c.off)
		}
	} else {
		at = w.full("stco", 0, 0)
		w.u32(uint32(len(t.chunks)))
		for _, c := range t.chunks {
			w.u32(uint32(base + c.off))
		}
	}
	w.close(at)
	w.close(stbl)
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
