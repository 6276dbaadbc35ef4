package audience

import (
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
}

func newDistinct() *distinct { return &distinct{exact: map[uint64]struct{}{}} }

func (d *distinct) add(h uint64) {
	if d.exact != nil {
		if _, ok := d.exact[h]; ok {
			return
		}
		d.exact[h] = struct{}{}
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
