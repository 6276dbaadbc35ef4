package relay

import (
	"bytes"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// VideoParams follows the parameter sets an H.264 or H.265 stream carries in band (MPEG-TS,
// RTP, and RTMP encoders that change resolution) and makes a new track when they change: a
// phone rotating reaches readers as new decoder parameters, not as a broken stream. Every
// ingest protocol uses it, so they all treat parameter changes alike.
type VideoParams struct {
	// Codec is H264 or H265.
	Codec Codec
	// Track is the current track: nil until a complete set of parameter sets was seen, unless
	// the caller knows it from elsewhere (an SDP, an RTMP sequence header).
	Track *Track

	vps, sps, pps []byte
}

// Update reads the parameter sets of an access unit. It reports whether the unit holds a
// picture (a VCL NAL unit: parameter sets and SEI alone carry nothing to decode), and whether
// Track changed; invalid parameter sets are reported as an error and Track is kept.
func (v *VideoParams) Update(au [][]byte) (picture, changed bool, err error) {
	if v.Codec == H265 {
		return v.update265(au)
	}
	return v.update264(au)
}

// IsKey reports whether a decoder can start at the access unit.
func (v *VideoParams) IsKey(au [][]byte) bool {
	if v.Codec == H265 {
		return h265.IsRandomAccess(au)
	}
	return h264.IsRandomAccess(au)
}

func (v *VideoParams) update264(au [][]byte) (picture, changed bool, err error) {
	var sps, pps []byte
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch typ := h264.NALUType(n[0] & 0x1f); {
		case typ == h264.NALUTypeSPS:
			sps = n
		case typ == h264.NALUTypePPS:
			pps = n
		case typ >= h264.NALUTypeNonIDR && typ <= h264.NALUTypeIDR:
			picture = true
		}
	}
	if sps == nil && pps == nil {
		return picture, false, nil
	}
	v.sps, v.pps = or(sps, v.sps, v.Track, func(t *Track) []byte { return t.SPS }), or(pps, v.pps, v.Track, func(t *Track) []byte { return t.PPS })
	if v.sps == nil || v.pps == nil {
		return picture, false, nil
	}
	if v.Track != nil && v.Track.Codec == H264 && bytes.Equal(v.sps, v.Track.SPS) && bytes.Equal(v.pps, v.Track.PPS) {
		return picture, false, nil
	}
	t, err := NewH264Track(v.sps, v.pps)
	if err != nil {
		v.sps = nil // wait for the next one
		return picture, false, err
	}
	v.Track = t
	return picture, true, nil
}

func (v *VideoParams) update265(au [][]byte) (picture, changed bool, err error) {
	var vps, sps, pps []byte
	for _, n := range au {
		if len(n) < 2 {
			continue
		}
		switch typ := h265.NALUType((n[0] >> 1) & 0b111111); {
		case typ == h265.NALUType_VPS_NUT:
			vps = n
		case typ == h265.NALUType_SPS_NUT:
			sps = n
		case typ == h265.NALUType_PPS_NUT:
			pps = n
		case typ < h265.NALUType_VPS_NUT:
			picture = true
		}
	}
	if vps == nil && sps == nil && pps == nil {
		return picture, false, nil
	}
	v.vps = or(vps, v.vps, v.Track, func(t *Track) []byte { return t.VPS })
	v.sps = or(sps, v.sps, v.Track, func(t *Track) []byte { return t.SPS })
	v.pps = or(pps, v.pps, v.Track, func(t *Track) []byte { return t.PPS })
	if v.vps == nil || v.sps == nil || v.pps == nil {
		return picture, false, nil
	}
	if v.Track != nil && v.Track.Codec == H265 && bytes.Equal(v.vps, v.Track.VPS) &&
		bytes.Equal(v.sps, v.Track.SPS) && bytes.Equal(v.pps, v.Track.PPS) {
		return picture, false, nil
	}
	t, err := NewH265Track(v.vps, v.sps, v.pps)
	if err != nil {
		v.sps = nil
		return picture, false, err
	}
	v.Track = t
	return picture, true, nil
}

// or picks the parameter set just seen, else the last one seen, else the current track's.
func or(seen, last []byte, cur *Track, get func(*Track) []byte) []byte {
	switch {
	case seen != nil:
		return seen
	case last != nil:
		return last
	case cur != nil:
		return get(cur)
	}
	return nil
}

// WithParamSets returns au, an access unit of a keyframe of track t, with t's parameter sets
// in front when it carries no SPS, for readers that find them in band only: RTMP and some
// SDP sources send them once, apart, and a track change mid-session (the standby picture's
// hand-back) must not leave a decoder on the previous track's. au is returned as it is for a
// codec other than H.264 and H.265, or when t lacks one of its parameter sets; otherwise the
// result is a new slice, au is not modified.
func WithParamSets(t *Track, au [][]byte) [][]byte {
	var sets [][]byte
	switch {
	case t.Codec == H264 && t.SPS != nil && t.PPS != nil:
		for _, u := range au {
			if len(u) > 0 && h264.NALUType(u[0]&0x1f) == h264.NALUTypeSPS {
				return au
			}
		}
		sets = [][]byte{t.SPS, t.PPS}
	case t.Codec == H265 && t.VPS != nil && t.SPS != nil && t.PPS != nil:
		for _, u := range au {
			if len(u) > 0 && h265.NALUType((u[0]>>1)&0x3f) == h265.NALUType_SPS_NUT {
				return au
			}
		}
		sets = [][]byte{t.VPS, t.SPS, t.PPS}
	default:
		return au
	}
	return append(sets, au...)
}
