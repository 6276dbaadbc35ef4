package whep

import (
	"github.com/pion/rtp/codecs"

	"github.com/beffroi/beffroi/relay"
)

// rtpMTU is the largest RTP payload sent, as pion's own tracks do: it leaves room for the
// RTP header, SRTP's tag and the IP/UDP headers below the usual 1280-1500 byte path MTU.
const rtpMTU = 1200

// payloads is a frame cut into RTP payloads. Every viewer sends the same payloads with its
// own headers (sequence numbers, timestamps, SSRC), so a frame is packetised once whatever
// the number of viewers. Never modified once built.
type payloads [][]byte

// The frame memo's keys: identities made once per process, like context keys, so that every
// viewer finds the payloads the first one cut.
var (
	h264Payloads = relay.NewMemoKey("whep-h264-rtp") //nolint:gochecknoglobals // an identity, never changed
	vp8Payloads  = relay.NewMemoKey("whep-vp8-rtp")  //nolint:gochecknoglobals // an identity, never changed
)

// framePayloads returns f's RTP payloads, building them the first time any viewer asks.
func framePayloads(f *relay.Frame) payloads {
	switch f.Track.Codec {
	case relay.H264:
		return f.Memo(h264Payloads, buildH264).(payloads)
	case relay.VP8:
		return f.Memo(vp8Payloads, buildVP8).(payloads)
	}
	// Opus: one frame is one packet's payload, as it came.
	if len(f.Units) == 1 {
		return payloads{f.Units[0]}
	}
	return payloads(f.Units)
}

// buildH264 packetises an access unit (NAL units without start codes) in packetization mode
// 1. A keyframe gets the track's SPS and PPS in front when it does not carry them (RTMP and
// MPEG-TS sources send them once, out of band): a viewer can start at any keyframe.
func buildH264(f *relay.Frame) any {
	// A fresh payloader per frame: its state (SPS and PPS waiting to be aggregated) must not
	// leak from one frame to another, and frames are packetised concurrently.
	p := &codecs.H264Payloader{}
	var out payloads
	if f.Key && len(f.Track.SPS) > 0 && len(f.Track.PPS) > 0 && !hasParamSets(f.Units) {
		out = append(out, p.Payload(rtpMTU, f.Track.SPS)...)
		out = append(out, p.Payload(rtpMTU, f.Track.PPS)...)
	}
	for _, u := range f.Units {
		// Units carry no start code, and emulation prevention keeps one out of their
		// bytes: the payloader takes each unit whole.
		out = append(out, p.Payload(rtpMTU, u)...)
	}
	return out
}

// hasParamSets reports whether an access unit carries an SPS and a PPS.
func hasParamSets(units [][]byte) bool {
	sps, pps := false, false
	for _, u := range units {
		if len(u) == 0 {
			continue
		}
		switch u[0] & 0x1f {
		case 7:
			sps = true
		case 8:
			pps = true
		}
	}
	return sps && pps
}

// buildVP8 packetises a VP8 frame. No picture ID: it would need a counter per viewer.
func buildVP8(f *relay.Frame) any {
	p := &codecs.VP8Payloader{}
	var out payloads
	for _, u := range f.Units {
		out = append(out, p.Payload(rtpMTU, u)...)
	}
	return out
}
