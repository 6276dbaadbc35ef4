package rtctest

import (
	"net/netip"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
)

// LoopbackOnly reports whether every ICE candidate a server would take from an SDP (an offer,
// a trickle fragment parsed as one) is on a loopback address, so that a fuzzer's input makes
// no connectivity check leave 127.0.0.1. Candidates that do not parse are fine (pion refuses
// them); an SDP that does not parse has none.
func LoopbackOnly(b []byte) bool {
	var d sdp.SessionDescription
	if err := d.Unmarshal(b); err != nil {
		return true
	}
	attrs := append([]sdp.Attribute(nil), d.Attributes...)
	for _, m := range d.MediaDescriptions {
		attrs = append(attrs, m.Attributes...)
	}
	for _, a := range attrs {
		if a.IsICECandidate() && !LoopbackCandidate(a.Value) {
			return false
		}
	}
	return true
}

// LoopbackCandidate reports whether an ICE candidate ("candidate:1 1 udp ...", with or
// without "a=") is on a loopback address, or does not parse.
func LoopbackCandidate(s string) bool {
	if len(s) > 2 && s[:2] == "a=" {
		s = s[2:]
	}
	c, err := ice.UnmarshalCandidate(s)
	if err != nil {
		return true
	}
	a, err := netip.ParseAddr(c.Address())
	return err == nil && a.Unmap().IsLoopback()
}
