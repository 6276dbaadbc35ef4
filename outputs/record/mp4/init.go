package mp4

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// initTrack is what the progressive file needs of one track of an init segment.
type initTrack struct {
	id        uint32
	handler   string // "vide", "soun", ...
	timescale uint32
	matrix    []byte // 36 bytes of tkhd
	width     uint32 // 16.16, from tkhd
	height    uint32
	language  uint16 // packed ISO-639-2, from mdhd
	hdlr      []byte // raw box
	mediaHdr  []byte // raw vmhd, smhd, sthd or nmhd box
	entries   []byte // the sample entries of stsd, after its entry count
	nEntries  uint32
	// paramSets are the H.264 SPS and PPS of the avcC, each prefixed with its length as
	// the samples' NAL units are; nil for other codecs.
	paramSets []byte
	// From the init's edit list: the empty edit before the media (movie timescale units
	// converted to seconds) and the media time presentation starts at.
	delay     float64
	mediaTime int64
}

// parseInit reads the tracks of an init segment.
func parseInit(b []byte) ([]initTrack, error) {
	top, err := boxes(b)
	if err != nil {
		return nil, err
	}
	var moov []byte
	for _, bx := range top {
		if bx.typ == "moov" {
			moov = bx.payload
		}
	}
	if moov == nil {
		return nil, errors.New("no moov box")
	}
	movieScale := uint32(1000)
	if mvhd, ok := child(moov, "mvhd"); ok && len(mvhd.payload) >= 24 {
		if mvhd.payload[0] == 1 {
			movieScale = binary.BigEndian.Uint32(mvhd.payload[20:])
		} else {
			movieScale = binary.BigEndian.Uint32(mvhd.payload[12:])
		}
	}
	list, err := boxes(moov)
	if err != nil {
		return nil, err
	}
	var out []initTrack
	for _, trak := range list {
		if trak.typ != "trak" {
			continue
		}
		t, err := parseTrak(trak.payload, movieScale)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, errors.New("no track")
	}
	return out, nil
}

func parseTrak(b []byte, movieScale uint32) (initTrack, error) {
	var t initTrack
	tkhd, ok := child(b, "tkhd")
	if !ok || len(tkhd.payload) < 84 {
		return t, errors.New("trak without a valid tkhd")
	}
	p := tkhd.payload
	base := 0 // offset of track_ID
	if p[0] == 1 {
		base = 20
		if len(p) < 96 {
			return t, errors.New("short tkhd")
		}
	} else {
		base = 12
	}
	t.id = binary.BigEndian.Uint32(p[base:])
	m := base + 4 + 4 + 4 + 8 + 8 // track_ID, reserved, duration (v0), reserved, layer..volume..reserved
	if p[0] == 1 {
		m += 4 // 64-bit duration
	}
	t.matrix = p[m : m+36]
	t.width = binary.BigEndian.Uint32(p[m+36:])
	t.height = binary.BigEndian.Uint32(p[m+40:])

	mdhd, ok := child(b, "mdia", "mdhd")
	if !ok || len(mdhd.payload) < 24 {
		return t, fmt.Errorf("track %d: no valid mdhd", t.id)
	}
	if mdhd.payload[0] == 1 {
		if len(mdhd.payload) < 36 {
			return t, fmt.Errorf("track %d: short mdhd", t.id)
		}
		t.timescale = binary.BigEndian.Uint32(mdhd.payload[20:])
		t.language = binary.BigEndian.Uint16(mdhd.payload[32:])
	} else {
		t.timescale = binary.BigEndian.Uint32(mdhd.payload[12:])
		t.language = binary.BigEndian.Uint16(mdhd.payload[20:])
	}
	if t.timescale == 0 {
		return t, fmt.Errorf("track %d: timescale 0", t.id)
	}
	hdlr, ok := child(b, "mdia", "hdlr")
	if !ok || len(hdlr.payload) < 12 {
		return t, fmt.Errorf("track %d: no valid hdlr", t.id)
	}
	t.hdlr = hdlr.raw
	t.handler = string(hdlr.payload[8:12])
	minf, ok := child(b, "mdia", "minf")
	if !ok {
		return t, fmt.Errorf("track %d: no minf", t.id)
	}
	if mb, err := boxes(minf.payload); err == nil {
		for _, c := range mb {
			switch c.typ {
			case "vmhd", "smhd", "sthd", "nmhd":
				t.mediaHdr = c.raw
			}
		}
	}
	stsd, ok := child(minf.payload, "stbl", "stsd")
	if !ok || len(stsd.payload) < 8 {
		return t, fmt.Errorf("track %d: no valid stsd", t.id)
	}
	t.nEntries = binary.BigEndian.Uint32(stsd.payload[4:])
	t.entries = stsd.payload[8:]
	if t.nEntries == 0 {
		return t, fmt.Errorf("track %d: stsd without a sample entry", t.id)
	}
	t.paramSets = avcParamSets(t.entries)

	if elst, ok := child(b, "edts", "elst"); ok && len(elst.payload) >= 8 {
		v := elst.payload[0]
		n := binary.BigEndian.Uint32(elst.payload[4:])
		e := elst.payload[8:]
		size := 12
		if v == 1 {
			size = 20
		}
		for i := uint32(0); i < n && len(e) >= size; i++ {
			var dur uint64
			var mt int64
			if v == 1 {
				dur, mt = binary.BigEndian.Uint64(e), int64(binary.BigEndian.Uint64(e[8:]))
			} else {
				dur, mt = uint64(binary.BigEndian.Uint32(e)), int64(int32(binary.BigEndian.Uint32(e[4:])))
			}
			e = e[size:]
			if mt == -1 {
				t.delay += float64(dur) / float64(movieScale)
				continue
			}
			t.mediaTime = mt
			break
		}
	}
	return t, nil
}

// avcParamSets returns the SPS and PPS of the first sample entry when it is H.264 (avc1 or
// avc3 with an avcC), as length-prefixed NAL units ready to put in front of a sample.
func avcParamSets(entries []byte) []byte {
	list, err := boxes(entries)
	if err != nil || len(list) == 0 || (list[0].typ != "avc1" && list[0].typ != "avc3") {
		return nil
	}
	const visualSampleEntry = 78 // the fields of a VisualSampleEntry before its child boxes
	if len(list[0].payload) < visualSampleEntry {
		return nil
	}
	avcC, ok := child(list[0].payload[visualSampleEntry:], "avcC")
	if !ok || len(avcC.payload) < 7 {
		return nil
	}
	p := avcC.payload
	nalLen := int(p[4]&3) + 1
	var out []byte
	put := func(nal []byte) {
		for i := nalLen - 1; i >= 0; i-- {
			out = append(out, byte(len(nal)>>(8*i)))
		}
		out = append(out, nal...)
	}
	rest := p[5:]
	for _, mask := range []byte{0x1f, 0xff} { // SPS count (5 bits), then PPS count
		if len(rest) < 1 {
			return nil
		}
		n := int(rest[0] & mask)
		rest = rest[1:]
		for range n {
			if len(rest) < 2 {
				return nil
			}
			l := int(rest[0])<<8 | int(rest[1])
			if len(rest) < 2+l {
				return nil
			}
			put(rest[2 : 2+l])
			rest = rest[2+l:]
		}
	}
	return out
}
