package whep

import (
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/relay"
)

// videoFeedback is what viewers may ask of Beffroi: retransmissions (NACK). Keyframe
// requests are accepted and ignored: a viewer gets the source's next keyframe.
func videoFeedback() []webrtc.RTCPFeedback {
	return []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
}

// h264Profiles are the profile-level-ids Beffroi answers with. Browsers decode any profile
// whatever was negotiated (their decoders are not the ones they advertise for encoding), so
// a High profile source plays in a viewer that offered Constrained Baseline.
func h264Profiles() []string { return []string{"42e01f", "42001f", "4d001f", "64001f", "640c1f"} }

// registerCodecs registers what Beffroi sends: H.264 (packetization mode 1: FU-A), VP8 and
// Opus.
func registerCodecs(me *webrtc.MediaEngine) error {
	pt := webrtc.PayloadType(102)
	for _, p := range h264Profiles() {
		err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + p,
				RTCPFeedback: videoFeedback(),
			},
			PayloadType: pt,
		}, webrtc.RTPCodecTypeVideo)
		if err != nil {
			return err
		}
		pt++
	}
	err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback(),
		},
		PayloadType: 96,
	}, webrtc.RTPCodecTypeVideo)
	if err != nil {
		return err
	}
	return me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio)
}

// mimeOf returns the WebRTC MIME type of a relay codec, or "" for a codec Beffroi does not
// send over WebRTC.
func mimeOf(c relay.Codec) string {
	switch c {
	case relay.H264:
		return webrtc.MimeTypeH264
	case relay.VP8:
		return webrtc.MimeTypeVP8
	case relay.Opus:
		return webrtc.MimeTypeOpus
	}
	return ""
}

// pickCodec returns, among the codecs negotiated for a transceiver, the one to send mime
// with: for H.264 packetization mode 1 (FU-A is what the packetiser makes), Constrained
// Baseline first (every browser has it).
func pickCodec(negotiated []webrtc.RTPCodecParameters, mime string) (webrtc.RTPCodecParameters, bool) {
	best, rank := webrtc.RTPCodecParameters{}, -1
	for _, c := range negotiated {
		if !strings.EqualFold(c.MimeType, mime) {
			continue
		}
		r := 1
		if mime == webrtc.MimeTypeH264 {
			if !strings.Contains(c.SDPFmtpLine, "packetization-mode=1") {
				continue
			}
			if strings.Contains(c.SDPFmtpLine, "profile-level-id=42e01f") {
				r = 2
			}
		}
		if r > rank {
			best, rank = c, r
		}
	}
	return best, rank >= 0
}

// offeredCodecs lists the codecs an offer's media sections of a kind ("video", "audio")
// accept, for error messages: "VP9, AV1".
func offeredCodecs(d *sdp.SessionDescription, kind string) string {
	seen := map[string]bool{}
	var out []string
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != kind {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			_, rest, _ := strings.Cut(a.Value, " ")
			name, _, _ := strings.Cut(rest, "/")
			switch strings.ToLower(name) {
			case "", "rtx", "red", "ulpfec", "flexfec-03":
				continue
			}
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
