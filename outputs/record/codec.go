package record

import (
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/beffroi/beffroi/relay"
)

// errNotRecordable says a track's codec has no fMP4 mapping here (VP8), or its parameters
// are not known yet; the recording goes on without that track.
var errNotRecordable = errors.New("codec not recordable in fMP4")

// recordable reports whether frames of the track can be recorded.
func recordable(t *relay.Track) bool {
	switch t.Codec {
	case relay.H264, relay.H265, relay.AV1, relay.VP9, relay.AAC, relay.Opus:
		return true
	}
	return false
}

// timeScale is the fMP4 time scale of a track: 90 kHz for video, the sample rate for audio,
// so that audio sample durations are exact.
func timeScale(t *relay.Track) uint32 {
	if t.Kind() == relay.Audio && t.SampleRate > 0 {
		return uint32(t.SampleRate)
	}
	return 90000
}

// fmp4Codec describes t for an init segment. key is the first frame of the track that the
// init segment's media starts with (a keyframe for video): AV1 and VP9 parameters are read
// from it when the track does not carry them.
func fmp4Codec(t *relay.Track, key *relay.Frame) (codecs.Codec, error) {
	switch t.Codec {
	case relay.H264:
		return &codecs.H264{SPS: t.SPS, PPS: t.PPS}, nil
	case relay.H265:
		return &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}, nil
	case relay.AV1:
		sh := av1SequenceHeader(t.AV1Config)
		if sh == nil && key != nil {
			sh = av1SequenceHeader(key.Units...)
		}
		if sh == nil {
			return nil, fmt.Errorf("AV1: no sequence header yet: %w", errNotRecordable)
		}
		return &codecs.AV1{SequenceHeader: sh}, nil
	case relay.VP9:
		if key == nil || len(key.Units) == 0 {
			return nil, fmt.Errorf("VP9: no keyframe yet: %w", errNotRecordable)
		}
		var h vp9.Header
		if err := h.Unmarshal(key.Units[0]); err != nil || h.NonKeyFrame || h.ColorConfig == nil {
			return nil, fmt.Errorf("VP9: unreadable keyframe header: %w", errNotRecordable)
		}
		return &codecs.VP9{
			Width: h.Width(), Height: h.Height(), Profile: h.Profile,
			BitDepth: h.ColorConfig.BitDepth, ChromaSubsampling: h.ChromaSubsampling(),
			ColorRange: h.ColorConfig.ColorRange,
		}, nil
	case relay.AAC:
		var c mpeg4audio.AudioSpecificConfig
		if err := c.Unmarshal(t.AACConfig); err != nil {
			return nil, fmt.Errorf("AAC: %w", err)
		}
		return &codecs.MPEG4Audio{Config: c}, nil
	case relay.Opus:
		ch := t.Channels
		if ch <= 0 {
			ch = 2
		}
		return &codecs.Opus{ChannelCount: ch}, nil
	}
	return nil, fmt.Errorf("%s: %w", t.Codec, errNotRecordable)
}

// av1SequenceHeader returns the first sequence header OBU among obus (each possibly holding
// several OBUs with size fields), or nil.
func av1SequenceHeader(obus ...[]byte) []byte {
	for _, o := range obus {
		if len(o) == 0 {
			continue
		}
		var bs av1.Bitstream
		units := [][]byte{o}
		if err := bs.Unmarshal(o); err == nil && len(bs) > 0 {
			units = bs
		}
		for _, u := range units {
			var h av1.OBUHeader
			if err := h.Unmarshal(u); err == nil && h.Type == av1.OBUTypeSequenceHeader {
				return u
			}
		}
	}
	return nil
}

// samplePayload returns the bytes of a frame as an fMP4 sample holds them.
func samplePayload(f *relay.Frame) ([]byte, error) {
	switch f.Track.Codec {
	case relay.H264, relay.H265:
		return h264.AVCC(f.Units).Marshal()
	case relay.AV1:
		tu := make([][]byte, 0, len(f.Units))
		for _, u := range f.Units {
			// Temporal delimiters have no place in an MP4 sample.
			if len(u) > 0 && av1.OBUType((u[0]>>3)&0x0f) == av1.OBUTypeTemporalDelimiter {
				continue
			}
			tu = append(tu, u)
		}
		return av1.Bitstream(tu).Marshal()
	}
	if len(f.Units) == 1 {
		return f.Units[0], nil
	}
	n := 0
	for _, u := range f.Units {
		n += len(u)
	}
	b := make([]byte, 0, n)
	for _, u := range f.Units {
		b = append(b, u...)
	}
	return b, nil
}
