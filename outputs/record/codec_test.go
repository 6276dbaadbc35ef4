package record

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// Parameter sets of a real encoder: x265 at 320x240.
var (
	h265VPS = []byte{0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00,
		0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x92, 0x80, 0x90}
	h265SPS = []byte{0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
		0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x2a, 0x49,
		0x32, 0xbc, 0x05, 0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0xc1}
	h265PPS = []byte{0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40}
	// av1SeqHeader is an AV1 sequence header OBU (without a size field).
	av1SeqHeader = []byte{8, 0, 0, 0, 66, 167, 191, 228, 96, 13, 0, 64}
	// vp9Key is the start of a VP9 keyframe from Chrome (1920x804).
	vp9Key = []byte{0x82, 0x49, 0x83, 0x42, 0x00, 0x77, 0xf0, 0x32, 0x34, 0x30, 0x38, 0x24,
		0x1c, 0x19, 0x40, 0x18, 0x03, 0x40, 0x5f, 0xb4}
)

// TestInitSegmentOfEveryCodec: every codec the relay carries (but VP8) makes an init segment
// that reads back with the same codec.
func TestInitSegmentOfEveryCodec(t *testing.T) {
	h264, err := relay.NewH264Track(testutil.SPS720(), testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	h265, err := relay.NewH265Track(h265VPS, h265SPS, h265PPS)
	if err != nil {
		t.Fatal(err)
	}
	aac, err := relay.NewAACTrack(testutil.ASC())
	if err != nil {
		t.Fatal(err)
	}
	av1 := &relay.Track{Codec: relay.AV1}
	vp9 := &relay.Track{Codec: relay.VP9}
	for _, tt := range []struct {
		track *relay.Track
		key   *relay.Frame
		want  string
	}{
		{h264, nil, "*codecs.H264"},
		{h265, nil, "*codecs.H265"},
		{av1, &relay.Frame{Track: av1, Key: true, Units: [][]byte{av1SeqHeader, {0x32, 0x00}}}, "*codecs.AV1"},
		{vp9, &relay.Frame{Track: vp9, Key: true, Units: [][]byte{vp9Key}}, "*codecs.VP9"},
		{aac, nil, "*codecs.MPEG4Audio"},
		{relay.NewOpusTrack(2), nil, "*codecs.Opus"},
	} {
		t.Run(string(tt.track.Codec), func(t *testing.T) {
			c, err := fmp4Codec(tt.track, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: timeScale(tt.track), Codec: c}}}
			var buf seekablebuffer.Buffer
			if err := init.Marshal(&buf); err != nil {
				t.Fatal(err)
			}
			var back fmp4.Init
			if err := back.Unmarshal(bytes.NewReader(buf.Bytes())); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%T", back.Tracks[0].Codec); got != tt.want {
				t.Errorf("read back %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := fmp4Codec(&relay.Track{Codec: relay.VP8}, nil); err == nil {
		t.Errorf("VP8 made an init segment")
	}
	if _, err := fmp4Codec(av1, &relay.Frame{Track: av1, Units: [][]byte{{0x32, 0x00}}}); err == nil {
		t.Errorf("AV1 without a sequence header made an init segment")
	}
}
