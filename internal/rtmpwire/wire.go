package rtmpwire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/beffroi/beffroi/relay"
)

// ChunkSize is the outgoing chunk size gortmplib announces on every connection it sets up,
// client or server side; prepared bytes are chunked with it.
const ChunkSize = 65536

// messageStreamID is the message stream gortmplib's publish and play sessions use (it writes
// the little-endian stream id 1 as this value).
const messageStreamID = 0x1000000

// The frame memo's keys: identities made once per process, like context keys, so that every
// connection finds the bytes the first one made.
var (
	frameKey  = relay.NewMemoKey("rtmp-frame")  //nolint:gochecknoglobals // an identity, never changed
	headerKey = relay.NewMemoKey("rtmp-header") //nolint:gochecknoglobals // an identity, never changed
)

// prepared is a frame or header in RTMP bytes, or the reason it cannot be sent over RTMP.
type prepared struct {
	b   []byte
	err error
}

// FrameBytes returns f as RTMP chunks, built once per frame and shared by every caller.
func FrameBytes(f *relay.Frame) ([]byte, error) {
	p := f.Memo(frameKey, func(f *relay.Frame) any {
		b, err := buildFrame(f)
		return prepared{b, err}
	}).(prepared)
	return p.b, p.err
}

// TrackHeader returns the RTMP sequence header (decoder configuration) of t, built once per
// track. It is nil for codecs that have none.
func TrackHeader(t *relay.Track) ([]byte, error) {
	p := t.Memo(headerKey, func(t *relay.Track) any {
		b, err := buildHeader(t)
		return prepared{b, err}
	}).(prepared)
	return p.b, p.err
}

// Supported reports whether RTMP can carry the codec.
func Supported(c relay.Codec) bool {
	switch c {
	case relay.H264, relay.H265, relay.AV1, relay.VP9, relay.AAC, relay.Opus:
		return true
	}
	return false
}

// Serialize chunks messages the way prepared frames are: for writing through a Conn while
// gortmplib's own writer belongs to another goroutine.
func Serialize(msgs ...message.Message) ([]byte, error) { return serialize(msgs...) }

