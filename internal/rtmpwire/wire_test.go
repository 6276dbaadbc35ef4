package rtmpwire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

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
)

const ms = time.Millisecond

// NAL units whose type is all that matters here.
func h264IDR(n int) []byte   { return nal(0x65, n) }
func h264Slice(n int) []byte { return nal(0x41, n) }
func h265IDR(n int) []byte   { return nal2(0x26, n) } // IDR_W_RADL
func h265Trail(n int) []byte { return nal2(0x02, n) } // TRAIL_R

func nal(hdr byte, n int) []byte {
	b := make([]byte, n)
	b[0] = hdr
	for i := 1; i < n; i++ {
		b[i] = byte(i*7 + n)
	}
	return b
}

func nal2(hdr byte, n int) []byte {
	b := nal(hdr, n)
	if n > 1 {
		b[1] = 0x01
	}
	return b
}

func h264Track(t testing.TB, sps []byte) *relay.Track {
	t.Helper()
	tr, err := relay.NewH264Track(sps, testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func h265Track(t testing.TB) *relay.Track {
	t.Helper()
	tr, err := relay.NewH265Track(h265VPS, h265SPS, h265PPS)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func aacTrack(t testing.TB) *relay.Track {
	t.Helper()
	tr, err := relay.NewAACTrack(testutil.ASC())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func opusTrack() *relay.Track {
	return &relay.Track{Codec: relay.Opus, SampleRate: 48000, Channels: 2}
}

// chunkSizePrefix is a SetChunkSize message as a peer receives it at the start of a session,
// chunked at the protocol's initial size of 128, so that a fresh reader reads prepared bytes
// at ChunkSize.
func chunkSizePrefix() []byte {
	var buf bytes.Buffer
	w := message.NewWriter(&buf, bytecounter.NewWriter(io.Discard), false)
	if err := w.Write(&message.SetChunkSize{Value: ChunkSize}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// readMessages parses prepared bytes with gortmplib's reader, as a peer that was told the
// chunk size does.
func readMessages(b []byte) ([]message.Message, error) {
	br := bytecounter.NewReader(io.MultiReader(bytes.NewReader(chunkSizePrefix()), bytes.NewReader(b)))
	r := message.NewReader(br, br, nil)
	var out []message.Message
	first := true
	for {
		m, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if first {
			first = false
			if _, ok := m.(*message.SetChunkSize); ok {
				continue
			}
		}
		out = append(out, m)
	}
}

func mustReadMessages(t testing.TB, b []byte) []message.Message {
	t.Helper()
	msgs, err := readMessages(b)
	if err != nil {
		t.Fatalf("gortmplib cannot read the prepared bytes: %v (after %d messages)", err, len(msgs))
	}
	return msgs
}

// readRaw parses prepared bytes into raw messages (header fields and body bytes).
func readRaw(b []byte) ([]*rawmessage.Message, error) {
	br := bytecounter.NewReader(bytes.NewReader(b))
	r := rawmessage.NewReader(br, br, nil)
	if err := r.SetChunkSize(ChunkSize); err != nil {
		return nil, err
	}
	var out []*rawmessage.Message
	for {
		m, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func mustFrameBytes(t testing.TB, f *relay.Frame) []byte {
	t.Helper()
	b, err := FrameBytes(f)
	if err != nil {
		t.Fatalf("FrameBytes: %v", err)
	}
	return b
}

// decodedPayload returns what a player decodes from a media message: the NAL units or OBUs for
// video, the frame for audio; key is the keyframe flag of legacy video messages (-1 otherwise).
func decodedPayload(t testing.TB, m message.Message) (dts, ptsDelta time.Duration, units [][]byte, key int) {
	t.Helper()
	avcc := func(b []byte) [][]byte {
		var au h264.AVCC
		if err := au.Unmarshal(b); err != nil {
			t.Fatalf("AVCC: %v", err)
		}
		return au
	}
	switch m := m.(type) {
	case *message.Video:
		key = 0
		if m.IsKeyFrame {
			key = 1
		}
		return m.DTS, m.PTSDelta, avcc(m.AU), key
	case *message.VideoExFramesX:
		switch m.FourCC {
		case message.FourCCHEVC:
			return m.DTS, 0, avcc(m.Payload), -1
		case message.FourCCAV1:
			var bs av1.Bitstream
			if err := bs.Unmarshal(m.Payload); err != nil {
				t.Fatalf("AV1 bitstream: %v", err)
			}
			return m.DTS, 0, bs, -1
		}
		return m.DTS, 0, [][]byte{m.Payload}, -1
	case *message.VideoExCodedFrames:
		return m.DTS, m.PTSDelta, avcc(m.Payload), -1
	case *message.Audio:
		return m.DTS, 0, [][]byte{m.AU}, -1
	case *message.AudioExCodedFrames:
		return m.DTS, 0, [][]byte{m.Payload}, -1
	}
	t.Fatalf("not a media message: %T", m)
	return 0, 0, nil, -1
}

func equalUnits(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// frameCase is one frame and what a peer must read back from its prepared bytes.
type frameCase struct {
	name  string
	frame func(t testing.TB) *relay.Frame
	// msgType is the gortmplib message type the frame parses as.
	msgType string
	// enhancedKey is the enhanced-RTMP frame type the bytes must carry (1 key, 2 inter), or 0
	// for legacy messages.
	enhancedKey byte
	// wantUnits, when set, is what decodes (AV1 gains a temporal delimiter); else f.Units.
	wantUnits func(f *relay.Frame) [][]byte
}

func frameCases() []frameCase {
	v := func(key bool, dts, pts time.Duration, units ...[]byte) func(t testing.TB) *relay.Frame {
		return func(t testing.TB) *relay.Frame {
			return &relay.Frame{Track: h264Track(t, testutil.SPS720()), DTS: dts, PTS: pts, Key: key, Units: units}
		}
	}
	hv := func(key bool, dts, pts time.Duration, units ...[]byte) func(t testing.TB) *relay.Frame {
		return func(t testing.TB) *relay.Frame {
			return &relay.Frame{Track: h265Track(t), DTS: dts, PTS: pts, Key: key, Units: units}
		}
	}
	// Just past the 24-bit timestamp field: 4 h 39 min 37.215 s.
	const ext = time.Duration(0xffffff) * ms
	return []frameCase{
		{name: "h264 keyframe at 0", frame: v(true, 0, 0, h264IDR(3000)), msgType: "*message.Video"},
		{name: "h264 parameter sets and IDR", frame: v(true, 40*ms, 40*ms, testutil.SPS720(), testutil.PPS(), h264IDR(500)), msgType: "*message.Video"},
		{name: "h264 P frame", frame: v(false, 1033*ms, 1033*ms, h264Slice(700)), msgType: "*message.Video"},
		{name: "h264 B-frame reordering", frame: v(false, 1000*ms, 1066*ms, h264Slice(300)), msgType: "*message.Video"},
		{name: "h264 sub-millisecond timestamps", frame: v(false, 33366*time.Microsecond, 100100*time.Microsecond, h264Slice(10)), msgType: "*message.Video"},
		{name: "h264 timestamp just below extended", frame: v(true, ext-ms, ext-ms, h264IDR(100)), msgType: "*message.Video"},
		{name: "h264 timestamp exactly 0xffffff ms", frame: v(true, ext, ext, h264IDR(100)), msgType: "*message.Video"},
		{name: "h264 extended timestamp (5 h)", frame: v(false, 5*time.Hour, 5*time.Hour+66*ms, h264Slice(100)), msgType: "*message.Video"},
		{name: "h264 200 kB keyframe (4 chunks)", frame: v(true, 2*time.Second, 2*time.Second, h264IDR(200_000)), msgType: "*message.Video"},
		{name: "h264 200 kB keyframe, extended timestamp", frame: v(true, 6*time.Hour, 6*time.Hour+33*ms, h264IDR(200_000)), msgType: "*message.Video"},
		{name: "h264 payload of exactly one chunk", frame: v(true, 0, 0, h264IDR(ChunkSize-5-4)), msgType: "*message.Video"},
		{name: "h264 payload of one chunk and a byte", frame: v(true, 0, 0, h264IDR(ChunkSize-5-4+1)), msgType: "*message.Video"},
		{
			name: "aac", msgType: "*message.Audio",
			frame: func(t testing.TB) *relay.Frame {
				return &relay.Frame{Track: aacTrack(t), DTS: 21 * ms, PTS: 21 * ms, Key: true, Units: [][]byte{nal(0x21, 371)}}
			},
		},
		{
			name: "aac extended timestamp", msgType: "*message.Audio",
			frame: func(t testing.TB) *relay.Frame {
				return &relay.Frame{Track: aacTrack(t), DTS: 7 * time.Hour, PTS: 7 * time.Hour, Key: true, Units: [][]byte{nal(0x21, 371)}}
			},
		},
		{
			name: "opus", msgType: "*message.AudioExCodedFrames",
			frame: func(testing.TB) *relay.Frame {
				return &relay.Frame{Track: opusTrack(), DTS: 20 * ms, PTS: 20 * ms, Key: true, Units: [][]byte{nal(0xfc, 120)}}
			},
		},
		{name: "h265 keyframe", frame: hv(true, 0, 0, h265IDR(4000)), msgType: "*message.VideoExFramesX", enhancedKey: 1},
		{name: "h265 inter frame", frame: hv(false, 33*ms, 33*ms, h265Trail(800)), msgType: "*message.VideoExFramesX", enhancedKey: 2},
		{name: "h265 B-frame reordering", frame: hv(false, 66*ms, 133*ms, h265Trail(200)), msgType: "*message.VideoExCodedFrames", enhancedKey: 2},
		{name: "h265 keyframe with reordering", frame: hv(true, 0, 66*ms, h265VPS, h265SPS, h265PPS, h265IDR(900)), msgType: "*message.VideoExCodedFrames", enhancedKey: 1},
		{name: "h265 keyframe, extended timestamp", frame: hv(true, 5*time.Hour, 5*time.Hour, h265IDR(100)), msgType: "*message.VideoExFramesX", enhancedKey: 1},
		{name: "h265 inter frame, extended timestamp, reordering", frame: hv(false, 5*time.Hour, 5*time.Hour+40*ms, h265Trail(100)), msgType: "*message.VideoExCodedFrames", enhancedKey: 2},
		{name: "h265 150 kB keyframe, extended timestamp", frame: hv(true, 9*time.Hour, 9*time.Hour, h265IDR(150_000)), msgType: "*message.VideoExFramesX", enhancedKey: 1},
		{
			name: "av1 keyframe", msgType: "*message.VideoExFramesX", enhancedKey: 1,
			frame: func(testing.TB) *relay.Frame {
				// A sequence header OBU and a frame OBU, both without obu_size.
				return &relay.Frame{Track: &relay.Track{Codec: relay.AV1}, DTS: 100 * ms, PTS: 100 * ms, Key: true,
					Units: [][]byte{{0x08, 0x00, 0x00, 0x00, 0x42, 0xab}, nal(0x30, 300)}}
			},
			wantUnits: func(f *relay.Frame) [][]byte {
				return append([][]byte{{byte(av1.OBUTypeTemporalDelimiter << 3)}}, f.Units...)
			},
		},
		{
			name: "vp9 inter frame", msgType: "*message.VideoExFramesX", enhancedKey: 2,
			frame: func(testing.TB) *relay.Frame {
				return &relay.Frame{Track: &relay.Track{Codec: relay.VP9}, DTS: 100 * ms, PTS: 100 * ms, Units: [][]byte{nal(0x86, 300)}}
			},
		},
	}
}

// checkFrameBytes checks that b, the prepared bytes of f, parse back as one message carrying
// f's timestamps, keyframe flag and payload.
func checkFrameBytes(t testing.TB, tc frameCase, f *relay.Frame, b []byte) {
	t.Helper()
	if len(b) == 0 || b[0]>>6 != 0 {
		t.Fatalf("prepared bytes do not start with a type 0 chunk header: % x", b[:min(len(b), 16)])
	}
	wantTS := f.DTS
	if f.Track.Codec == relay.AV1 || f.Track.Codec == relay.VP9 || f.Track.Codec == relay.Opus {
		wantTS = f.PTS // no decoding order for these over RTMP
	}
	wantTS = wantTS.Truncate(ms) % (1 << 32 * ms)
	if got := timestampOf(b); got != wantTS {
		t.Errorf("timestampOf = %v, want %v", got, wantTS)
	}

	msgs := mustReadMessages(t, b)
	if len(msgs) != 1 {
		t.Fatalf("parsed %d messages, want 1: %#v", len(msgs), msgs)
	}
	m := msgs[0]
	if got := fmt.Sprintf("%T", m); got != tc.msgType {
		t.Fatalf("message type %s, want %s", got, tc.msgType)
	}
	dts, delta, units, key := decodedPayload(t, m)
	if dts != wantTS {
		t.Errorf("DTS %v, want %v", dts, wantTS)
	}
	if f.Track.Codec == relay.H264 || f.Track.Codec == relay.H265 {
		if want := (f.PTS - f.DTS).Truncate(ms); delta != want {
			t.Errorf("composition offset %v, want %v", delta, want)
		}
	}
	if key >= 0 && (key == 1) != f.Key {
		t.Errorf("keyframe flag %v, want %v", key == 1, f.Key)
	}
	want := f.Units
	if tc.wantUnits != nil {
		want = tc.wantUnits(f)
	}
	if !equalUnits(units, want) {
		t.Errorf("payload differs: got %d units (%d bytes), want %d units (%d bytes)",
			len(units), size(units), len(want), size(want))
	}

	raws, err := readRaw(b)
	if err != nil || len(raws) != 1 {
		t.Fatalf("raw read: %d messages, %v", len(raws), err)
	}
	raw := raws[0]
	if raw.MessageStreamID != messageStreamID {
		t.Errorf("message stream ID %#x, want %#x", raw.MessageStreamID, messageStreamID)
	}
	wantCS := byte(message.VideoChunkStreamID)
	if f.Track.Kind() == relay.Audio {
		wantCS = message.AudioChunkStreamID
	}
	if raw.ChunkStreamID != wantCS {
		t.Errorf("chunk stream %d, want %d", raw.ChunkStreamID, wantCS)
	}
	if tc.enhancedKey != 0 {
		if raw.Body[0]&0x80 == 0 {
			t.Fatalf("not an enhanced-RTMP video message: first body byte %#x", raw.Body[0])
		}
		if ft := raw.Body[0] >> 4 & 0x07; ft != tc.enhancedKey {
			t.Errorf("enhanced-RTMP frame type %d, want %d (1 key, 2 inter)", ft, tc.enhancedKey)
		}
	}
	// The chunk headers add up: one 12-byte type 0 header (16 with an extended timestamp),
	// then one 1-byte type 3 header (5) per further chunk.
	hdr, cont := 12, 1
	if wantTS >= 0xffffff*ms {
		hdr, cont = 16, 5
	}
	chunks := (len(raw.Body) + ChunkSize - 1) / ChunkSize
	if want := hdr + (chunks-1)*cont + len(raw.Body); len(b) != want {
		t.Errorf("%d bytes for a %d-byte body in %d chunks, want %d", len(b), len(raw.Body), chunks, want)
	}
}

func size(units [][]byte) int {
	n := 0
	for _, u := range units {
		n += len(u)
	}
	return n
}

func TestFrameBytes(t *testing.T) {
	for _, tc := range frameCases() {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.frame(t)
			b := mustFrameBytes(t, f)
			checkFrameBytes(t, tc, f, b)

			// Built once: every caller gets the very same bytes.
			b2 := mustFrameBytes(t, f)
			if len(b2) != len(b) || &b2[0] != &b[0] {
				t.Error("second FrameBytes call returned another slice: not memoised")
			}
		})
	}
}

func TestFrameBytesUnsupported(t *testing.T) {
	f := &relay.Frame{Track: &relay.Track{Codec: relay.VP8}, Key: true, Units: [][]byte{{1, 2, 3}}}
	if _, err := FrameBytes(f); err == nil {
		t.Error("FrameBytes of a VP8 frame succeeded")
	}
	if _, err := TrackHeader(f.Track); err == nil {
		t.Error("TrackHeader of a VP8 track succeeded")
	}
	if Supported(relay.VP8) || !Supported(relay.H264) || !Supported(relay.Opus) {
		t.Error("Supported disagrees with FrameBytes")
	}
}

func TestTrackHeader(t *testing.T) {
	tests := []struct {
		name  string
		track func(t testing.TB) *relay.Track
		check func(t *testing.T, m message.Message)
	}{
		{
			name:  "h264",
			track: func(t testing.TB) *relay.Track { return h264Track(t, testutil.SPS720()) },
			check: func(t *testing.T, m message.Message) {
				v, ok := m.(*message.Video)
				if !ok || v.Type != message.VideoTypeConfig || v.Codec != message.CodecH264 {
					t.Fatalf("got %#v, want an AVC sequence header", m)
				}
				c := v.AVCConfig
				if len(c.SequenceParameterSets) != 1 || !bytes.Equal(c.SequenceParameterSets[0].NALUnit, testutil.SPS720()) ||
					len(c.PictureParameterSets) != 1 || !bytes.Equal(c.PictureParameterSets[0].NALUnit, testutil.PPS()) {
					t.Errorf("avcC does not carry the SPS and PPS: %+v", c)
				}
			},
		},
		{
			name:  "h265",
			track: func(t testing.TB) *relay.Track { return h265Track(t) },
			check: func(t *testing.T, m message.Message) {
				v, ok := m.(*message.VideoExSequenceStart)
				if !ok || v.FourCC != message.FourCCHEVC || v.HEVCConfig == nil {
					t.Fatalf("got %#v, want an HEVC sequence start", m)
				}
				var got [][]byte
				for _, a := range v.HEVCConfig.NaluArrays {
					for _, n := range a.Nalus {
						got = append(got, n.NALUnit)
					}
				}
				if !equalUnits(got, [][]byte{h265VPS, h265SPS, h265PPS}) {
					t.Errorf("hvcC does not carry the VPS, SPS and PPS")
				}
			},
		},
		{
			name:  "aac",
			track: func(t testing.TB) *relay.Track { return aacTrack(t) },
			check: func(t *testing.T, m message.Message) {
				a, ok := m.(*message.Audio)
				if !ok || a.Codec != message.CodecMPEG4Audio || a.AACType != message.AudioAACTypeConfig || a.AACConfig == nil {
					t.Fatalf("got %#v, want an AAC sequence header", m)
				}
				if a.AACConfig.SampleRate != 48000 || a.AACConfig.ChannelConfig != 2 {
					t.Errorf("AudioSpecificConfig = %+v", a.AACConfig)
				}
			},
		},
		{
			name:  "opus",
			track: func(testing.TB) *relay.Track { return opusTrack() },
			check: func(t *testing.T, m message.Message) {
				a, ok := m.(*message.AudioExSequenceStart)
				if !ok || a.FourCC != message.FourCCOpus || a.OpusConfig == nil || a.OpusConfig.ChannelCount != 2 {
					t.Fatalf("got %#v, want an Opus sequence start with 2 channels", m)
				}
			},
		},
		{
			name:  "av1",
			track: func(testing.TB) *relay.Track { return &relay.Track{Codec: relay.AV1} },
			check: func(t *testing.T, m message.Message) {
				if v, ok := m.(*message.VideoExSequenceStart); !ok || v.FourCC != message.FourCCAV1 {
					t.Fatalf("got %#v, want an AV1 sequence start", m)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tt.track(t)
			b, err := TrackHeader(tr)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) == 0 || b[0]>>6 != 0 {
				t.Fatal("sequence header does not start with a type 0 chunk header")
			}
			msgs := mustReadMessages(t, b)
			if len(msgs) != 1 {
				t.Fatalf("parsed %d messages, want 1 (no metadata): %#v", len(msgs), msgs)
			}
			tt.check(t, msgs[0])
			b2, _ := TrackHeader(tr)
			if &b2[0] != &b[0] {
				t.Error("TrackHeader not memoised")
			}
		})
	}
}

// TestTrackHeaderEnhancedFrameType: enhanced-RTMP sequence starts carry the keyframe frame type,
// as FFmpeg (flvenc: FLV_IS_EX_HEADER | PacketTypeSequenceStart | FLV_FRAME_KEY) and OBS write
// them; 0 is a reserved value.
func TestTrackHeaderEnhancedFrameType(t *testing.T) {
	for _, tr := range []*relay.Track{h265Track(t), {Codec: relay.AV1}, {Codec: relay.VP9}} {
		b, err := TrackHeader(tr)
		if err != nil {
			t.Fatal(err)
		}
		raws, err := readRaw(b)
		if err != nil || len(raws) != 1 {
			t.Fatalf("%s: %d messages, %v", tr.Codec, len(raws), err)
		}
		if ft := raws[0].Body[0] >> 4 & 0x07; ft != 1 {
			t.Errorf("%s sequence start: frame type %d, want 1", tr.Codec, ft)
		}
	}
}

func TestMetadata(t *testing.T) {
	b, err := Metadata(h264Track(t, testutil.SPS720()), aacTrack(t), 29.97)
	if err != nil {
		t.Fatal(err)
	}
	msgs := mustReadMessages(t, b)
	if len(msgs) != 1 {
		t.Fatalf("parsed %d messages, want 1", len(msgs))
	}
	d, ok := msgs[0].(*message.DataAMF0)
	if !ok {
		t.Fatalf("got %T, want an AMF0 data message", msgs[0])
	}
	if len(d.Payload) != 3 || d.Payload[0] != "@setDataFrame" || d.Payload[1] != "onMetaData" {
		t.Fatalf("payload = %#v, want @setDataFrame onMetaData {...}", d.Payload)
	}
	md, ok := d.Payload[2].(amf0.Object)
	if !ok {
		t.Fatalf("metadata is %T, want an object", d.Payload[2])
	}
	for _, want := range []struct {
		key string
		val any
	}{
		{"width", 1280.0}, {"height", 720.0}, {"framerate", 29.97},
		{"videocodecid", float64(message.CodecH264)}, {"audiocodecid", float64(message.CodecMPEG4Audio)},
		{"audiosamplerate", 48000.0}, {"stereo", true},
	} {
		if got, ok := md.Get(want.key); !ok || got != want.val {
			t.Errorf("metadata %s = %v (present %v), want %v", want.key, got, ok, want.val)
		}
	}

	// Audio only, and an H.265 video with Opus.
	if b, err = Metadata(nil, aacTrack(t), 0); err != nil {
		t.Fatal(err)
	}
	md = mustReadMessages(t, b)[0].(*message.DataAMF0).Payload[2].(amf0.Object)
	if _, ok := md.Get("width"); ok {
		t.Error("audio-only metadata has a width")
	}
	if b, err = Metadata(h265Track(t), opusTrack(), 30); err != nil {
		t.Fatal(err)
	}
	md = mustReadMessages(t, b)[0].(*message.DataAMF0).Payload[2].(amf0.Object)
	if w, _ := md.GetFloat64("width"); w != 320 {
		t.Errorf("H.265 metadata width = %v, want 320", w)
	}
}

// msgConn is a gortmplib.Conn reading from prepared bytes, to let gortmplib's Reader decode
// them as a player would.
type msgConn struct{ r *message.Reader }

func (c *msgConn) BytesReceived() uint64          { return 0 }
func (c *msgConn) BytesSent() uint64              { return 0 }
func (c *msgConn) Read() (message.Message, error) { return c.r.Read() }
func (c *msgConn) Write(message.Message) error    { return nil }
func newMsgConn(b []byte) *msgConn                { return &msgConn{r: newReader(b)} }
func newReader(b []byte) *message.Reader          { return message.NewReader(counted(b), counted(nil), nil) }
func counted(b []byte) *bytecounter.Reader        { return bytecounter.NewReader(bytes.NewReader(b)) }

var _ gortmplib.Conn = (*msgConn)(nil)

// TestPreparedStreamDecodes publishes a stream through the relay, concatenates what a sender
// writes (metadata, sequence headers, prepared frames) and lets gortmplib's Reader, as used by
// players and servers, find the tracks and decode every frame.
func TestPreparedStreamDecodes(t *testing.T) {
	st := relay.NewStream(relay.StreamOptions{Name: "test", PublishKey: "k", RingSize: 4096})
	defer st.Stop()
	p := st.Publish(relay.SourceInfo{Protocol: "test"})
	video, err := p.SetTrack(h264Track(t, testutil.SPS720()))
	if err != nil {
		t.Fatal(err)
	}
	audio, err := p.SetTrack(aacTrack(t))
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.Subscribe(relay.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	// 3 s at 30 fps with B-frames (PTS 2 frames after DTS), starting at an arbitrary
	// publisher timestamp that the relay rebases; AAC alongside.
	const start = 7 * time.Hour
	step, astep := time.Second/30, 1024*time.Second/48000
	var published []*relay.Frame
	for nv, na := 0, 0; nv < 90; {
		vd, ad := time.Duration(nv)*step, time.Duration(na)*astep
		var f *relay.Frame
		if vd <= ad {
			key := nv%30 == 0
			u := h264Slice(100 + nv)
			if key {
				u = h264IDR(1000 + nv)
			}
			f = &relay.Frame{Track: video, DTS: start + vd, PTS: start + vd + 2*step, Key: key, Units: [][]byte{u}}
			nv++
		} else {
			f = &relay.Frame{Track: audio, DTS: start + ad, PTS: start + ad, Key: true, Units: [][]byte{nal(0x21, 200+na)}}
			na++
		}
		if err := p.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
		published = append(published, f)
	}

	md, err := Metadata(video, audio, 30)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	all.Write(chunkSizePrefix())
	all.Write(md)
	var sent [2]*relay.Track
	for range published {
		f, ok := r.TryNext()
		if !ok {
			t.Fatal("reader ran out of frames")
		}
		if k := f.Track.Kind(); sent[k] != f.Track {
			h, err := TrackHeader(f.Track)
			if err != nil {
				t.Fatal(err)
			}
			all.Write(h)
			sent[k] = f.Track
		}
		all.Write(mustFrameBytes(t, f))
	}

	gr := &gortmplib.Reader{Conn: newMsgConn(all.Bytes())}
	if err := gr.Initialize(); err != nil {
		t.Fatalf("gortmplib Reader: %v", err)
	}
	tracks := gr.Tracks()
	if len(tracks) != 2 {
		t.Fatalf("gortmplib found %d tracks, want 2", len(tracks))
	}
	type got struct {
		kind     relay.Kind
		pts, dts time.Duration
		units    [][]byte
	}
	var frames []got
	for _, tr := range tracks {
		switch c := tr.Codec.(type) {
		case *codecs.H264:
			if !bytes.Equal(c.SPS, testutil.SPS720()) || !bytes.Equal(c.PPS, testutil.PPS()) {
				t.Error("H.264 track parameters differ")
			}
			gr.OnDataH264(tr, func(pts, dts time.Duration, au [][]byte) {
				if equalUnits(au, [][]byte{testutil.SPS720(), testutil.PPS()}) {
					return // the sequence header, replayed as parameter sets
				}
				frames = append(frames, got{relay.Video, pts, dts, au})
			})
		case *codecs.MPEG4Audio:
			if c.Config.SampleRate != 48000 || c.Config.ChannelConfig != 2 {
				t.Errorf("AAC config %+v", c.Config)
			}
			gr.OnDataMPEG4Audio(tr, func(pts time.Duration, au []byte) {
				frames = append(frames, got{relay.Audio, pts, pts, [][]byte{au}})
			})
		default:
			t.Fatalf("unexpected track %T", tr.Codec)
		}
	}
	for {
		if err := gr.Read(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
	}
	if len(frames) != len(published) {
		t.Fatalf("decoded %d frames, published %d", len(frames), len(published))
	}
	for i, f := range published {
		g := frames[i]
		if g.kind != f.Track.Kind() || g.dts != f.DTS.Truncate(ms) || g.pts != f.DTS.Truncate(ms)+(f.PTS-f.DTS).Truncate(ms) ||
			!equalUnits(g.units, f.Units) {
			t.Fatalf("frame %d: decoded %v dts %v pts %v, published dts %v pts %v", i, g.kind, g.dts, g.pts, f.DTS, f.PTS)
		}
	}
	if published[0].DTS > time.Second {
		t.Errorf("relay did not rebase: first DTS %v", published[0].DTS)
	}
}

// fuzzCodecs are the codecs FuzzFrameBytesRoundTrip builds frames of.
var fuzzCodecs = []relay.Codec{relay.H264, relay.H265, relay.AAC, relay.Opus, relay.AV1, relay.VP9}

func fuzzFrame(t testing.TB, codec byte, payload []byte, dtsMicros uint64, ptsOffsetMicros uint32, key bool, split uint8) (*relay.Frame, frameCase, bool) {
	c := fuzzCodecs[int(codec)%len(fuzzCodecs)]
	dts := time.Duration(dtsMicros) * time.Microsecond
	off := time.Duration(ptsOffsetMicros) * time.Microsecond
	// Invalid by construction: negative or wrapping timestamps (RTMP has 32 bits of
	// milliseconds, composition offsets 23 bits), empty payloads.
	if dtsMicros > uint64(1<<32-1)*1000 || dts < 0 || off >= (1<<23)*ms || len(payload) == 0 {
		return nil, frameCase{}, false
	}
	tc := frameCase{}
	f := &relay.Frame{DTS: dts, PTS: dts + off, Key: key}
	splitUnits := func(hdr byte) [][]byte {
		// Split the payload into up to 4 NAL units, each starting with a valid header.
		n := int(split%4) + 1
		var units [][]byte
		for i := range n {
			part := payload[i*len(payload)/n : (i+1)*len(payload)/n]
			if len(part) == 0 {
				continue
			}
			units = append(units, append([]byte{hdr, 0x01}, part...))
		}
		return units
	}
	switch c {
	case relay.H264:
		f.Track = h264Track(t, testutil.SPS720())
		f.Units = splitUnits(0x41)
		tc.msgType = "*message.Video"
	case relay.H265:
		f.Track = h265Track(t)
		f.Units = splitUnits(0x02)
		tc.msgType = "*message.VideoExCodedFrames"
		if off == 0 {
			tc.msgType = "*message.VideoExFramesX"
		}
		tc.enhancedKey = 2
		if key {
			tc.enhancedKey = 1
		}
	case relay.AAC:
		f.Track = aacTrack(t)
		f.Units, f.PTS, f.Key = [][]byte{payload}, dts, true
		tc.msgType = "*message.Audio"
	case relay.Opus:
		f.Track = opusTrack()
		f.Units, f.PTS, f.Key = [][]byte{payload}, dts, true
		tc.msgType = "*message.AudioExCodedFrames"
	case relay.AV1:
		f.Track = &relay.Track{Codec: relay.AV1}
		// Frame OBUs whose headers have no obu_size.
		f.Units, f.PTS = splitUnits(0x30), dts
		tc.msgType = "*message.VideoExFramesX"
		tc.enhancedKey = 2
		if key {
			tc.enhancedKey = 1
		}
		tc.wantUnits = func(f *relay.Frame) [][]byte {
			return append([][]byte{{byte(av1.OBUTypeTemporalDelimiter << 3)}}, f.Units...)
		}
	case relay.VP9:
		f.Track = &relay.Track{Codec: relay.VP9}
		f.Units, f.PTS = [][]byte{payload}, dts
		tc.msgType = "*message.VideoExFramesX"
		tc.enhancedKey = 2
		if key {
			tc.enhancedKey = 1
		}
	}
	return f, tc, true
}

// FuzzFrameBytesRoundTrip checks that whatever a publisher sends, the prepared bytes parse back
// as one message with the frame's payload, timestamps and keyframe flag.
func FuzzFrameBytesRoundTrip(f *testing.F) {
	for i, tc := range frameCases() {
		fr := tc.frame(f)
		codec := slices.Index(fuzzCodecs, fr.Track.Codec)
		payload := bytes.Join(fr.Units, nil)
		if len(payload) > 4096 {
			payload = payload[:4096]
		}
		f.Add(byte(codec), payload, uint64(fr.DTS/time.Microsecond), uint32((fr.PTS-fr.DTS)/time.Microsecond), fr.Key, uint8(i))
	}
	f.Add(byte(0), make([]byte, 70000), uint64(0xffffff*1000), uint32(0), true, uint8(3))
	f.Fuzz(func(t *testing.T, codec byte, payload []byte, dtsMicros uint64, ptsOffsetMicros uint32, key bool, split uint8) {
		fr, tc, ok := fuzzFrame(t, codec, payload, dtsMicros, ptsOffsetMicros, key, split)
		if !ok {
			t.Skip("invalid by construction")
		}
		b := mustFrameBytes(t, fr)
		checkFrameBytes(t, tc, fr, b)
	})
}
