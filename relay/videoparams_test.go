package relay

import "testing"

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
		{"SPS alone: not complete yet", [][]byte{sps720}, false, false, 0, false},
		{"PPS completes the set", [][]byte{testPPS, sei}, false, true, 1280, false},
		{"keyframe with the same sets", [][]byte{sps720, testPPS, idr}, true, false, 1280, false},
		{"new SPS: a new track (the phone rotated)", [][]byte{sps360, testPPS, idr}, true, true, 640, false},
		{"invalid SPS is reported, the track kept", [][]byte{{0x67, 0xff}, testPPS, idr}, true, false, 640, true},
		{"back to 720p", [][]byte{sps720, idr}, true, true, 1280, false},
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
	if !v.IsKey([][]byte{sps720, testPPS, idr}) || v.IsKey([][]byte{p}) {
		t.Error("IsKey: an IDR is a keyframe, a P frame is not")
	}
}

// A track known from elsewhere (an RTMP sequence header, an SDP) is kept while the stream
// repeats the same parameter sets, even one at a time.
func TestVideoParamsKnownTrack(t *testing.T) {
	tr, err := NewH264Track(sps720, testPPS)
	if err != nil {
		t.Fatal(err)
	}
	v := VideoParams{Codec: H264, Track: tr}
	for _, au := range [][][]byte{{testPPS, {0x65}}, {sps720, {0x65}}, {sps720, testPPS, {0x65}}} {
		if _, changed, err := v.Update(au); changed || err != nil || v.Track != tr {
			t.Fatalf("Update(%x): changed %v err %v", au, changed, err)
		}
	}
}
