package rtmp

import (
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
			vp := &relay.VideoParams{Codec: relay.H264, Track: p.set(t)}
			p.tracks = append(p.tracks, vp.Track)
			r.OnDataH264(gt, func(pts, dts time.Duration, au [][]byte) {
				p.video(vp, pts, dts, au)
			})
		case *codecs.H265:
			t, err := relay.NewH265Track(c.VPS, c.SPS, c.PPS)
			if err != nil {
				return err
			}
			vp := &relay.VideoParams{Codec: relay.H265, Track: p.set(t)}
			p.tracks = append(p.tracks, vp.Track)
			r.OnDataH265(gt, func(pts, dts time.Duration, au [][]byte) {
				p.video(vp, pts, dts, au)
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
			cur := p.set(relay.NewOpusTrack(ch))
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

// video publishes an H.264 or H.265 access unit; new parameter sets (a phone rotating, an
// encoder changing resolution) make a new track that readers receive as new decoder
// parameters.
func (p *publisher) video(vp *relay.VideoParams, pts, dts time.Duration, au [][]byte) {
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
