package whip

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestReorder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	for _, tt := range []struct {
		name string
		seqs []uint16
		at   []int // arrival, ms (nil: all at 0)
		want []uint16
		// the network counters: packets that came after their gap was given up (or twice),
		// packets given up
		missing, filled, late, skipped uint64
	}{
		{"in order", []uint16{10, 11, 12}, nil, []uint16{10, 11, 12}, 0, 0, 0, 0},
		{"one late", []uint16{10, 12, 13, 11, 14}, nil, []uint16{10, 11, 12, 13, 14}, 1, 1, 0, 0},
		{"duplicates dropped", []uint16{10, 11, 11, 13, 13, 12}, nil, []uint16{10, 11, 12, 13}, 1, 1, 1, 0},
		{"wrap", []uint16{65534, 0, 65535, 1}, nil, []uint16{65534, 65535, 0, 1}, 1, 1, 0, 0},
		{"retransmission in time", []uint16{10, 12, 13, 11, 14}, []int{0, 1, 2, 250, 251}, []uint16{10, 11, 12, 13, 14}, 1, 1, 0, 0},
		{"gap given up after the wait", []uint16{10, 12, 13, 14}, []int{0, 1, 2, 400}, []uint16{10, 12, 13, 14}, 1, 0, 0, 1},
		{"too late once given up", []uint16{10, 12, 13, 11, 14}, []int{0, 1, 400, 401, 402}, []uint16{10, 12, 13, 14}, 1, 0, 1, 1},
		{"jump", []uint16{10, 12, 5000, 5001}, nil, []uint16{10, 12, 5000, 5001}, 1, 0, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r reorder
			var got []uint16
			for i, s := range tt.seqs {
				now := t0
				if tt.at != nil {
					now = ms(tt.at[i])
				}
				for _, p := range r.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: s}}, now) {
					got = append(got, p.SequenceNumber)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("emitted %v, want %v", got, tt.want)
			}
			if r.missing != tt.missing || r.filled != tt.filled || r.late != tt.late || r.skipped != tt.skipped {
				t.Errorf("counted %d missing, %d filled in, %d late, %d given up; want %d, %d, %d, %d",
					r.missing, r.filled, r.late, r.skipped, tt.missing, tt.filled, tt.late, tt.skipped)
			}
		})
	}
}
