package whip

import (
	"context"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/pion/rtp"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// TestH264PaddingIsNoDamage: padding-only packets (a browser probing its bandwidth without
// RTX) between frames are skipped; they do not make the ingest drop frames until the next
// keyframe.
func TestH264PaddingIsNoDamage(t *testing.T) {
	st := relay.NewStream(relay.StreamOptions{Name: "s"})
	defer st.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testutil.LogBuffer{}
	ss := &session{stream: st, log: logs.Logger(), ctx: ctx, cancel: cancel, t0: time.Now()}
	ss.pub = st.Publish(relay.SourceInfo{Protocol: protocol})
	h, err := ss.newH264(0)
	if err != nil {
		t.Fatal(err)
	}
	enc := &rtph264.Encoder{PayloadType: 96, PayloadMaxSize: 1200, PacketizationMode: 1}
	if err := enc.Init(); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 3000) // fragmented in FU-A
	big[0], big[1] = 0x41, 0x9a
	aus := [][][]byte{
		{testutil.SPS720(), testutil.PPS(), {0x65, 0x88, 0x84, 0x00, 0x33, 0xff}},
		{big},
		{{0x41, 0x9a, 0x02, 0x04}},
	}
	var seq uint16
	var ts uint32
	now := time.Now()
	for _, au := range aus {
		pkts, err := enc.Encode(au)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			p.SequenceNumber, p.Timestamp = seq, ts
			seq++
			h.packet(p, now)
		}
		// Padding after each frame, as Chromium sends it.
		h.packet(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Padding: true}}, now)
		seq++
		ts += 3000
		now = now.Add(33 * time.Millisecond)
	}
	var video uint64
	for _, tr := range st.Info().Tracks {
		video = tr.Frames
	}
	if video != 3 || logs.Count("damaged") != 0 {
		t.Errorf("%d frames published of 3; log:\n%s", video, logs.String())
	}
}
