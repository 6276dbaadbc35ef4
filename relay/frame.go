package relay

import (
	"sync/atomic"
	"time"
)

// Frame is one access unit of one track. Once published a Frame is never modified, so every
// reader shares the same Frame without copying it.
type Frame struct {
	// Track is the track, with its parameters, this frame decodes with.
	Track *Track
	// DTS and PTS are on the stream's timeline (rebased across publisher reconnects).
	DTS time.Duration
	PTS time.Duration
	// Key marks a video frame a decoder can start from. Audio frames are always Key.
	Key bool
	// Units holds the payload: NAL units (H.264/H.265, without start codes), OBUs (AV1), or a
	// single element for every other codec.
	Units [][]byte

	// Published is when the relay accepted the frame (for latency measurements).
	Published time.Time
	// Standby marks a frame of the stand-in picture shown while the source is away or the
	// operator paused the broadcast (see Stream.StandIn): readers that keep only what the
	// source sent (the recorder) skip it.
	Standby bool

	memo memo
}

// Size returns the payload size in bytes.
func (f *Frame) Size() int {
	n := 0
	for _, u := range f.Units {
		n += len(u)
	}
	return n
}

// MemoKey identifies one derived representation of a frame (for example the RTMP chunks of
// the frame for one chunk size). Declare one per representation as a package variable.
type MemoKey struct{ name string }

// NewMemoKey returns a key for a derived representation; name is for debugging only.
func NewMemoKey(name string) *MemoKey { return &MemoKey{name: name} }

type memoEntry struct {
	key  *MemoKey
	val  any
	next *memoEntry
}

// Memo returns the representation of the frame identified by key, building it with build the
// first time any reader asks. This is how work that every reader of one protocol would do the
// same way (serialising a frame into RTMP chunks, say) is done once per frame instead of once
// per reader. build must not keep or modify the frame.
func (f *Frame) Memo(key *MemoKey, build func(*Frame) any) any {
	return f.memo.get(key, func() any { return build(f) })
}

// memo is a small lock-free list of derived representations.
type memo struct{ head atomic.Pointer[memoEntry] }

func (m *memo) get(key *MemoKey, build func() any) any {
	for {
		head := m.head.Load()
		for e := head; e != nil; e = e.next {
			if e.key == key {
				return e.val
			}
		}
		v := build()
		if m.head.CompareAndSwap(head, &memoEntry{key: key, val: v, next: head}) {
			return v
		}
		// Another reader added an entry meanwhile: look again, it may be ours.
	}
}