// serialize chunks messages with a fresh writer, so that each starts with a type 0 header.
func serialize(msgs ...message.Message) ([]byte, error) {
	var buf bytes.Buffer
	w := message.NewWriter(&buf, bytecounter.NewWriter(io.Discard), false)
	if err := w.Write(&message.SetChunkSize{Value: ChunkSize}); err != nil {
		return nil, err
	}
	buf.Reset()
	for _, m := range msgs {
		if err := w.Write(m); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

func buildFrame(f *relay.Frame) ([]byte, error) {
	var msg message.Message
	pts, dts := f.PTS, f.DTS
	enhancedKey := -1 // for enhanced-RTMP video: whether to flag the frame as a keyframe
	switch f.Track.Codec {
	case relay.H264:
		avcc, err := h264.AVCC(f.Units).Marshal()
		if err != nil {
			return nil, err
		}
		msg = &message.Video{
			ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: messageStreamID,
			Codec: message.CodecH264, IsKeyFrame: f.Key, Type: message.VideoTypeAU,
			AU: avcc, DTS: dts, PTSDelta: pts - dts,
		}
	case relay.H265:
		avcc, err := h264.AVCC(f.Units).Marshal()
		if err != nil {
			return nil, err
		}
		if pts == dts {
			msg = &message.VideoExFramesX{
				ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: messageStreamID,
				FourCC: message.FourCCHEVC, DTS: dts, Payload: avcc,
			}
		} else {
			msg = &message.VideoExCodedFrames{
				ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: messageStreamID,
				FourCC: message.FourCCHEVC, DTS: dts, PTSDelta: pts - dts, Payload: avcc,
			}
		}
		enhancedKey = boolInt(f.Key)
	case relay.AV1:
		// FFmpeg wants a temporal delimiter in front of each temporal unit.
		tu := append([][]byte{{byte(av1.OBUTypeTemporalDelimiter << 3)}}, f.Units...)
		enc, err := av1.Bitstream(tu).Marshal()
		if err != nil {
			return nil, err
		}
		msg = &message.VideoExFramesX{
			ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: messageStreamID,
			FourCC: message.FourCCAV1, DTS: pts, Payload: enc,
		}
		enhancedKey = boolInt(f.Key)
	case relay.VP9:
		msg = &message.VideoExFramesX{
			ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: messageStreamID,
			FourCC: message.FourCCVP9, DTS: pts, Payload: single(f),
		}
		enhancedKey = boolInt(f.Key)
	case relay.AAC:
		msg = &message.Audio{
			ChunkStreamID: message.AudioChunkStreamID, MessageStreamID: messageStreamID,
			Codec: message.CodecMPEG4Audio, Rate: message.AudioRate44100,
			Depth: message.AudioDepth16, IsStereo: true,
			AACType: message.AudioAACTypeAU, AU: single(f), DTS: dts,
		}
	case relay.Opus:
		msg = &message.AudioExCodedFrames{
			ChunkStreamID: message.AudioChunkStreamID, MessageStreamID: messageStreamID,
			FourCC: message.FourCCOpus, DTS: pts, Payload: single(f),
		}
	default:
		return nil, fmt.Errorf("codec %s cannot be sent over RTMP", f.Track.Codec)
	}
	b, err := serialize(msg)
	if err != nil {
		return nil, err
	}
	if enhancedKey >= 0 {
		flagEnhancedFrameType(b, enhancedKey == 1)
	}
	return b, nil
}

// flagEnhancedFrameType sets the frame type bits of an enhanced-RTMP video message, which
// gortmplib leaves at zero; platforms need them to find keyframes.
func flagEnhancedFrameType(b []byte, key bool) {
	hdr := 12
	if b[1] == 0xff && b[2] == 0xff && b[3] == 0xff {
		hdr += 4 // extended timestamp
	}
	if len(b) <= hdr {
		return
	}
	ft := byte(2) // inter frame
	if key {
		ft = 1
	}
	b[hdr] = b[hdr]&^0x70 | ft<<4
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func single(f *relay.Frame) []byte {
	if len(f.Units) == 1 {
		return f.Units[0]
	}
	return bytes.Join(f.Units, nil)
}

// GortmplibTrack converts a relay track into gortmplib's description of it.
func GortmplibTrack(t *relay.Track) (*gortmplib.Track, error) {
	switch t.Codec {
	case relay.H264:
		return &gortmplib.Track{Codec: &codecs.H264{SPS: t.SPS, PPS: t.PPS}}, nil
	case relay.H265:
		return &gortmplib.Track{Codec: &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}}, nil
	case relay.AV1:
		return &gortmplib.Track{Codec: &codecs.AV1{}}, nil
	case relay.VP9:
		return &gortmplib.Track{Codec: &codecs.VP9{}}, nil
	case relay.AAC:
		var c mpeg4audio.AudioSpecificConfig
		if err := c.Unmarshal(t.AACConfig); err != nil {
			return nil, fmt.Errorf("aac: %w", err)
		}
		return &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: &c}}, nil
	case relay.Opus:
		ch := t.Channels
		if ch == 0 {
			ch = 2
		}
		return &gortmplib.Track{Codec: &codecs.Opus{IDHeader: &opus.IDHeader{
			Version: 1, ChannelCount: uint8(ch), PreSkip: 312, InputSampleRate: 48000,
		}}}, nil
	}
	return nil, fmt.Errorf("codec %s cannot be sent over RTMP", t.Codec)
}

// capture is a gortmplib.Conn that keeps what gortmplib writes.
type capture struct{ msgs []message.Message }

func (c *capture) BytesReceived() uint64           { return 0 }
func (c *capture) BytesSent() uint64               { return 0 }
func (c *capture) Read() (message.Message, error)  { return nil, io.EOF }
func (c *capture) Write(msg message.Message) error { c.msgs = append(c.msgs, msg); return nil }

var _ gortmplib.Conn = (*capture)(nil)

