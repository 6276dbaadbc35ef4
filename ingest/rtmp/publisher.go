package rtmp

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"

	"github.com/beffroi/beffroi/relay"
)

// publisher turns the messages of one RTMP publish session into relay frames.
type publisher struct {
	pub *relay.Publisher
	log *slog.Logger
	// vp follows the video track (its parameter sets for H.264 and H.265); nil until a video
	// sequence header came.
	vp        *relay.VideoParams
	audio     *relay.Track
	warned    map[string]bool // what was logged once already
	err       error           // first error raised while publishing
	reason    string
	malformed bool
}

func (p *publisher) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// once logs a warning the first time key comes up in this session: an encoder repeats what
// it does wrong with every frame.
func (p *publisher) once(key, msg string, args ...any) {
	if p.warned[key] {
		return
	}
	if p.warned == nil {
		p.warned = map[string]bool{}
	}
	p.warned[key] = true
	p.log.Warn(msg, args...)
}

func (p *publisher) closeErr(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		p.reason = "connection closed by the encoder"
	case errors.As(err, &ne) && ne.Timeout():
		p.reason = "no data received for too long"
	case errors.Is(err, net.ErrClosed):
		p.reason = "connection closed"
	default:
		p.reason = "malformed data: " + err.Error()
		p.malformed = true
	}
}

func (p *publisher) describe() string {
	var parts []string
	for _, t := range []*relay.Track{p.video(), p.audio} {
		switch {
		case t == nil:
		case t.Width > 0:
			parts = append(parts, fmt.Sprintf("%s %dx%d", t.Codec, t.Width, t.Height))
		default:
			parts = append(parts, string(t.Codec))
		}
	}
	return strings.Join(parts, ", ")
}

func (p *publisher) video() *relay.Track {
	if p.vp == nil {
		return nil
	}
	return p.vp.Track
}

func (p *publisher) set(t *relay.Track) *relay.Track {
	st, err := p.pub.SetTrack(t)
	if err != nil {
		p.fail(err)
		return t
	}
	return st
}

func (p *publisher) write(f *relay.Frame) {
	if p.err != nil {
		return
	}
	if err := p.pub.WriteFrame(f); err != nil {
		p.fail(err)
	}
}

// start declares the tracks the probe found, all before the first frame (a reader then
// starts with every track's header), and publishes the messages it read meanwhile.
func (p *publisher) start(pr *trackProbe) error {
	if t := pr.kinds[relay.Video].track; t != nil {
		p.vp = &relay.VideoParams{Codec: t.Codec, Track: p.set(t)}
	}
	if t := pr.kinds[relay.Audio].track; t != nil {
		p.audio = p.set(t)
	}
	for _, k := range pr.kinds {
		if k.unsupported != "" && k.track == nil {
			p.once("codec "+k.unsupported, "track ignored: codec not supported", "codec", k.unsupported)
		}
	}
	for _, m := range pr.pending {
		p.handle(m)
		if p.err != nil {
			return p.err
		}
	}
	pr.pending = nil
	return nil
}

// handle publishes one message of the session: a sequence header declares or changes a
// track, a frame is published on its track.
func (p *publisher) handle(msg message.Message) {
	switch m := unwrap(msg).(type) {
	case nil:
		p.once("multitrack", "tracks ignored: only the first video and audio tracks of a multitrack session are carried")
	case *message.Video:
		switch m.Type {
		case message.VideoTypeConfig:
			p.videoHeader(m)
			return
		case message.VideoTypeAU:
		default:
			return // end of sequence
		}
		codec := relay.H264
		if m.Codec == message.CodecH265 {
			codec = relay.H265
		}
		p.videoFrame(codec, m.DTS+m.PTSDelta, m.DTS, m.AU)
	case *message.VideoExSequenceStart:
		p.videoHeader(m)
	case *message.VideoExCodedFrames:
		p.videoFrame(videoCodec(m.FourCC), m.DTS+m.PTSDelta, m.DTS, m.Payload)
	case *message.VideoExFramesX:
		p.videoFrame(videoCodec(m.FourCC), m.DTS, m.DTS, m.Payload)
	case *message.Audio:
		switch {
		case m.Codec != message.CodecMPEG4Audio:
			p.audioHeader(m) // says which codec is not carried
		case m.AACType == message.AudioAACTypeConfig:
			p.audioHeader(m)
		default:
			p.audioFrame(relay.AAC, m.DTS, m.AU)
		}
	case *message.AudioExSequenceStart:
		p.audioHeader(m)
	case *message.AudioExCodedFrames:
		switch m.FourCC {
		case message.FourCCMP4A:
			p.audioFrame(relay.AAC, m.DTS, m.Payload)
		case message.FourCCOpus:
			p.audioFrame(relay.Opus, m.DTS, m.Payload)
		default:
			p.audioHeader(m)
		}
	}
}

