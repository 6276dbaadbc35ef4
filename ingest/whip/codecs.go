package whip

import (
	"slices"
	"strings"

	"github.com/pion/webrtc/v4"
)

// videoFeedback is what Beffroi asks of a video sender: retransmissions, keyframes on
// request, and congestion control.
func videoFeedback() []webrtc.RTCPFeedback {
	return []webrtc.RTCPFeedback{
		{Type: "goog-remb"}, {Type: "transport-cc"}, {Type: "ccm", Parameter: "fir"},
		{Type: "nack"}, {Type: "nack", Parameter: "pli"},
	}
}

// h264Profiles are the profile-level-ids browsers send (Chromium's OpenH264: baseline,
// constrained baseline, main; Safari and hardware encoders: high, constrained high).
func h264Profiles() []string { return []string{"42001f", "42e01f", "4d001f", "64001f", "640c1f"} }

// registerCodecs registers what Beffroi relays: H.264 (packetization modes 1 and 0), VP8 as
// a fallback for senders without H.264, and Opus.
func registerCodecs(me *webrtc.MediaEngine) error {
	pt := webrtc.PayloadType(100)
	var codecs []webrtc.RTPCodecParameters
	for _, mode := range []string{"1", "0"} {
		for _, p := range h264Profiles() {
			codecs = append(codecs, webrtc.RTPCodecParameters{
				RTPCodecCapability: webrtc.RTPCodecCapability{
					MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
					SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=" + mode + ";profile-level-id=" + p,
					RTCPFeedback: videoFeedback(),
				},
				PayloadType: pt,
			})
			pt++
		}
	}
	codecs = append(codecs, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback(),
		},
		PayloadType: 96,
	})
	for _, c := range codecs {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
	}
	return me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio)
}

// codecRank orders codecs for the answer: H.264 first (what platforms and HLS take without
// transcoding; packetization mode 1 before 0), then VP8. pion otherwise keeps the offer's
// order, and Chromium offers VP8 first.
func codecRank(c webrtc.RTPCodecParameters) int {
	switch {
	case strings.EqualFold(c.MimeType, webrtc.MimeTypeH264) && strings.Contains(c.SDPFmtpLine, "packetization-mode=1"):
		return 0
	case strings.EqualFold(c.MimeType, webrtc.MimeTypeH264):
		return 1
	case strings.EqualFold(c.MimeType, webrtc.MimeTypeVP8):
		return 2
	}
	return 3
}

// preferH264 reorders the codecs of every video transceiver created from the offer. It
// must run after SetRemoteDescription and before CreateAnswer. It reports whether any
// transceiver has a codec Beffroi takes.
func preferH264(pc *webrtc.PeerConnection) (bool, error) {
	usable := false
	for _, tr := range pc.GetTransceivers() {
		codecs := tr.Receiver().GetParameters().Codecs
		if len(codecs) > 0 {
			usable = true
		}
		if tr.Kind() != webrtc.RTPCodecTypeVideo || len(codecs) < 2 {
			continue
		}
		sorted := slices.Clone(codecs)
		slices.SortStableFunc(sorted, func(a, b webrtc.RTPCodecParameters) int { return codecRank(a) - codecRank(b) })
		if err := tr.SetCodecPreferences(sorted); err != nil {
			return false, err
		}
	}
	return usable, nil
}
