package mp4

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// box is one ISO BMFF box of a byte slice: its type and payload (after the header).
type box struct {
	typ     string
	payload []byte
	raw     []byte // header and payload
}

// boxes splits b into its top-level boxes.
func boxes(b []byte) ([]box, error) {
	var out []box
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, errors.New("truncated box header")
		}
		size := uint64(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		hdr := uint64(8)
		switch size {
		case 0:
			size = uint64(len(b))
		case 1:
			if len(b) < 16 {
				return nil, errors.New("truncated box header")
			}
			size, hdr = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size < hdr || size > uint64(len(b)) {
			return nil, fmt.Errorf("box %q: bad size %d", typ, size)
		}
		out = append(out, box{typ: typ, payload: b[hdr:size], raw: b[:size]})
		b = b[size:]
	}
	return out, nil
}

// child returns the first box of type typ inside the container payload b, following a
// path of types ("mdia", "minf", "stbl").
func child(b []byte, path ...string) (box, bool) {
	var cur box
	for _, typ := range path {
		list, err := boxes(b)
		if err != nil {
			return box{}, false
		}
		found := false
		for _, c := range list {
			if c.typ == typ {
				cur, found = c, true
				break
			}
		}
		if !found {
			return box{}, false
		}
		b = cur.payload
	}
	return cur, true
}

// writer builds boxes in memory (the moov: its size grows with the sample count, not the
// media).
type writer struct{ b []byte }

func (w *writer) u16(v uint16)   { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32)   { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64)   { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) bytes(v []byte) { w.b = append(w.b, v...) }
func (w *writer) zeros(n int)    { w.b = append(w.b, make([]byte, n)...) }

// open starts a box and returns where its size goes; close writes it.
func (w *writer) open(typ string) int {
	at := len(w.b)
	w.u32(0)
	w.b = append(w.b, typ...)
	return at
}

func (w *writer) close(at int) {
	binary.BigEndian.PutUint32(w.b[at:], uint32(len(w.b)-at))
}

// full starts a full box (version and flags).
func (w *writer) full(typ string, version uint8, flags uint32) int {
	at := w.open(typ)
	w.u32(uint32(version)<<24 | flags&0xffffff)
	return at
}

// identity is the unity transformation matrix of mvhd and tkhd.
func identity() [9]uint32 {
	return [9]uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000}
}
