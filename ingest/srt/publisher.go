package srt

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/beffroi/beffroi/relay"
)

// errNoTrack ends a publisher whose MPEG-TS holds nothing the relay carries.
var errNoTrack = errors.New("no supported track (video: H.264, H.265; audio: AAC, Opus)")

// decodeLogInterval is the least time between two log lines about malformed MPEG-TS from one
// publisher: a bad network corrupts packets all the time, and the log must stay readable.
const decodeLogInterval = 10 * time.Second

// publisher turns the MPEG-TS one SRT publisher sends into relay frames.
type publisher struct {
	pub    *relay.Publisher
	log    *slog.Logger
	codecs []string
	video  *relay.Track // the current video track, nil until its parameter sets arrive
	err    error        // first error raised inside a callback: ends the publisher
	td     mpegts.TimeDecoder

	// malformed data, logged at most once per decodeLogInterval
	lastDecodeLog time.Time
	decodeErrors  int // since the last line

	// video access units dropped while waiting for the parameter sets
	waitingParams int
}

// run reads the MPEG-TS from r until it ends, calling initialized once the tracks are known.
func (p *publisher) run(r io.Reader, initialized func()) error {
	mr := &mpegts.Reader{R: r}
	if err := demux(mr, (*mpegts.Reader).Initialize); err != nil {
		return err
	}
	initialized()
	if err := p.setup(mr); err != nil {
		return err
	}
	p.log.Info("publisher connected", "tracks", strings.Join(p.codecs, ", "))
	mr.OnDecodeError(p.decodeError)
	for {
		if err := demux(mr, (*mpegts.Reader).Read); err != nil {
			return err
		}
	}
}

// decodeError logs malformed data without flooding the log nor closing the connection.
func (p *publisher) decodeError(err error) {
	p.decodeErrors++
	now := time.Now()
	if !p.lastDecodeLog.IsZero() && now.Sub(p.lastDecodeLog) < decodeLogInterval {
		return
	}
	p.log.Warn("malformed MPEG-TS data skipped", "error", err, "errors", p.decodeErrors)
	p.lastDecodeLog, p.decodeErrors = now, 0
}

