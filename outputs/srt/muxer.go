package srt

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/substructs"

	"github.com/beffroi/beffroi/relay"
)

// tsOffset is added to every timestamp: the stream's timeline starts at zero, and the
// program clock runs 100 ms ahead of the first DTS, so without it the first PCR would be
// negative.
const tsOffset = 90000 // 1 s at 90 kHz

// audioHold is how much audio, arriving before any video track is known, is held while
// waiting for video (an encoder's parameter sets may come a little after its first audio).
// Past it, the stream is taken as audio-only.
const audioHold = time.Second

// maxHeld bounds the audio frames held by audioHold, whatever their timestamps say.
const maxHeld = 200

// muxer writes the frames of a relay reader as MPEG-TS.
type muxer struct {
	w io.Writer // bytes out; flushed by the run callback after each frame

	mw           *mpegts.Writer
	vt, at       *mpegts.Track
	video, audio *relay.Track // the tracks of the frames written last
	started      bool         // the first video keyframe was written (or there is no video)
}

// run reads frames until the stream ends or something fails, calling flushed after each
// frame written.
func (m *muxer) run(ctx context.Context, r *relay.Reader, flushed func() error) error {
	first, err := m.setup(ctx, r)
	if err != nil {
		return err
	}
	for _, f := range first {
		if err := m.write(f, flushed); err != nil {
			return err
		}
	}
	for {
		f, err := r.Next(ctx)
		if err != nil {
			return err
		}
		if err := m.write(f, flushed); err != nil {
			return err
		}
	}
}

// setup waits for the first frames and declares the tracks: MPEG-TS announces them up front.
// It returns the frames read meanwhile that are still to be written.
func (m *muxer) setup(ctx context.Context, r *relay.Reader) ([]*relay.Frame, error) {
	var held []*relay.Frame
	for {
		f, err := r.Next(ctx)
		if err != nil {
			return nil, err
		}
		video, audio := r.Stream().Track(relay.Video), r.Stream().Track(relay.Audio)
		if f.Track.Kind() == relay.Video {
			video = f.Track
			held = nil // the output starts with video: audio before it is not sent
		} else {
			audio = f.Track
			held = append(held, f)
			if video == nil && f.DTS-held[0].DTS < audioHold && len(held) < maxHeld {
				continue
			}
		}
		if err := m.declare(video, audio); err != nil {
			return nil, err
		}
		if f.Track.Kind() == relay.Video {
			return []*relay.Frame{f}, nil
		}
		return held, nil
	}
}

// declare builds the MPEG-TS program for the tracks.
func (m *muxer) declare(video, audio *relay.Track) error {
	var tracks []*mpegts.Track
	if video != nil {
		c, err := tsCodec(video)
		if err != nil {
			return err
		}
		m.vt = &mpegts.Track{Codec: c}
		tracks = append(tracks, m.vt)
	}
	if audio != nil {
		c, err := tsCodec(audio)
		if err != nil {
			return err
		}
		m.at = &mpegts.Track{Codec: c}
		tracks = append(tracks, m.at)
	}
	m.video, m.audio = video, audio
	m.started = video == nil
	m.mw = &mpegts.Writer{W: m.w, Tracks: tracks}
	return m.mw.Initialize()
}

// tsCodec returns the MPEG-TS codec of a track, or an error for codecs MPEG-TS does not carry.
func tsCodec(t *relay.Track) (codecs.Codec, error) {
	switch t.Codec {
	case relay.H264:
		return &codecs.H264{}, nil
	case relay.H265:
		return &codecs.H265{}, nil
	case relay.AAC:
		var c mpeg4audio.AudioSpecificConfig
		if err := c.Unmarshal(t.AACConfig); err != nil {
			return nil, fmt.Errorf("aac: invalid AudioSpecificConfig: %w", err)
		}
		return &codecs.MPEG4Audio{Config: c}, nil
	case relay.Opus:
		ch := t.Channels
		if ch < 1 || ch > 8 {
			ch = 2
		}
		return &codecs.Opus{Desc: &substructs.OpusAudioDescriptor{ChannelConfigCode: uint8(ch)}}, nil
	}
	return nil, fmt.Errorf("%s %s cannot be sent over SRT: MPEG-TS carries H.264 or H.265 video and AAC or Opus audio",
		t.Codec, t.Kind())
}

