package rtmp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/beffroi/beffroi/relay"
)

// publisher turns what gortmplib reads from one RTMP publisher into relay frames.
type publisher struct {
	pub       *relay.Publisher
	log       *slog.Logger
	tracks    []*relay.Track
	err       error // first error raised inside a callback
	reason    string
	malformed bool
}

func (p *publisher) fail(err error) {
	if p.err == nil {
		p.err = err
	}
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
	for _, t := range p.tracks {
		if t.Width > 0 {
			parts = append(parts, fmt.Sprintf("%s %dx%d", t.Codec, t.Width, t.Height))
		} else {
			parts = append(parts, string(t.Codec))
		}
	}
	return strings.Join(parts, ", ")
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

// setup declares the tracks gortmplib found and installs one callback per track.
func (p *publisher) setup(r *gortmplib.Reader) error {
	for _, gt := range r.Tracks() {
		switch c := gt.Codec.(type) {
		case *codecs.H264:
			t, err := relay.NewH264Track(c.SPS, c.PPS)
			if err != nil {
				return err
			}
			cur := p.set(t)
			p.tracks = append(p.tracks, cur)
			r.OnDataH264(gt, func(pts, dts time.Duration, au [][]byte) {
				cur = p.h264(cur, pts, dts, au)
			})
		case *codecs.H265:
			t, err := relay.NewH265Track(c.VPS, c.SPS, c.PPS)
			if err != nil {
				return err
			}
			cur := p.set(t)
			p.tracks = append(p.tracks, cur)
			r.OnDataH265(gt, func(pts, dts time.Duration, au [][]byte) {
				cur = p.h265(cur, pts, dts, au)
			})
		case *codecs.AV1:
			cur := p.set(&relay.Track{Codec: relay.AV1})
			p.tracks = append(p.tracks, cur)
			r.OnDataAV1(gt, func(pts time.Duration, tu [][]byte) {
				p.write(&relay.Frame{Track: cur, DTS: pts, PTS: pts, Key: av1.IsRandomAccess2(tu), Units: tu})
			})
		case *codecs.VP9:
			cur := p.set(&relay.Track{Codec: relay.VP9})
			p.tracks = append(p.tracks, cur)
			r.OnDataVP9(gt, func(pts time.Duration, fr []byte) {
				// VP9 uncompressed header: frame_type bit is 0 for keyframes.
				key := len(fr) > 0 && fr[0]&0x04 == 0
				p.write(&relay.Frame{Track: cur, DTS: pts, PTS: pts, Key: key, Units: [][]byte{fr}})
			})
		case *codecs.MPEG4Audio:
			asc, err := c.Config.Marshal()
			if err != nil {
				return fmt.Errorf("aac: %w", err)
			}
			t, err := relay.NewAACTrack(asc)
			if err != nil {
				return err
			}
			cur := p.set(t)
			p.tracks = append(p.tracks, cur)
			r.OnDataMPEG4Audio(gt, func(pts time.Duration, au []byte) {
				p.write(&relay.Frame{Track: cur, DTS: pts, PTS: pts, Key: true, Units: [][]byte{au}})
			})
		case *codecs.Opus:
			ch := 2
			if c.IDHeader != nil {
				ch = int(c.IDHeader.ChannelCount)
			}
			cur := p.set(&relay.Track{Codec: relay.Opus, SampleRate: 48000, Channels: ch})
			p.tracks = append(p.tracks, cur)
			r.OnDataOpus(gt, func(pts time.Duration, pkt []byte) {
				p.write(&relay.Frame{Track: cur, DTS: pts, PTS: pts, Key: true, Units: [][]byte{pkt}})
			})
		default:
			p.log.Warn("track ignored: codec not supported", "codec", fmt.Sprintf("%T", gt.Codec))
		}
	}
	if len(p.tracks) == 0 {
		return errors.New("no supported track (video: H.264, H.265, AV1, VP9; audio: AAC, Opus)")
	}
	return p.err
}

// paramSets returns the parameter sets of an access unit and whether it holds anything else.
func h264Params(au [][]byte) (sps, pps []byte, media bool) {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		case h264.NALUTypeAccessUnitDelimiter:
		default:
			media = true
		}
	}
	return sps, pps, media
}

// h264 publishes an access unit; new parameter sets (a phone rotating, an encoder changing
// resolution) make a new track that readers receive as new decoder parameters.
func (p *publisher) h264(cur *relay.Track, pts, dts time.Duration, au [][]byte) *relay.Track {
	sps, pps, media := h264Params(au)
	if sps != nil || pps != nil {
		if sps == nil {
			sps = cur.SPS
		}
		if pps == nil {
			pps = cur.PPS
		}
		if !bytes.Equal(sps, cur.SPS) || !bytes.Equal(pps, cur.PPS) {
			t, err := relay.NewH264Track(sps, pps)
			if err != nil {
				p.log.Warn("ignored invalid SPS", "error", err)
			} else {
				cur = p.set(t)
			}
		}
	}
	if media {
		p.write(&relay.Frame{Track: cur, DTS: dts, PTS: pts, Key: h264.IsRandomAccess(au), Units: au})
	}
	return cur
}

func (p *publisher) h265(cur *relay.Track, pts, dts time.Duration, au [][]byte) *relay.Track {
	var vps, sps, pps []byte
	media := false
	for _, n := range au {
		if len(n) < 2 {
			continue
		}
		switch h265.NALUType((n[0] >> 1) & 0b111111) {
		case h265.NALUType_VPS_NUT:
			vps = n
		case h265.NALUType_SPS_NUT:
			sps = n
		case h265.NALUType_PPS_NUT:
			pps = n
		case h265.NALUType_AUD_NUT:
		default:
			media = true
		}
	}
	if vps != nil && sps != nil && pps != nil &&
		(!bytes.Equal(vps, cur.VPS) || !bytes.Equal(sps, cur.SPS) || !bytes.Equal(pps, cur.PPS)) {
		t, err := relay.NewH265Track(vps, sps, pps)
		if err != nil {
			p.log.Warn("ignored invalid H.265 SPS", "error", err)
		} else {
			cur = p.set(t)
		}
	}
	if media {
		p.write(&relay.Frame{Track: cur, DTS: dts, PTS: pts, Key: h265.IsRandomAccess(au), Units: au})
	}
	return cur
}
