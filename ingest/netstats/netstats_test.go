package netstats

import (
	"testing"
	"time"

	"github.com/beffroi/beffroi/relay"
)

// TestBoardKeepsTheSession: the counters of a live session add its connections, those that
// ended and those still publishing; a new session starts from zero; an idle stream has none.
func TestBoardKeepsTheSession(t *testing.T) {
	st := relay.NewStream(relay.StreamOptions{Name: "s", Grace: time.Minute})
	defer st.Stop()
	var b Board
	if _, ok := b.Get(st); ok {
		t.Fatal("counters for a stream nothing published to")
	}
	st.Publish(relay.SourceInfo{Protocol: "srt"})
	first := Counters{LostPackets: 10, NACKs: 3, Dropped: 1}
	detach := b.Attach(st, func() Counters { return first })
	if c, ok := b.Get(st); !ok || c != first {
		t.Fatalf("counters %+v %v, want %+v", c, ok, first)
	}
	first.LostPackets = 12 // the connection goes on counting until it ends
	detach()
	// A new connection takes over (the phone changed network): the same session.
	pub := st.Publish(relay.SourceInfo{Protocol: "srt"})
	second := Counters{LostPackets: 5, Retransmitted: 4, KeyframeRequests: 2}
	detach = b.Attach(st, func() Counters { return second })
	want := Counters{LostPackets: 17, NACKs: 3, Retransmitted: 4, Dropped: 1, KeyframeRequests: 2}
	if c, ok := b.Get(st); !ok || c != want {
		t.Fatalf("counters across a reconnection %+v %v, want %+v", c, ok, want)
	}
	detach()
	pub.Close()
	st.Stop() // the session ends
	if c, ok := b.Get(st); ok {
		t.Errorf("counters %+v for an idle stream", c)
	}
	pub = st.Publish(relay.SourceInfo{Protocol: "srt"})
	defer pub.Close()
	third := Counters{NACKs: 1}
	defer b.Attach(st, func() Counters { return third })()
	if c, ok := b.Get(st); !ok || c != third {
		t.Errorf("counters of a new session %+v %v, want %+v", c, ok, third)
	}
}

func TestSourcesAskInTurn(t *testing.T) {
	st := relay.NewStream(relay.StreamOptions{Name: "s"})
	defer st.Stop()
	var none, some Board
	pub := st.Publish(relay.SourceInfo{Protocol: "whip"})
	defer pub.Close()
	defer some.Attach(st, func() Counters { return Counters{NACKs: 7} })()
	src := Sources{boardSource{&none, st}, boardSource{&some, st}}
	if c, ok := src.NetworkStats("s"); !ok || c.NACKs != 7 {
		t.Errorf("Sources: %+v %v, want the second board's", c, ok)
	}
	if _, ok := src.NetworkStats("other"); ok {
		t.Error("Sources: counters for an unknown stream")
	}
}

type boardSource struct {
	b  *Board
	st *relay.Stream
}

func (s boardSource) NetworkStats(name string) (Counters, bool) {
	if name != s.st.Name() {
		return Counters{}, false
	}
	return s.b.Get(s.st)
}