func videoCodec(f message.FourCC) relay.Codec {
	switch f {
	case message.FourCCAVC:
		return relay.H264
	case message.FourCCHEVC:
		return relay.H265
	case message.FourCCAV1:
		return relay.AV1
	case message.FourCCVP9:
		return relay.VP9
	}
	return ""
}

// videoHeader declares the video track of a sequence header. New H.264 or H.265 parameters
// go through the same path as parameter sets sent in band, so that readers get them once as
// a new track.
func (p *publisher) videoHeader(msg message.Message) {
	t, codec, err := trackOf(msg)
	switch {
	case err != nil:
		p.once("video header", "ignored invalid video sequence header", "error", err)
		return
	case codec != "":
		p.once("codec "+codec, "track ignored: codec not supported", "codec", codec)
		return
	case t == nil:
		return
	}
	if p.vp != nil && p.vp.Track != nil && p.vp.Track.Codec == t.Codec {
		switch t.Codec {
		case relay.H264:
			p.h26x(0, 0, [][]byte{t.SPS, t.PPS})
		case relay.H265:
			p.h26x(0, 0, [][]byte{t.VPS, t.SPS, t.PPS})
		}
		return
	}
	p.vp = &relay.VideoParams{Codec: t.Codec, Track: p.set(t)}
}

// audioHeader declares the audio track of a sequence header, or says once that the codec is
// not carried.
func (p *publisher) audioHeader(msg message.Message) {
	t, codec, err := trackOf(msg)
	switch {
	case err != nil:
		p.once("audio header", "ignored invalid audio sequence header", "error", err)
	case codec != "":
		p.once("codec "+codec, "track ignored: codec not supported", "codec", codec)
	case t != nil:
		p.audio = p.set(t)
	}
}

func (p *publisher) videoFrame(codec relay.Codec, pts, dts time.Duration, payload []byte) {
	cur := p.video()
	if cur == nil || cur.Codec != codec {
		p.once("video without header", "video frames ignored: no sequence header for their codec", "codec", string(codec))
		return
	}
	switch codec {
	case relay.H264, relay.H265:
		var au h264.AVCC
		if err := au.Unmarshal(payload); err != nil {
			if !errors.Is(err, h264.ErrAVCCNoNALUs) {
				p.fail(fmt.Errorf("%s: %w", codec, err))
			}
			return
		}
		p.h26x(pts, dts, au)
	case relay.AV1:
		var tu av1.Bitstream
		if err := tu.Unmarshal(payload); err != nil {
			p.fail(fmt.Errorf("av1: %w", err))
			return
		}
		p.write(&relay.Frame{Track: cur, DTS: pts, PTS: pts, Key: av1.IsRandomAccess2(tu), Units: tu})
	case relay.VP9:
		if len(payload) == 0 {
			return
		}
		p.write(&relay.Frame{Track: cur, DTS: pts, PTS: pts, Key: vp9Key(payload), Units: [][]byte{payload}})
	}
}

// vp9Key reports whether a VP9 frame is a keyframe, read by mediacommon's header parser
// (which knows where frame_type is in every profile). A frame that only shows an earlier one
// (show_existing_frame) is not: vp9.IsRandomAccess would call it one, and a reader started
// there, or a recording, would have nothing to decode.
func vp9Key(frame []byte) bool {
	var h vp9.Header
	return h.Unmarshal(frame) == nil && !h.ShowExistingFrame && !h.NonKeyFrame
}

func (p *publisher) audioFrame(codec relay.Codec, dts time.Duration, payload []byte) {
	if p.audio == nil || p.audio.Codec != codec {
		p.once("audio without header", "audio frames ignored: no sequence header for their codec", "codec", string(codec))
		return
	}
	if len(payload) == 0 {
		return
	}
	p.write(&relay.Frame{Track: p.audio, DTS: dts, PTS: dts, Key: true, Units: [][]byte{payload}})
}

// h26x publishes an H.264 or H.265 access unit; new parameter sets (a phone rotating, an
// encoder changing resolution) make a new track that readers receive as new decoder
// parameters.
func (p *publisher) h26x(pts, dts time.Duration, au [][]byte) {
	vp := p.vp
	picture, changed, err := vp.Update(au)
	if err != nil {
		p.log.Warn("ignored invalid parameter sets", "codec", string(vp.Codec), "error", err)
	}
	if changed {
		vp.Track = p.set(vp.Track)
	}
	if picture && vp.Track != nil {
		p.write(&relay.Frame{Track: vp.Track, DTS: dts, PTS: pts, Key: vp.IsKey(au), Units: au})
	}
}
