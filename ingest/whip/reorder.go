package whip

import (
	"time"

	"github.com/pion/rtp"
)

// Reorder buffer limits. Packets arrive out of order on real networks (and on a loaded
// machine), and a retransmission asked for by NACK arrives late by a round trip: the
// depacketisers drop a whole frame (and H.264 waits for the next keyframe) when a packet is
// missing, so packets are put back in order first. A gap is waited for at most
// reorderMaxWait, and only while packets are missing: no latency is added otherwise.
const (
	reorderSize = 512 // packets held at most (about 0.5 MB of video)
	// pion asks for retransmissions every 100 ms (its NACK generator's interval), and the
	// answer takes a round trip more: 300 ms leaves room for one.
	reorderMaxWait = 300 * time.Millisecond
)

// reorder puts one RTP stream's packets back in sequence order.
type reorder struct {
	started bool
	next    uint16 // the sequence number to emit next
	held    int
	ring    [reorderSize]*rtp.Packet
	since   time.Time // when the oldest gap started to be waited for
	out     []*rtp.Packet

	highest uint16 // the highest sequence number seen

	// The network counters: missing counts the packets a sequence gap showed missing when
	// it opened (before any retransmission), filled the packets that came later into a gap
	// (retransmissions, or packets that overtook others), late those that arrived after
	// their gap was given up (or twice), skipped the packets given up.
	missing, filled, late, skipped uint64
}

// push adds a packet received at now and returns the packets that are now in order (valid
// until the next call).
func (r *reorder) push(pkt *rtp.Packet, now time.Time) []*rtp.Packet {
	r.out = r.out[:0]
	seq := pkt.SequenceNumber
	if !r.started {
		r.started, r.next, r.highest = true, seq, seq
	}
	d := int(int16(seq - r.next))
	if e := int(int16(seq - r.highest)); e > 0 {
		if e < reorderSize {
			r.missing += uint64(e - 1)
		}
		r.highest = seq
	} else if e < 0 && d >= 0 && r.ring[seq%reorderSize] == nil {
		r.filled++
	}
	switch {
	case d < 0:
		r.late++
		return r.out // late (its gap was given up) or a duplicate
	case d >= reorderSize:
		// A jump (the sender restarted its numbering, or a long loss): let go of what is
		// held and start again from this packet.
		r.flush()
		r.next = seq
	}
	slot := &r.ring[seq%reorderSize]
	if *slot != nil {
		return r.out // duplicate of a held packet
	}
	*slot = pkt
	r.held++
	r.drain()
	if r.held == 0 {
		r.since = time.Time{}
		return r.out
	}
	if r.since.IsZero() {
		r.since = now
	}
	if now.Sub(r.since) >= reorderMaxWait {
		// Give the gap up: skip to the oldest packet held.
		for r.ring[r.next%reorderSize] == nil {
			r.next++
			r.skipped++
		}
		r.drain()
		r.since = time.Time{}
		if r.held > 0 {
			r.since = now
		}
	}
	return r.out
}

// drain emits the packets held from next on, in order, up to the first gap.
func (r *reorder) drain() {
	for {
		slot := &r.ring[r.next%reorderSize]
		if *slot == nil {
			return
		}
		r.out = append(r.out, *slot)
		*slot = nil
		r.held--
		r.next++
	}
}

// flush emits everything held, in order, skipping the gaps.
func (r *reorder) flush() {
	for n := 0; r.held > 0 && n < reorderSize; n++ {
		slot := &r.ring[r.next%reorderSize]
		if *slot != nil {
			r.out = append(r.out, *slot)
			*slot = nil
			r.held--
		}
		r.next++
	}
	r.since = time.Time{}
}
