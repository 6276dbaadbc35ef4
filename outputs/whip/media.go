package whip

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/relay"
)

// mtu is the largest RTP payload sent: small enough for any path (IPv6, VPN, TURN over TCP).
const mtu = 1200

// Pacing of large frames: at most pacingBurst packets, then a pause of pacingGap (a 150 KB
// keyframe then takes about 12 ms, well within a frame interval).
const (
	pacingBurst = 10
	pacingGap   = time.Millisecond
)

// Payload types of the offer.
const (
	videoPT = 96
	audioPT = 111
)

// videoFeedback is what the pusher answers: retransmissions and keyframe requests (which it
// cannot honour: see Pusher.Push).
func videoFeedback() []webrtc.RTCPFeedback {
	return []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
}

// codecOf returns the codec the offer declares for a relay track, or an error when WHIP
// cannot carry it.
func codecOf(t *relay.Track) (webrtc.RTPCodecCapability, error) {
	switch t.Codec {
	case relay.H264:
		// The profile the source has: receivers check it, and pion matches codecs on it.
		profile := "42e01f"
		if len(t.SPS) >= 4 {
			profile = hex.EncodeToString(t.SPS[1:4])
		}
		return webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFeedback(),
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile,
		}, nil
	case relay.VP8:
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback()}, nil
	case relay.Opus:
		return webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		}, nil
	}
	return webrtc.RTPCodecCapability{}, fmt.Errorf("WHIP carries H264 or VP8 video and Opus audio, not %s", t.Codec)
}

// trackSender turns one relay track's frames into RTP packets on a pion track. The RTP
// timestamp of a frame is its presentation time (B-frames included, as RFC 6184 says), on the
// same origin for audio and video so that the receiver's sender reports line them up.
type trackSender struct {
	local   *webrtc.TrackLocalStaticRTP
	codec   relay.Codec
	rate    int64
	pay     rtp.Payloader
	seq     uint16
	tsStart uint32
	annexb  []byte // reused buffer for H.264 access units
}

func newTrackSender(t *relay.Track, c webrtc.RTPCodecCapability, id string) (*trackSender, error) {
	local, err := webrtc.NewTrackLocalStaticRTP(c, id, "beffroi")
	if err != nil {
		return nil, err
	}
	s := &trackSender{local: local, codec: t.Codec, rate: int64(c.ClockRate),
		seq: uint16(rand.Uint32()), tsStart: rand.Uint32()}
	switch t.Codec {
	case relay.H264:
		s.pay = &codecs.H264Payloader{}
	case relay.VP8:
		s.pay = &codecs.VP8Payloader{EnablePictureID: true}
	default:
		s.pay = &codecs.OpusPayloader{}
	}
	return s, nil
}

// write sends f, whose time is pts since the session's origin. It returns the bytes sent.
func (s *trackSender) write(f *relay.Frame, pts time.Duration) (int, error) {
	var data []byte
	switch s.codec {
	case relay.H264:
		data = s.h264(f)
	default:
		if len(f.Units) == 0 {
			return 0, nil
		}
		data = f.Units[0]
	}
	if len(data) == 0 {
		return 0, nil
	}
	ts := s.tsStart + uint32(relay.DurationToTicks(pts, s.rate))
	payloads := s.pay.Payload(mtu, data)
	n := 0
	for i, p := range payloads {
		if i > 0 && i%pacingBurst == 0 {
			// A keyframe is a hundred packets or more: sent at once, they overflow the
			// receiver's socket buffer (loss, then no picture until the next keyframe).
			time.Sleep(pacingGap)
		}
		pkt := &rtp.Packet{
			Header: rtp.Header{
				Version: 2, SequenceNumber: s.seq, Timestamp: ts,
				// The marker ends a video frame; for Opus it would mean the start of a talk
				// spurt, which a continuous stream never has after its first packet.
				Marker: s.codec != relay.Opus && i == len(payloads)-1,
			},
			Payload: p,
		}
		s.seq++
		if err := s.local.WriteRTP(pkt); err != nil {
			return n, err
		}
		n += len(p) + 12
	}
	return n, nil
}

// h264 returns f as an Annex-B access unit (what the payloader splits), with the track's SPS
// and PPS in front of a keyframe that does not carry them: the receiver may have joined late,
// and an RTMP source sends them once, out of band.
func (s *trackSender) h264(f *relay.Frame) []byte {
	b := s.annexb[:0]
	start := []byte{0, 0, 0, 1}
	if f.Key && f.Track.SPS != nil && !hasSPS(f.Units) {
		b = append(append(b, start...), f.Track.SPS...)
		if f.Track.PPS != nil {
			b = append(append(b, start...), f.Track.PPS...)
		}
	}
	for _, u := range f.Units {
		if len(u) == 0 {
			continue
		}
		switch h264.NALUType(u[0] & 0x1f) {
		case h264.NALUTypeAccessUnitDelimiter, h264.NALUTypeFillerData:
			continue // of no use to a WebRTC receiver
		}
		b = append(append(b, start...), u...)
	}
	s.annexb = b
	return b
}

func hasSPS(units [][]byte) bool {
	for _, u := range units {
		if len(u) > 0 && h264.NALUType(u[0]&0x1f) == h264.NALUTypeSPS {
			return true
		}
	}
	return false
}