// buildHeader lets gortmplib describe the track (it knows every codec's configuration record)
// and keeps the sequence header, leaving out its minimal metadata (see Metadata).
func buildHeader(t *relay.Track) ([]byte, error) {
	gt, err := GortmplibTrack(t)
	if err != nil {
		return nil, err
	}
	c := &capture{}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{gt}}
	if err := w.Initialize(); err != nil {
		return nil, fmt.Errorf("%s sequence header: %w", t.Codec, err)
	}
	var keep []message.Message
	for _, m := range c.msgs {
		if _, ok := m.(*message.DataAMF0); !ok {
			keep = append(keep, m)
		}
	}
	if len(keep) == 0 {
		return nil, nil
	}
	var out []byte
	for _, m := range keep {
		b, err := serialize(m)
		if err != nil {
			return nil, err
		}
		if t.Kind() == relay.Video && t.Codec != relay.H264 {
			// Enhanced RTMP: a sequence start is flagged as a keyframe, as FFmpeg and OBS do.
			flagEnhancedFrameType(b, true)
		}
		out = append(out, b...)
	}
	return out, nil
}

// Restamp returns a copy of prepared single-chunk messages (sequence headers, metadata,
// commands: all built with timestamp 0) carrying timestamp ts instead, so that a header sent
// in the middle of a stream does not take the timeline backwards.
func Restamp(b []byte, ts time.Duration) ([]byte, error) {
	ms := uint32(ts / time.Millisecond)
	out := make([]byte, 0, len(b)+8)
	for pos := 0; pos < len(b); {
		if len(b)-pos < 12 || b[pos]>>6 != 0 || b[pos]&0x3f < 2 {
			return nil, errors.New("rtmpwire: restamp: not a type 0 chunk")
		}
		if b[pos+1] == 0xff && b[pos+2] == 0xff && b[pos+3] == 0xff {
			return nil, errors.New("rtmpwire: restamp: extended timestamp in source")
		}
		n := int(b[pos+4])<<16 | int(b[pos+5])<<8 | int(b[pos+6])
		if n > ChunkSize || len(b)-pos-12 < n {
			return nil, errors.New("rtmpwire: restamp: message is not a single chunk")
		}
		h := [16]byte{}
		copy(h[:12], b[pos:pos+12])
		hl := 12
		if ms >= 0xffffff {
			h[1], h[2], h[3] = 0xff, 0xff, 0xff
			h[12], h[13], h[14], h[15] = byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
			hl = 16
		} else {
			h[1], h[2], h[3] = byte(ms>>16), byte(ms>>8), byte(ms)
		}
		out = append(out, h[:hl]...)
		out = append(out, b[pos+12:pos+12+n]...)
		pos += 12 + n
	}
	return out, nil
}

// Metadata returns an onMetaData message describing the tracks, as encoders send it before
// the media; platforms show the resolution and frame rate from it.
func Metadata(video, audio *relay.Track, fps float64) ([]byte, error) {
	md := amf0.Object{}
	if video != nil {
		gt, err := GortmplibTrack(video)
		if err != nil {
			return nil, err
		}
		md = append(md, amf0.ObjectEntry{Key: "videocodecid", Value: float64(gt.Codec.ID())})
		if video.Width > 0 {
			md = append(md,
				amf0.ObjectEntry{Key: "width", Value: float64(video.Width)},
				amf0.ObjectEntry{Key: "height", Value: float64(video.Height)})
		}
		if fps > 0 {
			md = append(md, amf0.ObjectEntry{Key: "framerate", Value: fps})
		}
	}
	if audio != nil {
		gt, err := GortmplibTrack(audio)
		if err != nil {
			return nil, err
		}
		md = append(md, amf0.ObjectEntry{Key: "audiocodecid", Value: float64(gt.Codec.ID())})
		if audio.SampleRate > 0 {
			md = append(md,
				amf0.ObjectEntry{Key: "audiosamplerate", Value: float64(audio.SampleRate)},
				amf0.ObjectEntry{Key: "stereo", Value: audio.Channels >= 2})
		}
	}
	md = append(md, amf0.ObjectEntry{Key: "encoder", Value: "Beffroi"})
	return serialize(&message.DataAMF0{
		ChunkStreamID: 4, MessageStreamID: messageStreamID,
		Payload: []any{"@setDataFrame", "onMetaData", md},
	})
}

// timestampOf is used by tests: the timestamp of the first message in b.
func timestampOf(b []byte) time.Duration {
	ts := uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if ts == 0xffffff {
		ts = uint32(b[12])<<24 | uint32(b[13])<<16 | uint32(b[14])<<8 | uint32(b[15])
	}
	return time.Duration(ts) * time.Millisecond
}
