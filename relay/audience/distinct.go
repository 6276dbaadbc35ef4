package audience

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// The distinct set: exact up to distinctExactCap tokens (the usual event, and what the tests
// of a few hundred viewers check to the unit), a HyperLogLog estimate beyond. Its memory is
// bounded whatever the number of tokens: about 20 bytes per token up to the cap (160 KiB),
// then the 16 KiB of registers.
const (
	distinctExactCap = 8192
	hllP             = 14 // 2^14 registers: a standard error of 1.04/sqrt(16384) = 0.8%
	hllM             = 1 << hllP
)

// distinct counts distinct 64-bit hashes.
type distinct struct {
	exact map[uint64]struct{} // nil once the cap is passed
	regs  []uint8             // the HyperLogLog registers, made at the cap
	// changes counts the adds that changed the set (a new hash, a raised register): the
	// journal writes the set again only when it moved.
	changes uint64
}

func newDistinct() *distinct { return &distinct{exact: map[uint64]struct{}{}} }

func (d *distinct) add(h uint64) {
	if d.exact != nil {
		if _, ok := d.exact[h]; ok {
			return
		}
		d.exact[h] = struct{}{}
		d.changes++
		if len(d.exact) <= distinctExactCap {
			return
		}
		d.regs = make([]uint8, hllM)
		for x := range d.exact {
			d.addHLL(x)
		}
		d.exact = nil
		return
	}
	d.addHLL(h)
}

func (d *distinct) addHLL(h uint64) {
	i := h >> (64 - hllP)
	// The rank of the first 1 bit in the other 50 bits (a sentinel bit bounds it at 51).
	r := uint8(bits.LeadingZeros64(h<<hllP|1<<(hllP-1)) + 1)
	if r > d.regs[i] {
		d.regs[i] = r
		d.changes++
	}
}

// count is the number of distinct hashes added: exact up to the cap, estimated beyond (the
// HyperLogLog estimate, with linear counting while registers are still empty).
func (d *distinct) count() int {
	if d.exact != nil {
		return len(d.exact)
	}
	sum, zeros := 0.0, 0
	for _, r := range d.regs {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	m := float64(hllM)
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return int(math.Round(e))
}

// The distinct set as the journal keeps it: one kind byte, then the exact set's hashes (8
// bytes each, big-endian) or the HyperLogLog registers (hllM bytes).
const (
	distinctKindExact byte = 'E'
	distinctKindHLL   byte = 'H'
)

// marshal encodes the set: at most 64 KiB for the exact set, 16 KiB of registers beyond.
//
// The hashes are of this process's seed: after a restart, new tokens hash with another one.
// That never counts a viewer twice, since tokens do not survive a restart either (another
// signing key, another live session): every viewer after the restart is a new token.
func (d *distinct) marshal() []byte {
	if d.exact == nil {
		return append([]byte{distinctKindHLL}, d.regs...)
	}
	b := make([]byte, 1, 1+8*len(d.exact))
	b[0] = distinctKindExact
	for h := range d.exact {
		b = binary.BigEndian.AppendUint64(b, h)
	}
	return b
}

// errDistinct is what a stored set that is not one gets.
var errDistinct = errors.New("distinct viewers: not a stored set")

// unmarshalDistinct decodes what marshal made; empty is the empty set.
func unmarshalDistinct(b []byte) (*distinct, error) {
	if len(b) == 0 {
		return newDistinct(), nil
	}
	body := b[1:]
	switch b[0] {
	case distinctKindExact:
		if len(body)%8 != 0 || len(body)/8 > distinctExactCap {
			return nil, fmt.Errorf("%w: %d bytes of exact hashes (a multiple of 8, at most %d)", errDistinct, len(body), 8*distinctExactCap)
		}
		d := newDistinct()
		for i := 0; i < len(body); i += 8 {
			d.exact[binary.BigEndian.Uint64(body[i:])] = struct{}{}
		}
		return d, nil
	case distinctKindHLL:
		if len(body) != hllM {
			return nil, fmt.Errorf("%w: %d registers, want %d", errDistinct, len(body), hllM)
		}
		for _, r := range body {
			if r > 64-hllP+1 {
				return nil, fmt.Errorf("%w: register %d out of range", errDistinct, r)
			}
		}
		return &distinct{regs: append([]uint8(nil), body...)}, nil
	default:
		return nil, fmt.Errorf("%w: kind %q", errDistinct, b[0])
	}
}
