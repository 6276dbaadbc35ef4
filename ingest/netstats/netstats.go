// Package netstats holds what the ingest protocols say of the network between a publisher
// and Beffroi: packets the network lost, retransmission requests, packets that came too late,
// media dropped and keyframes asked for because of damage. A bad network then shows in the
// stream's API as counters, not as silence. The WHIP and SRT servers keep a Board each; the
// web server reads them through Sources.
package netstats

import (
	"sync"

	"github.com/beffroi/beffroi/relay"
)

// Counters is what the network did to a stream's publisher in the current live session
// (every connection of the session, reconnections included). A protocol that has no such
// notion leaves a counter at zero.
type Counters struct {
	// LostPackets counts the packets the receiver found missing, before retransmission
	// (WebRTC: RTP sequence gaps as they open; SRT: pktRcvLoss).
	LostPackets uint64 `json:"lost_packets"`
	// NACKs counts the retransmission requests Beffroi sent (RTCP NACK packets, SRT NAK).
	NACKs uint64 `json:"nacks"`
	// Retransmitted counts the retransmitted packets received (SRT; WebRTC: the packets
	// that came into a gap, retransmitted or overtaken).
	Retransmitted uint64 `json:"retransmitted"`
	// LatePackets counts packets that arrived after Beffroi had given their place up (WHIP:
	// after the reorder buffer's wait; SRT: belated packets).
	LatePackets uint64 `json:"late_packets"`
	// Dropped counts the packets never recovered in time: their media is lost (WHIP: gaps
	// given up; SRT: too-late packet drops).
	Dropped uint64 `json:"dropped"`
	// KeyframeRequests counts the keyframes asked for because the video was damaged (WHIP
	// PLIs beyond the regular ones every keyframe interval).
	KeyframeRequests uint64 `json:"keyframe_requests"`
}

// Add adds o's counts to c.
func (c *Counters) Add(o Counters) {
	c.LostPackets += o.LostPackets
	c.NACKs += o.NACKs
	c.Retransmitted += o.Retransmitted
	c.LatePackets += o.LatePackets
	c.Dropped += o.Dropped
	c.KeyframeRequests += o.KeyframeRequests
}

// Source gives a stream's counters: false when it knows nothing of the stream's current
// session (another protocol publishes, or none).
type Source interface {
	NetworkStats(stream string) (Counters, bool)
}

// Sources asks each source in turn.
type Sources []Source

// NetworkStats returns the counters of the first source that knows the stream's session.
func (ss Sources) NetworkStats(stream string) (Counters, bool) {
	for _, s := range ss {
		if c, ok := s.NetworkStats(stream); ok {
			return c, true
		}
	}
	return Counters{}, false
}

// Board keeps, for each stream, the counters of its current live session: those of the
// connections that ended, plus those of the connections still publishing. A new session
// starts again from zero. The zero value is ready to use.
type Board struct {
	mu      sync.Mutex
	streams map[*relay.Stream]*session
}

type session struct {
	id    uint64 // the stream's session number
	ended Counters
	live  map[int]func() Counters
	next  int
}

// Attach counts a connection that publishes to st (call it after Publish): read returns the
// connection's counts so far, and is called until detach, which adds its last counts to the
// session's.
func (b *Board) Attach(st *relay.Stream, read func() Counters) (detach func()) {
	id := st.Info().Session
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.streams == nil {
		b.streams = map[*relay.Stream]*session{}
	}
	for other, s := range b.streams { // forget the sessions that are over
		if other != st && len(s.live) == 0 && other.Info().Session != s.id {
			delete(b.streams, other)
		}
	}
	s := b.streams[st]
	if s == nil || s.id != id {
		s = &session{id: id, live: map[int]func() Counters{}}
		b.streams[st] = s
	}
	n := s.next
	s.next++
	s.live[n] = read
	var once sync.Once
	return func() {
		once.Do(func() {
			last := read()
			b.mu.Lock()
			defer b.mu.Unlock()
			s.ended.Add(last)
			delete(s.live, n)
		})
	}
}

// Get returns the counters of st's current live session; false when st is not live or
// when no connection of this board published in the session.
func (b *Board) Get(st *relay.Stream) (Counters, bool) {
	in := st.Info()
	if in.State == relay.Idle {
		return Counters{}, false
	}
	b.mu.Lock()
	s := b.streams[st]
	if s == nil || s.id != in.Session {
		b.mu.Unlock()
		return Counters{}, false
	}
	c := s.ended
	reads := make([]func() Counters, 0, len(s.live))
	for _, r := range s.live {
		reads = append(reads, r)
	}
	b.mu.Unlock()
	for _, r := range reads { // outside mu: a read may ask its connection for statistics
		c.Add(r())
	}
	return c, true
}