// write writes one frame, if it belongs in the output.
func (m *muxer) write(f *relay.Frame, flushed func() error) error {
	var err error
	switch f.Track.Kind() {
	case relay.Video:
		if m.vt == nil {
			return fmt.Errorf("the stream gained a %s video track after the SRT session started", f.Track.Codec)
		}
		if f.Track != m.video {
			if f.Track.Codec != m.video.Codec {
				return fmt.Errorf("video codec changed from %s to %s", m.video.Codec, f.Track.Codec)
			}
			// New parameters (size, profile): the parameter sets travel in band, with
			// every keyframe.
			m.video = f.Track
		}
		if !m.started {
			if !f.Key {
				return nil
			}
			m.started = true
		}
		err = m.writeVideo(f)
	default:
		if m.at == nil {
			return fmt.Errorf("the stream gained a %s audio track after the SRT session started", f.Track.Codec)
		}
		if f.Track != m.audio {
			if f.Track.Codec != m.audio.Codec {
				return fmt.Errorf("audio codec changed from %s to %s", m.audio.Codec, f.Track.Codec)
			}
			// ADTS headers carry the AAC configuration with every frame: the new one
			// applies from here.
			c, cerr := tsCodec(f.Track)
			if cerr != nil {
				return cerr
			}
			m.at.Codec, m.audio = c, f.Track
		}
		if !m.started {
			return nil // audio before the first video keyframe
		}
		pts := ticks(f.PTS)
		if f.Track.Codec == relay.AAC {
			err = m.mw.WriteMPEG4Audio(m.at, pts, f.Units)
		} else {
			err = m.mw.WriteOpus(m.at, pts, f.Units)
		}
	}
	if err != nil {
		return err
	}
	return flushed()
}

func (m *muxer) writeVideo(f *relay.Frame) error {
	au := f.Units
	if len(au) == 0 {
		return nil
	}
	pts, dts := ticks(f.PTS), ticks(f.DTS)
	if f.Track.Codec == relay.H265 {
		if f.Key {
			au = withParams(au, byte(h265.NALUType_AUD_NUT), func(u []byte) byte { return (u[0] >> 1) & 0x3f },
				[]byte{byte(h265.NALUType_VPS_NUT), byte(h265.NALUType_SPS_NUT), byte(h265.NALUType_PPS_NUT)},
				[][]byte{f.Track.VPS, f.Track.SPS, f.Track.PPS})
		}
		return m.mw.WriteH265(m.vt, pts, dts, au)
	}
	if f.Key {
		au = withParams(au, byte(h264.NALUTypeAccessUnitDelimiter), func(u []byte) byte { return u[0] & 0x1f },
			[]byte{byte(h264.NALUTypeSPS), byte(h264.NALUTypePPS)},
			[][]byte{f.Track.SPS, f.Track.PPS})
	}
	return m.mw.WriteH264(m.vt, pts, dts, au)
}

// withParams returns the access unit with the parameter sets in front (after an access unit
// delimiter), unless it carries them already: MPEG-TS has no other place for them, and a
// receiver that joins (or a decoder after new parameters) needs them at every keyframe. The
// frame's own units are never modified.
func withParams(au [][]byte, aud byte, typ func([]byte) byte, types []byte, params [][]byte) [][]byte {
	var has [64]bool // NAL unit types: 5 bits for H.264, 6 for H.265
	for _, u := range au {
		if len(u) > 0 {
			has[typ(u)] = true
		}
	}
	var add [][]byte
	for i, t := range types {
		if !has[t] && len(params[i]) > 0 {
			add = append(add, params[i])
		}
	}
	if len(add) == 0 {
		return au
	}
	out := make([][]byte, 0, len(au)+len(add)+1)
	rest := au
	if len(au[0]) > 0 && typ(au[0]) == aud {
		out = append(out, au[0])
		rest = au[1:]
	}
	out = append(out, add...)
	return append(out, rest...)
}

// ticks converts a time on the stream's timeline to 90 kHz ticks, without the overflow of
// d*90000 after 28 hours.
func ticks(d time.Duration) int64 {
	return tsOffset + relay.DurationToTicks(d, 90000)
}
