package whep

import (
	"bytes"
	"testing"

	"github.com/pion/rtp/codecs"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

func h264Frame(t testing.TB, key bool, size int) *relay.Frame {
	t.Helper()
	tr, err := relay.NewH264Track(testutil.SPS720(), testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	nal := bytes.Repeat([]byte{0xab}, size)
	nal[0] = 0x41
	if key {
		nal[0] = 0x65
	}
	return &relay.Frame{Track: tr, Key: key, Units: [][]byte{nal}}
}

// TestPayloadsH264: a keyframe gets the SPS and PPS in a STAP-A in front, then its NAL unit
// in FU-A fragments that fit the MTU and put the unit back together; the payloads are built
// once and shared.
func TestPayloadsH264(t *testing.T) {
	f := h264Frame(t, true, 5000)
	pl := framePayloads(f)
	if len(pl) < 2 || pl[0][0]&0x1f != 24 || pl[0][3]&0x1f != 7 {
		t.Fatalf("first payload %x, want a STAP-A with the SPS", pl[0][:min(8, len(pl[0]))])
	}
	var nal []byte
	var fu codecs.H264Packet
	for _, p := range pl[1:] {
		if len(p) > rtpMTU {
			t.Errorf("payload of %d bytes, more than the MTU", len(p))
		}
		out, err := fu.Unmarshal(p)
		if err != nil {
			t.Fatal(err)
		}
		nal = append(nal, out...)
	}
	if want := append([]byte{0, 0, 0, 1}, f.Units[0]...); !bytes.Equal(nal, want) {
		t.Errorf("the fragments rebuild %d bytes, want the %d-byte NAL unit", len(nal), len(f.Units[0]))
	}
	if again := framePayloads(f); &again[0][0] != &pl[0][0] {
		t.Error("payloads built twice for one frame")
	}
	// A frame that carries its parameter sets gets no second copy of them.
	withPS := h264Frame(t, true, 100)
	withPS.Units = append([][]byte{testutil.SPS720(), testutil.PPS()}, withPS.Units...)
	if n := len(framePayloads(withPS)); n != 2 {
		t.Errorf("keyframe with SPS and PPS in band: %d payloads, want 2 (STAP-A, IDR)", n)
	}
	if n := len(framePayloads(h264Frame(t, false, 100))); n != 1 {
		t.Errorf("small P frame: %d payloads, want 1", n)
	}
}

// BenchmarkPacketizeFrame is what one viewer would spend on a 15 KB frame (a P frame at
// 3-4 Mbit/s) if frames were packetised per viewer.
func BenchmarkPacketizeFrame(b *testing.B) {
	f := h264Frame(b, false, 15000)
	b.SetBytes(15000)
	b.ReportAllocs()
	for b.Loop() {
		_ = buildH264(f)
	}
}

// BenchmarkSharedPayloads is what each viewer spends instead: finding the payloads another
// viewer built.
func BenchmarkSharedPayloads(b *testing.B) {
	f := h264Frame(b, false, 15000)
	framePayloads(f)
	b.ReportAllocs()
	for b.Loop() {
		_ = framePayloads(f)
	}
}
