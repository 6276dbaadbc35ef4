package rtmp

import (
	"errors"
	"fmt"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/beffroi/beffroi/relay"
)

// How long the start of a publish session waits for its tracks, in media time (the
// timestamps the encoder sends; an encoder in real time sends them at that pace).
//
// gortmplib's Reader reads 2 s of media before it returns the tracks, whatever the encoder
// said: the platforms then got their first frame 2 s after the encoder connected. Encoders
// (OBS, ffmpeg, Larix, hardware encoders) send onMetaData, which names the codec of each
// track they will send, then the sequence headers (AVC decoder configuration,
// AudioSpecificConfig), then the frames. So the session starts as soon as every track the
// metadata announced has its header; without metadata, as soon as a video and an audio header
// are in, or aloneWait after the first message when only one kind came (an audio-less camera).
const (
	// aloneWait is how much media past the first message an encoder without metadata has to
	// send the other kind's header before the session starts with one track. A track whose
	// header comes later is added then (readers get its header), only its first frames before
	// the start are lost.
	aloneWait = 500 * time.Millisecond
	// announcedWait caps the wait for a track the metadata announced (or whose frames came
	// without a header): the session starts without it, as gortmplib would have after its
	// analysis period.
	announcedWait = 2 * time.Second
	// maxPending bounds the messages held before the tracks are known (gortmplib's bound).
	maxPending = 5000
)

// errNoTrack refuses a session that sent no track Beffroi carries.
var errNoTrack = errors.New("no supported track (video: H.264, H.265, AV1, VP9; audio: AAC, Opus)")

// messageReader is where the messages of a publish session come from: gortmplib's server
// connection.
type messageReader interface {
	Read() (message.Message, error)
}

// kindProbe is what the start of a session told about one kind of track.
type kindProbe struct {
	track       *relay.Track // from the first supported sequence header
	unsupported string       // the codec of a message of this kind Beffroi does not carry
	announced   bool         // onMetaData named a codec for it
	seen        bool         // a message of this kind came
}

func (k *kindProbe) resolved() bool { return k.track != nil || k.unsupported != "" }

// needed reports whether the start waits for this kind's header.
func (k *kindProbe) needed() bool { return k.announced || k.seen }

// trackProbe reads the first messages of a publish session until it knows the tracks, and
// keeps them so that they are published too.
type trackProbe struct {
	kinds   [2]kindProbe // indexed by relay.Kind
	meta    bool         // onMetaData came
	pending []message.Message
	started bool
	first   time.Duration // timestamp of the first audio or video message
	span    time.Duration // media time since first
	// how says what the start waited for, for the log.
	how string
}

// run reads until the tracks are known; the messages read are in pending.
func (p *trackProbe) run(r messageReader) error {
	for {
		msg, err := r.Read()
		if err != nil {
			return err
		}
		if len(p.pending) >= maxPending {
			return errors.New("too many messages before the tracks were known")
		}
		p.pending = append(p.pending, msg)
		if err := p.add(msg); err != nil {
			return err
		}
		if p.done() {
			if p.kinds[relay.Video].track == nil && p.kinds[relay.Audio].track == nil {
				return errNoTrack
			}
			return nil
		}
	}
}

// done reports whether the session can start, and records why in how.
func (p *trackProbe) done() bool {
	v, a := &p.kinds[relay.Video], &p.kinds[relay.Audio]
	switch {
	case v.resolved() && a.resolved():
		p.how = "both sequence headers"
	case p.meta && (v.resolved() || !v.needed()) && (a.resolved() || !a.needed()):
		p.how = "the tracks onMetaData announced"
	case !p.meta && p.span >= aloneWait && (v.resolved() || !v.seen) && (a.resolved() || !a.seen):
		p.how = fmt.Sprintf("one track: no other sequence header within %s and no onMetaData", aloneWait)
	case p.span >= announcedWait:
		p.how = fmt.Sprintf("the tracks whose header came within %s", announcedWait)
	default:
		return false
	}
	return true
}

// add reads what one message tells about the tracks.
func (p *trackProbe) add(msg message.Message) error {
	if d, ok := msg.(*message.DataAMF0); ok {
		p.metadata(d)
		return nil
	}
	msg = unwrap(msg)
	kind, dts, hasDTS, ok := mediaOf(msg)
	if !ok {
		return nil
	}
	if hasDTS {
		if !p.started {
			p.started, p.first = true, dts
		}
		p.span = max(p.span, dts-p.first)
	}
	k := &p.kinds[kind]
	k.seen = true
	if k.track != nil {
		return nil
	}
	t, codec, err := trackOf(msg)
	switch {
	case err != nil:
		return err
	case t != nil:
		k.track = t
	case codec != "" && k.unsupported == "":
		k.unsupported = codec
	}
	return nil
}

// metadata reads onMetaData (sent as @setDataFrame by most encoders): a videocodecid or
// audiocodecid other than 0 announces a track.
func (p *trackProbe) metadata(d *message.DataAMF0) {
	args := []any(d.Payload)
	if len(args) > 0 && args[0] == "@setDataFrame" {
		args = args[1:]
	}
	if len(args) < 2 || args[0] != "onMetaData" {
		return
	}
	var obj amf0.Object
	switch o := args[1].(type) {
	case amf0.Object:
		obj = o
	case amf0.ECMAArray:
		obj = amf0.Object(o)
	default:
		return
	}
	p.meta = true
	announced := func(key string) bool {
		v, ok := obj.Get(key)
		switch v := v.(type) {
		case float64:
			return v != 0
		case string:
			return v != ""
		}
		return ok && v != nil
	}
	p.kinds[relay.Video].announced = announced("videocodecid")
	p.kinds[relay.Audio].announced = announced("audiocodecid")
}

