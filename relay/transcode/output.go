package transcode

import (
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/beffroi/beffroi/relay"
)

// output demuxes the MPEG-TS ffmpeg writes and publishes it into the derived stream, until
// ffmpeg's output ends.
func (r *rendition) output(stdout io.Reader, p plan) error {
	mr := &mpegts.Reader{R: stdout}
	if err := demux(mr, (*mpegts.Reader).Initialize); err != nil {
		return fmt.Errorf("read ffmpeg output: %w", err)
	}
	pub := r.out.Publish(relay.SourceInfo{Protocol: "ffmpeg", RemoteAddr: "pid " + strconv.FormatInt(r.pid.Load(), 10)})
	defer pub.Close()
	o := &outputTracks{pub: pub}
	if err := o.setup(mr, p); err != nil {
		return err
	}
	r.setState(StateRunning, nil)
	for {
		if err := demux(mr, (*mpegts.Reader).Read); err != nil {
			return err
		}
	}
}

// demux calls f, turning a panic of the demuxer on malformed data into an error.
func demux(r *mpegts.Reader, f func(*mpegts.Reader) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("mpegts demuxer panic: %v\n%s", v, debug.Stack())
		}
	}()
	return f(r)
}

type outputTracks struct {
	pub *relay.Publisher
	td  mpegts.TimeDecoder
	err error
}

func (o *outputTracks) ts(ticks int64) time.Duration {
	return relay.TicksToDuration(o.td.Decode(ticks), 90000)
}

func (o *outputTracks) write(f *relay.Frame) error {
	if o.err == nil {
		o.err = o.pub.WriteFrame(f)
	}
	return o.err
}

func (o *outputTracks) set(t *relay.Track) (*relay.Track, error) {
	return o.pub.SetTrack(t)
}

// setup declares the derived stream's tracks and installs the callbacks that publish frames.
// The video track starts as the source's, so that readers see the same parameters; new
// parameter sets in band make a new one, as for any publisher.
func (o *outputTracks) setup(mr *mpegts.Reader, p plan) error {
	for _, t := range mr.Tracks() {
		switch c := t.Codec.(type) {
		case *codecs.H264, *codecs.H265:
			if p.video == nil {
				continue
			}
			vp := &relay.VideoParams{Codec: p.video.Codec}
			if p.videoOut != "" {
				// Re-encoded: the track comes from the encoder's parameter sets, in band.
				vp.Codec = p.videoOut
			} else {
				cur, err := o.set(p.video)
				if err != nil {
					return err
				}
				vp.Track = cur
			}
			onAU := func(pts, dts int64, au [][]byte) error {
				picture, changed, _ := vp.Update(au)
				if changed {
					if vp.Track, o.err = o.set(vp.Track); o.err != nil {
						return o.err
					}
				}
				if !picture || vp.Track == nil {
					return nil
				}
				return o.write(&relay.Frame{Track: vp.Track, DTS: o.ts(dts), PTS: o.ts(pts), Key: vp.IsKey(au), Units: au})
			}
			if _, ok := c.(*codecs.H265); ok {
				mr.OnDataH265(t, onAU)
			} else {
				mr.OnDataH264(t, onAU)
			}
		case *codecs.MPEG4Audio:
			asc, err := c.Marshal()
			if err != nil {
				return fmt.Errorf("aac from ffmpeg: %w", err)
			}
			tr, err := relay.NewAACTrack(asc)
			if err != nil {
				return err
			}
			if tr.SampleRate <= 0 {
				return fmt.Errorf("aac from ffmpeg: invalid sample rate %d", tr.SampleRate)
			}
			cur, err := o.set(tr)
			if err != nil {
				return err
			}
			samples := mpeg4audio.SamplesPerAccessUnit
			if c.FrameLengthFlag {
				samples = 960
			}
			auDuration := time.Duration(samples) * time.Second / time.Duration(tr.SampleRate)
			mr.OnDataMPEG4Audio(t, func(pts int64, aus [][]byte) error {
				at := o.ts(pts)
				for _, au := range aus {
					if err := o.write(&relay.Frame{Track: cur, DTS: at, PTS: at, Key: true, Units: [][]byte{au}}); err != nil {
						return err
					}
					at += auDuration
				}
				return nil
			})
		case *codecs.Opus:
			ch := 0
			if c.Desc != nil {
				ch = c.Desc.ChannelCount()
			}
			if ch <= 0 {
				ch = 2
			}
			cur, err := o.set(relay.NewOpusTrack(ch))
			if err != nil {
				return err
			}
			mr.OnDataOpus(t, func(pts int64, packets [][]byte) error {
				at := o.ts(pts)
				for _, pkt := range packets {
					if err := o.write(&relay.Frame{Track: cur, DTS: at, PTS: at, Key: true, Units: [][]byte{pkt}}); err != nil {
						return err
					}
					at += time.Duration(opus.PacketDuration2(pkt)) * time.Second / 48000
				}
				return nil
			})
		}
	}
	return nil
}
