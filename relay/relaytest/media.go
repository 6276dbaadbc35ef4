package relaytest

import (
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// The pace of the synthetic media.
const (
	// VideoStep is the duration of a video frame: 30 fps.
	VideoStep = time.Second / 30
	// AACStep is the duration of an AAC frame: 1024 samples at 48 kHz.
	AACStep = 1024 * time.Second / 48000
	// OpusStep is the duration of an Opus frame.
	OpusStep = 20 * time.Millisecond
)

// H264Track returns a 1280x720 H.264 track with real parameter sets (testutil.SPS720() and
// testutil.PPS()), which the slice headers of the synthetic pictures fit.
func H264Track(t testing.TB) *relay.Track {
	t.Helper()
	tr, err := relay.NewH264Track(testutil.SPS720(), testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// AACTrack returns an AAC-LC track, 48 kHz stereo (testutil.ASC()).
func AACTrack(t testing.TB) *relay.Track {
	t.Helper()
	tr, err := relay.NewAACTrack(testutil.ASC())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// OpusTrack returns a stereo Opus track.
func OpusTrack() *relay.Track { return relay.NewOpusTrack(2) }

// SeqSize is how many bytes the sequence number takes at the end of every unit.
const SeqSize = 2

// MaxSeq bounds the sequence numbers: they count modulo MaxSeq.
const MaxSeq = 1 << 14

// putSeq writes n in the last two bytes of u, each with its high bit set, so that they never
// form an Annex-B start code or an emulation-prevention sequence.
func putSeq(u []byte, n int) {
	u[len(u)-2], u[len(u)-1] = 0x80|byte(n>>7&0x7f), 0x80|byte(n&0x7f)
}

// UnitSeq returns the sequence number at the end of a unit written by this package (a
// picture's NAL unit, an audio frame).
func UnitSeq(u []byte) int {
	if len(u) < SeqSize {
		return -1
	}
	return int(u[len(u)-2]&0x7f)<<7 | int(u[len(u)-1]&0x7f)
}

// Seq returns the sequence number of a frame written by this package: that of its last unit
// (a keyframe may come with its parameter sets in front).
func Seq(f *relay.Frame) int {
	if len(f.Units) == 0 {
		return -1
	}
	return UnitSeq(f.Units[len(f.Units)-1])
}

// SliceHeader returns the first bytes of an H.264 slice NAL unit that fits the parameter
// sets of H264Track (log2_max_frame_num 4, picture order count type 0 with 6 bits): the NAL
// header and a slice header with what a DTS extractor reads. idr makes an IDR (an I slice),
// bframe a non-reference B slice, neither a P slice. frame is the picture's number in
// decoding order and display its position in presentation order, both counted from the last
// IDR. The last byte is padded with zero bits.
func SliceHeader(idr, bframe bool, frame, display int) []byte {
	w := &bitWriter{}
	switch {
	case idr:
		w.b, w.n = []byte{0x65}, 8 // nal_ref_idc 3, IDR
	case bframe:
		w.b, w.n = []byte{0x01}, 8 // nal_ref_idc 0, non-IDR
	default:
		w.b, w.n = []byte{0x41}, 8 // nal_ref_idc 2, non-IDR
	}
	w.golomb(0) // first_mb_in_slice
	switch {
	case idr:
		w.golomb(7) // I
	case bframe:
		w.golomb(6) // B
	default:
		w.golomb(5) // P
	}
	w.golomb(0)               // pic_parameter_set_id
	w.bits(uint(frame%16), 4) // frame_num
	if idr {
		w.golomb(0) // idr_pic_id
	}
	w.bits(uint(2*display)%64, 6) // pic_order_cnt_lsb
	return w.b
}

// bitWriter writes the bits of a slice header.
type bitWriter struct {
	b []byte
	n int // bits written
}

func (w *bitWriter) bit(v uint) {
	if w.n%8 == 0 {
		w.b = append(w.b, 0)
	}
	if v != 0 {
		w.b[len(w.b)-1] |= 0x80 >> (w.n % 8)
	}
	w.n++
}

func (w *bitWriter) bits(v uint, n int) {
	for i := n - 1; i >= 0; i-- {
		w.bit((v >> i) & 1)
	}
}

// golomb writes an unsigned Exp-Golomb number.
func (w *bitWriter) golomb(v uint) {
	v++
	n := 0
	for x := v; x > 1; x >>= 1 {
		n++
	}
	w.bits(0, n)
	w.bits(v, n+1)
}