// mediaOf returns the kind of an audio or video message and its timestamp, when it has one
// (enhanced RTMP sequence starts have none).
func mediaOf(msg message.Message) (kind relay.Kind, dts time.Duration, hasDTS, ok bool) {
	switch m := msg.(type) {
	case *message.Video:
		return relay.Video, m.DTS, true, true
	case *message.VideoExCodedFrames:
		return relay.Video, m.DTS, true, true
	case *message.VideoExFramesX:
		return relay.Video, m.DTS, true, true
	case *message.VideoExSequenceStart:
		return relay.Video, 0, false, true
	case *message.Audio:
		return relay.Audio, m.DTS, true, true
	case *message.AudioExCodedFrames:
		return relay.Audio, m.DTS, true, true
	case *message.AudioExSequenceStart:
		return relay.Audio, 0, false, true
	}
	return 0, 0, false, false
}

// unwrap returns the message of a multitrack session's first track, nil for the other
// tracks (Beffroi carries one video and one audio track), and any other message as it is.
func unwrap(msg message.Message) message.Message {
	switch m := msg.(type) {
	case *message.VideoExMultitrack:
		if m.TrackID != 0 {
			return nil
		}
		return m.Wrapped
	case *message.AudioExMultitrack:
		if m.TrackID != 0 {
			return nil
		}
		return m.Wrapped
	}
	return msg
}

// trackOf returns the track a sequence header declares; for a message of a codec Beffroi
// does not carry, that codec's name; for frames, nothing.
func trackOf(msg message.Message) (*relay.Track, string, error) {
	switch m := msg.(type) {
	case *message.Video:
		if m.Type != message.VideoTypeConfig {
			return nil, "", nil
		}
		switch m.Codec {
		case message.CodecH264:
			return avcTrack(m.AVCConfig)
		case message.CodecH265:
			return hevcTrack(m.HEVCConfig)
		}
		return nil, fmt.Sprintf("video codec %d", m.Codec), nil
	case *message.VideoExSequenceStart:
		switch m.FourCC {
		case message.FourCCAVC:
			return avcTrack(m.AVCConfig)
		case message.FourCCHEVC:
			return hevcTrack(m.HEVCConfig)
		case message.FourCCAV1:
			return &relay.Track{Codec: relay.AV1}, "", nil
		case message.FourCCVP9:
			return &relay.Track{Codec: relay.VP9}, "", nil
		}
		return nil, fourCC(m.FourCC), nil
	case *message.Audio:
		if m.Codec != message.CodecMPEG4Audio {
			return nil, fmt.Sprintf("audio codec %d", m.Codec), nil
		}
		if m.AACType != message.AudioAACTypeConfig || m.AACConfig == nil {
			return nil, "", nil
		}
		asc, err := m.AACConfig.Marshal()
		if err != nil {
			return nil, "", fmt.Errorf("aac: %w", err)
		}
		t, err := relay.NewAACTrack(asc)
		return t, "", err
	case *message.AudioExSequenceStart:
		switch {
		case m.FourCC == message.FourCCMP4A && m.AACConfig != nil:
			asc, err := m.AACConfig.Marshal()
			if err != nil {
				return nil, "", fmt.Errorf("aac: %w", err)
			}
			t, err := relay.NewAACTrack(asc)
			return t, "", err
		case m.FourCC == message.FourCCOpus:
			ch := 2
			if m.OpusConfig != nil {
				ch = int(m.OpusConfig.ChannelCount)
			}
			return relay.NewOpusTrack(ch), "", nil
		}
		return nil, fourCC(m.FourCC), nil
	case *message.AudioExCodedFrames:
		switch m.FourCC {
		case message.FourCCMP4A, message.FourCCOpus:
			return nil, "", nil // their header is the sequence start
		}
		return nil, fourCC(m.FourCC), nil
	}
	return nil, "", nil
}

func fourCC(f message.FourCC) string {
	return fmt.Sprintf("%q", []byte{byte(f >> 24), byte(f >> 16), byte(f >> 8), byte(f)})
}

func avcTrack(c *mp4.AVCDecoderConfiguration) (*relay.Track, string, error) {
	if c == nil || len(c.SequenceParameterSets) == 0 || len(c.PictureParameterSets) == 0 {
		return nil, "", errors.New("h264: sequence header without SPS or PPS")
	}
	t, err := relay.NewH264Track(c.SequenceParameterSets[0].NALUnit, c.PictureParameterSets[0].NALUnit)
	return t, "", err
}

func hevcTrack(c *mp4.HvcC) (*relay.Track, string, error) {
	if c == nil {
		return nil, "", errors.New("h265: sequence header without parameter sets")
	}
	vps, sps, pps := hevcParams(c)
	if vps == nil || sps == nil || pps == nil {
		return nil, "", errors.New("h265: sequence header without VPS, SPS or PPS")
	}
	t, err := relay.NewH265Track(vps, sps, pps)
	return t, "", err
}

// hevcParams returns the first VPS, SPS and PPS of an HEVC decoder configuration.
func hevcParams(c *mp4.HvcC) (vps, sps, pps []byte) {
	for _, a := range c.NaluArrays {
		for _, n := range a.Nalus {
			if len(n.NALUnit) == 0 {
				continue
			}
			switch h265.NALUType((n.NALUnit[0] >> 1) & 0x3f) {
			case h265.NALUType_VPS_NUT:
				vps = first(vps, n.NALUnit)
			case h265.NALUType_SPS_NUT:
				sps = first(sps, n.NALUnit)
			case h265.NALUType_PPS_NUT:
				pps = first(pps, n.NALUnit)
			}
		}
	}
	return vps, sps, pps
}

func first(have, b []byte) []byte {
	if have != nil {
		return have
	}
	return b
}
