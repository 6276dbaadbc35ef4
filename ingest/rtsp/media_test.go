package rtsp

import (
	"context"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

const (
	waitTimeout = testutil.WaitTimeout
	videoStep   = time.Second / 30
	audioStep   = 1024 * time.Second / 48000
	gopLength   = 30
)

// codedFrame says what the n-th video frame, in decoding order, is: a GOP of 30 frames made of
// an IDR, then P B B groups (the P frame is shown after the two B frames that follow it), then
// two P frames. display is the frame's position in presentation order.
func codedFrame(n int) (display int, idr, bframe bool) {
	gop, i := n/gopLength, n%gopLength
	var d int
	switch {
	case i == 0:
		d = 0
	case i <= 27:
		j, pos := (i-1)/3, (i-1)%3
		d = []int{3*j + 3, 3*j + 1, 3*j + 2}[pos]
		bframe = pos != 0
	default:
		d = i
	}
	return gop*gopLength + d, i == 0, bframe
}

// videoAU returns the n-th access unit in decoding order: one slice whose header holds what the
// DTS extractor reads (the picture order count), then a payload ending with n.
func videoAU(n int) [][]byte {
	display, idr, bframe := codedFrame(n)
	h := relaytest.SliceHeader(idr, bframe, n, display%gopLength)
	u := append(h, make([]byte, 200+n%300)...)
	for i := len(h); i < len(u); i++ {
		u[i] = 0xaa
	}
	u[len(u)-2], u[len(u)-1] = byte(n>>8), byte(n)
	return [][]byte{u}
}

func audioAU(n int) []byte {
	u := make([]byte, 100)
	u[0] = 0x21
	u[len(u)-2], u[len(u)-1] = byte(n>>8), byte(n)
	return u
}

// seq is the sequence number the generator put at the end of a frame's payload.
func seq(f *relay.Frame) int {
	u := f.Units[len(f.Units)-1]
	return int(u[len(u)-2])<<8 | int(u[len(u)-1])
}

// newDescription returns an H.264 + AAC session description; params puts the H.264 parameter
// sets in it.
func newDescription(t testing.TB, params bool) *description.Session {
	t.Helper()
	var asc mpeg4audio.AudioSpecificConfig
	if err := asc.Unmarshal(testutil.ASC()); err != nil {
		t.Fatal(err)
	}
	v := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	if params {
		v.SPS, v.PPS = testutil.SPS720(), testutil.PPS()
	}
	a := &format.MPEG4Audio{PayloadTyp: 97, Config: &asc, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	return &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{v}},
		{Type: description.MediaTypeAudio, Formats: []format.Format{a}},
	}}
}

// generator makes the RTP packets of 30 fps H.264 (with B frames) and AAC, as an encoder or a
// camera would.
type generator struct {
	t      testing.TB
	desc   *description.Session
	venc   *rtph264.Encoder
	aenc   *rtpmpeg4audio.Encoder
	nv, na int // access units made
	// extra returns NAL units to put in front of video access unit n (in-band parameter sets).
	extra func(n int) [][]byte
}

func newGenerator(t testing.TB, desc *description.Session) *generator {
	t.Helper()
	g := &generator{t: t, desc: desc,
		venc: &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1},
		aenc: &rtpmpeg4audio.Encoder{PayloadType: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3},
	}
	if err := g.venc.Init(); err != nil {
		t.Fatal(err)
	}
	if err := g.aenc.Init(); err != nil {
		t.Fatal(err)
	}
	return g
}

// mediaTime is how much media the generator made.
func (g *generator) mediaTime() time.Duration {
	return min(time.Duration(g.nv)*videoStep, time.Duration(g.na)*audioStep)
}

// generate makes packets until d more of media, in decoding order, and hands each access
// unit's packets to write.
func (g *generator) generate(d time.Duration, write func(m *description.Media, pkts []*rtp.Packet) error) error {
	end := g.mediaTime() + d
	for {
		vd, ad := time.Duration(g.nv)*videoStep, time.Duration(g.na)*audioStep
		if vd >= end && ad >= end {
			return nil
		}
		var m *description.Media
		var pkts []*rtp.Packet
		var err error
		if vd <= ad {
			m = g.desc.Medias[0]
			au := videoAU(g.nv)
			if g.extra != nil {
				au = append(g.extra(g.nv), au...)
			}
			display, _, _ := codedFrame(g.nv)
			pkts, err = g.venc.Encode(au)
			for _, p := range pkts {
				p.Timestamp = 1000 + uint32(display*3000)
			}
			g.nv++
		} else {
			m = g.desc.Medias[1]
			pkts, err = g.aenc.Encode([][]byte{audioAU(g.na)})
			for _, p := range pkts {
				p.Timestamp = 5000 + uint32(g.na*1024)
			}
			g.na++
		}
		if err != nil {
			return err
		}
		if err := write(m, pkts); err != nil {
			return err
		}
	}
}

// pace runs generate in real time until ctx ends (a camera).
func (g *generator) pace(ctx context.Context, write func(m *description.Media, pkts []*rtp.Packet) error) {
	start, base := time.Now(), g.mediaTime()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := g.generate(base+time.Since(start)-g.mediaTime(), write); err != nil {
			g.t.Errorf("camera: %v", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