func (p *publisher) fail(err error) {
	if p.err == nil {
		p.err = err
	}
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

// ts turns a 33-bit MPEG-TS timestamp (90 kHz) into a time on the publisher's timeline,
// unwrapping the 26.5-hour wrap-around. One decoder serves every track, so tracks stay in sync.
func (p *publisher) ts(ticks int64) time.Duration {
	return relay.TicksToDuration(p.td.Decode(ticks), 90000)
}

// setup declares the tracks the MPEG-TS program holds and installs one callback per track. A
// stream carries one video and one audio track: the first supported of each kind is taken.
func (p *publisher) setup(r *mpegts.Reader) error {
	var haveVideo, haveAudio bool
	for _, t := range r.Tracks() {
		if t.Codec.IsVideo() && haveVideo || !t.Codec.IsVideo() && haveAudio {
			p.log.Info("track ignored: the stream already has a track of this kind", "codec", codecName(t.Codec), "pid", t.PID)
			continue
		}
		switch c := t.Codec.(type) {
		case *codecs.H264:
			haveVideo = true
			p.codecs = append(p.codecs, string(relay.H264))
			vp := &relay.VideoParams{Codec: relay.H264}
			r.OnDataH264(t, func(pts, dts int64, au [][]byte) error {
				p.videoAU(vp, p.ts(pts), p.ts(dts), au)
				return p.err
			})
		case *codecs.H265:
			haveVideo = true
			p.codecs = append(p.codecs, string(relay.H265))
			vp := &relay.VideoParams{Codec: relay.H265}
			r.OnDataH265(t, func(pts, dts int64, au [][]byte) error {
				p.videoAU(vp, p.ts(pts), p.ts(dts), au)
				return p.err
			})
		case *codecs.MPEG4Audio:
			asc, err := c.Marshal()
			if err != nil {
				return fmt.Errorf("aac: %w", err)
			}
			tr, err := relay.NewAACTrack(asc)
			if err != nil {
				return err
			}
			if tr.SampleRate <= 0 {
				return fmt.Errorf("aac: invalid sample rate %d", tr.SampleRate)
			}
			haveAudio = true
			cur := p.set(tr)
			p.codecs = append(p.codecs, fmt.Sprintf("%s %d Hz", relay.AAC, tr.SampleRate))
			samples := mpeg4audio.SamplesPerAccessUnit
			if c.FrameLengthFlag {
				samples = 960
			}
			auDuration := time.Duration(samples) * time.Second / time.Duration(tr.SampleRate)
			r.OnDataMPEG4Audio(t, func(pts int64, aus [][]byte) error {
				// A PES packet carries several access units and one timestamp, the first one's.
				at := p.ts(pts)
				for _, au := range aus {
					p.write(&relay.Frame{Track: cur, DTS: at, PTS: at, Key: true, Units: [][]byte{au}})
					at += auDuration
				}
				return p.err
			})
		case *codecs.Opus:
			ch := 0
			if c.Desc != nil {
				ch = c.Desc.ChannelCount()
			}
			if ch <= 0 {
				ch = 2
			}
			haveAudio = true
			cur := p.set(relay.NewOpusTrack(ch))
			p.codecs = append(p.codecs, string(relay.Opus))
			r.OnDataOpus(t, func(pts int64, packets [][]byte) error {
				at := p.ts(pts)
				for _, pkt := range packets {
					p.write(&relay.Frame{Track: cur, DTS: at, PTS: at, Key: true, Units: [][]byte{pkt}})
					at += time.Duration(opus.PacketDuration2(pkt)) * time.Second / 48000
				}
				return p.err
			})
		default:
			p.log.Info("track ignored: codec not supported", "codec", codecName(t.Codec), "pid", t.PID)
		}
	}
	if !haveVideo && !haveAudio {
		return errNoTrack
	}
	return p.err
}

// codecName names an MPEG-TS codec for the log.
func codecName(c codecs.Codec) string {
	switch c.(type) {
	case *codecs.H264:
		return "H.264"
	case *codecs.H265:
		return "H.265"
	case *codecs.MPEG4Audio:
		return "AAC"
	case *codecs.MPEG4AudioLATM:
		return "AAC (LATM)"
	case *codecs.Opus:
		return "Opus"
	case *codecs.MPEG1Audio:
		return "MPEG-1/2 audio (MP2, MP3)"
	case *codecs.AC3:
		return "AC-3"
	case *codecs.EAC3:
		return "E-AC-3"
	case *codecs.MPEG1Video:
		return "MPEG-1/2 video"
	case *codecs.MPEG4Video:
		return "MPEG-4 video"
	case *codecs.KLV:
		return "KLV metadata"
	case *codecs.DVBSubtitle:
		return "DVB subtitles"
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", c), "*codecs.")
}

// videoAU publishes an access unit. MPEG-TS carries the parameter sets in the stream only: the
// video track exists from the first SPS and PPS, and new ones (a phone rotating, an encoder
// changing resolution) make a new track that readers receive as new decoder parameters.
func (p *publisher) videoAU(vp *relay.VideoParams, pts, dts time.Duration, au [][]byte) {
	picture, changed, err := vp.Update(au)
	if err != nil {
		p.decodeError(err)
	}
	if changed {
		vp.Track = p.set(vp.Track)
		p.video = vp.Track
	}
	p.writeVideo(picture, &relay.Frame{DTS: dts, PTS: pts, Key: vp.IsKey(au), Units: au})
}

// writeVideo publishes a video frame on the current video track. Access units without a
// picture (parameter sets or SEI alone) carry nothing to decode; pictures before the first
// parameter sets cannot be decoded.
func (p *publisher) writeVideo(vcl bool, f *relay.Frame) {
	if !vcl {
		return
	}
	if p.video == nil {
		if p.waitingParams == 0 {
			p.log.Info("video: waiting for the parameter sets (SPS/PPS) before publishing pictures")
		}
		p.waitingParams++
		return
	}
	f.Track = p.video
	p.write(f)
}
