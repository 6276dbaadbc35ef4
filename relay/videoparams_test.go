package relay

import (
	"testing"

	"github.com/beffroi/beffroi/internal/testutil"
)

func TestVideoParamsH264(t *testing.T) {
	idr := []byte{0x65, 0x88, 0x84}
	p := []byte{0x41, 0x9a}
	sei := []byte{0x06, 0x05}
	var v VideoParams // H264: the zero Codec is not H265
	v.Codec = H264

	steps := []struct {
		name             string
		au               [][]byte
		picture, changed bool
		width            int
		err              bool
	}{
		{"picture before any parameter set", [][]byte{p}, true, false, 0, false},
		{"SPS alone: not complete yet", [][]byte{testutil.SPS720()}, false, false, 0, false},
		{"PPS completes the set", [][]byte{testutil.PPS(), sei}, false, true, 1280, false},
		{"keyframe with the same sets", [][]byte{testutil.SPS720(), testutil.PPS(), idr}, true, false, 1280, false},
		{"new SPS: a new track (the phone rotated)", [][]byte{testutil.SPS360(), testutil.PPS(), idr}, true, true, 640, false},
		{"invalid SPS is reported, the track kept", [][]byte{{0x67, 0xff}, testutil.PPS(), idr}, true, false, 640, true},
		{"back to 720p", [][]byte{testutil.SPS720(), idr}, true, true, 1280, false},
	}
	for _, s := range steps {
		picture, changed, err := v.Update(s.au)
		if picture != s.picture || changed != s.changed || (err != nil) != s.err {
			t.Fatalf("%s: picture %v changed %v err %v, want %v %v err=%v", s.name, picture, changed, err, s.picture, s.changed, s.err)
		}
		if s.width != 0 && (v.Track == nil || v.Track.Width != s.width) {
			t.Fatalf("%s: track %+v, want width %d", s.name, v.Track, s.width)
		}
	}
	if !v.IsKey([][]byte{testutil.SPS720(), testutil.PPS(), idr}) || v.IsKey([][]byte{p}) {
		t.Error("IsKey: an IDR is a keyframe, a P frame is not")
	}
}

// A track known from elsewhere (an RTMP sequence header, an SDP) is kept while the stream
// repeats the same parameter sets, even one at a time.
func TestVideoParamsKnownTrack(t *testing.T) {
	tr, err := NewH264Track(testutil.SPS720(), testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	v := VideoParams{Codec: H264, Track: tr}
	for _, au := range [][][]byte{{testutil.PPS(), {0x65}}, {testutil.SPS720(), {0x65}}, {testutil.SPS720(), testutil.PPS(), {0x65}}} {
		if _, changed, err := v.Update(au); changed || err != nil || v.Track != tr {
			t.Fatalf("Update(%x): changed %v err %v", au, changed, err)
		}
	}
}

func TestWithParamSets(t *testing.T) {
	idr := []byte{0x65, 0x88, 0x84}
	h264, err := NewH264Track(testutil.SPS720(), testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	got := WithParamSets(h264, [][]byte{idr})
	if len(got) != 3 || got[0][0] != 0x67 || got[1][0] != 0x68 || got[2][0] != 0x65 {
		t.Errorf("H.264 keyframe without parameter sets: %x, want SPS, PPS, IDR", got)
	}
	au := [][]byte{testutil.SPS360(), testutil.PPS(), idr}
	if got := WithParamSets(h264, au); len(got) != 3 || got[0][5] != au[0][5] {
		t.Errorf("H.264 keyframe with its own SPS: %x, want it as it is", got)
	}
	// A track without its parameter sets, or another codec: as it is.
	for _, tr := range []*Track{{Codec: H264, SPS: testutil.SPS720()}, {Codec: H265, SPS: testutil.SPS720(), PPS: testutil.PPS()}, {Codec: VP8}} {
		if got := WithParamSets(tr, [][]byte{idr}); len(got) != 1 {
			t.Errorf("%s track %+v: %x, want the unit alone", tr.Codec, tr, got)
		}
	}
	h265 := &Track{Codec: H265, VPS: []byte{0x40, 0x01}, SPS: []byte{0x42, 0x01}, PPS: []byte{0x44, 0x01}}
	if got := WithParamSets(h265, [][]byte{{0x26, 0x01}}); len(got) != 4 || got[0][0] != 0x40 || got[1][0] != 0x42 || got[2][0] != 0x44 {
		t.Errorf("H.265 keyframe without parameter sets: %x, want VPS, SPS, PPS, IDR", got)
	}
	if got := WithParamSets(h265, [][]byte{{0x42, 0x01}, {0x26, 0x01}}); len(got) != 2 {
		t.Errorf("H.265 keyframe with its own SPS: %x, want it as it is", got)
	}
}
