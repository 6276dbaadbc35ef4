package relay

import (
	"bytes"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Kind tells video from audio.
type Kind uint8

// Track kinds. A stream carries at most one track of each kind.
const (
	Video Kind = iota
	Audio
	numKinds
)

func (k Kind) String() string {
	if k == Video {
		return "video"
	}
	return "audio"
}

// Codec names a codec as the API and the console show it.
type Codec string

// Codecs a stream may carry.
const (
	H264 Codec = "H264"
	H265 Codec = "H265"
	AV1  Codec = "AV1"
	VP8  Codec = "VP8"
	VP9  Codec = "VP9"
	AAC  Codec = "AAC"
	Opus Codec = "Opus"
)

// Kind returns whether the codec carries video or audio.
func (c Codec) Kind() Kind {
	switch c {
	case AAC, Opus:
		return Audio
	}
	return Video
}

// Track describes one elementary stream and its decoder parameters. A Track is immutable:
// a change of parameters (a phone rotating, a new encoder after a reconnect) makes a new Track,
// and readers notice the change by comparing the Track pointer of the frames they read.
type Track struct {
	Codec Codec

	// Video parameters. SPS/PPS (and VPS for H.265) are raw NAL units without start codes.
	VPS, SPS, PPS []byte
	// AV1Config is the AV1CodecConfigurationRecord's configOBUs (sequence header), when known.
	AV1Config []byte
	Width     int
	Height    int

	// Audio parameters. AACConfig is the raw AudioSpecificConfig.
	AACConfig  []byte
	SampleRate int
	Channels   int

	memo memo
}

// Memo returns the representation of the track identified by key (a protocol's sequence
// header, say), building it with build the first time it is asked for.
func (t *Track) Memo(key *MemoKey, build func(*Track) any) any {
	return t.memo.get(key, func() any { return build(t) })
}

// Kind returns the track's kind.
func (t *Track) Kind() Kind { return t.Codec.Kind() }

// SameParams reports whether two tracks decode with the same parameters, so a reader can keep
// its decoder (and a platform its session) across a publisher reconnect.
func (t *Track) SameParams(o *Track) bool {
	if t == nil || o == nil {
		return t == o
	}
	return t.Codec == o.Codec &&
		bytes.Equal(t.VPS, o.VPS) && bytes.Equal(t.SPS, o.SPS) && bytes.Equal(t.PPS, o.PPS) &&
		bytes.Equal(t.AV1Config, o.AV1Config) && bytes.Equal(t.AACConfig, o.AACConfig) &&
		t.SampleRate == o.SampleRate && t.Channels == o.Channels
}

// NewH264Track builds an H.264 track from its parameter sets, reading the picture size from
// the SPS.
func NewH264Track(sps, pps []byte) (*Track, error) {
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("h264: invalid SPS: %w", err)
	}
	return &Track{
		Codec: H264, SPS: clone(sps), PPS: clone(pps),
		Width: s.Width(), Height: s.Height(),
	}, nil
}

// NewH265Track builds an H.265 track from its parameter sets, reading the picture size from
// the SPS.
func NewH265Track(vps, sps, pps []byte) (*Track, error) {
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("h265: invalid SPS: %w", err)
	}
	return &Track{
		Codec: H265, VPS: clone(vps), SPS: clone(sps), PPS: clone(pps),
		Width: s.Width(), Height: s.Height(),
	}, nil
}

// NewAACTrack builds an AAC track from its AudioSpecificConfig.
func NewAACTrack(asc []byte) (*Track, error) {
	var c mpeg4audio.AudioSpecificConfig
	if err := c.Unmarshal(asc); err != nil {
		return nil, fmt.Errorf("aac: invalid AudioSpecificConfig: %w", err)
	}
	ch := int(c.ChannelConfig)
	switch {
	case ch == 7:
		ch = 8
	case ch > 7:
		ch = 0 // reserved: unknown
	}
	return &Track{
		Codec: AAC, AACConfig: clone(asc),
		SampleRate: c.SampleRate, Channels: ch,
	}, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
