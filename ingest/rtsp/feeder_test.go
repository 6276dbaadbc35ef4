package rtsp

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

// fakeSource hands packets straight to a feeder; a packet's PTS is its RTP timestamp.
type fakeSource struct {
	cbs map[*description.Media]gortsplib.OnPacketRTPFunc
}

func (s *fakeSource) OnPacketRTP(m *description.Media, _ format.Format, cb gortsplib.OnPacketRTPFunc) {
	s.cbs[m] = cb
}

func (s *fakeSource) PacketPTS(_ *description.Media, pkt *rtp.Packet) (int64, bool) {
	return int64(pkt.Timestamp), true
}

// feed starts a feeder of desc's medias into a new stream and returns the stream and the
// packet callbacks.
func feed(t *testing.T, desc *description.Session) (*relay.Stream, *fakeSource) {
	t.Helper()
	logs := &testutil.LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	f, err := newFeeder(desc.Medias, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	st := relay.NewStream(relay.StreamOptions{Name: "test", PublishKey: "k"})
	pub := st.Publish(relay.SourceInfo{Protocol: "test"})
	t.Cleanup(pub.Close)
	src := &fakeSource{cbs: map[*description.Media]gortsplib.OnPacketRTPFunc{}}
	f.start(pub, src)
	return st, src
}

// TestNoMarkerBit: a camera that never sets the RTP marker bit. The decoder returns each
// access unit when the next one starts; the frames keep their own timestamps.
func TestNoMarkerBit(t *testing.T) {
	desc := newDescription(t, true)
	st, src := feed(t, desc)
	r := relaytest.Subscribe(t, st)
	g := newGenerator(t, desc)
	err := g.generate(2*time.Second, func(m *description.Media, pkts []*rtp.Packet) error {
		for _, p := range pkts {
			if m == desc.Medias[0] {
				p.Marker = false
			}
			src.cbs[m](p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The last access unit stays in the decoder until the next one starts.
	readFrom(t, r, 0, g.nv-2, g.na-1)
}

func TestOpus(t *testing.T) {
	m := &description.Media{Type: description.MediaTypeAudio,
		Formats: []format.Format{&format.Opus{PayloadTyp: 111, ChannelCount: 2}}}
	st, src := feed(t, &description.Session{Medias: []*description.Media{m}})
	if a := st.Track(relay.Audio); a == nil || a.Codec != relay.Opus || a.SampleRate != 48000 || a.Channels != 2 {
		t.Fatalf("audio track %+v", a)
	}
	r := relaytest.Subscribe(t, st)
	for i := range 10 {
		src.cbs[m](&rtp.Packet{Header: rtp.Header{PayloadType: 111, Timestamp: uint32(7000 + i*960), Marker: true},
			Payload: []byte{0xfc, byte(i)}})
	}
	var prev *relay.Frame
	for i := range 10 {
		f := relaytest.Next(t, r)
		if f.Track.Codec != relay.Opus || !f.Key || f.Units[0][1] != byte(i) {
			t.Fatalf("frame %d: %s key=%v % x", i, f.Track.Codec, f.Key, f.Units[0])
		}
		if prev != nil && f.DTS-prev.DTS != 20*time.Millisecond {
			t.Fatalf("frame %d: %v after the previous one, want 20ms", i, f.DTS-prev.DTS)
		}
		prev = f
	}
}

// TestNoSupportedTrack: a session without any codec Beffroi relays is refused, saying what it
// offered.
func TestNoSupportedTrack(t *testing.T) {
	desc := &description.Session{Medias: []*description.Media{{
		Type: description.MediaTypeVideo, Formats: []format.Format{&format.VP8{PayloadTyp: 96}},
	}}}
	_, err := newFeeder(desc.Medias, (&testutil.LogBuffer{}).Logger())
	if err == nil || err.Error() != "no supported track (video: H.264, H.265; audio: AAC, Opus); offered: VP8" {
		t.Errorf("newFeeder: %v", err)
	}
}
