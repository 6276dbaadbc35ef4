package transcode

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/beffroi/beffroi/relay"
)

// tsHeadroom is where the MPEG-TS timeline fed to ffmpeg starts: frames a little older than
// the first one (audio interleaved just before a keyframe) still get positive timestamps.
const tsHeadroom = time.Second

// feeder writes the frames of a source reader as MPEG-TS, and, when the video is re-encoded,
// the video as IVF on a pipe of its own (MPEG-TS cannot carry VP8 or VP9).
type feeder struct {
	p      plan
	w      *mpegts.Writer // nil when no track goes through MPEG-TS
	vt, at *mpegts.Track
	ivf    *ivfWriter // nil unless the video is re-encoded
	base   time.Duration
	based  bool
}

// feed writes rd's frames to ts (MPEG-TS) and ivf (IVF, only when p re-encodes the video)
// until the source ends (errSourceEnded), its tracks change (errTracksChanged), ctx ends or a
// write fails (ffmpeg died). It is the only goroutine that writes to them, and a normal relay
// reader: a stalled ffmpeg makes it skip, never the source wait.
func feed(ctx context.Context, rd *relay.Reader, p plan, ts, ivf io.Writer) error {
	f := &feeder{p: p}
	var flushers []*bufio.Writer
	var tracks []*mpegts.Track
	if p.video != nil && !p.ivf() {
		f.vt = &mpegts.Track{Codec: videoCodec(p.video.Codec)}
		tracks = append(tracks, f.vt)
	}
	if p.audio != nil {
		c, err := audioCodec(p.audio)
		if err != nil {
			return err
		}
		f.at = &mpegts.Track{Codec: c}
		tracks = append(tracks, f.at)
	}
	if len(tracks) > 0 {
		bw := bufio.NewWriterSize(ts, 64*1024)
		flushers = append(flushers, bw)
		f.w = &mpegts.Writer{W: bw, Tracks: tracks}
		if err := f.w.Initialize(); err != nil {
			return err
		}
		// The tables first, so that ffmpeg knows the program without waiting for a keyframe.
		if _, err := f.w.WriteTables(); err != nil {
			return fmt.Errorf("write to ffmpeg: %w", err)
		}
	}
	if p.ivf() {
		bw := bufio.NewWriterSize(ivf, 256*1024)
		flushers = append(flushers, bw)
		f.ivf = &ivfWriter{w: bw}
		if err := f.ivf.header(p.video); err != nil {
			return fmt.Errorf("write to ffmpeg: %w", err)
		}
	}
	flush := func() error {
		for _, bw := range flushers {
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("write to ffmpeg: %w", err)
			}
		}
		return nil
	}
	if err := flush(); err != nil {
		return err
	}
	for {
		fr, err := rd.Next(ctx)
		if errors.Is(err, relay.ErrEnded) {
			return errSourceEnded
		}
		if err != nil {
			return err
		}
		// Gather what is already there into one write.
		for fr != nil {
			if err := f.write(fr); err != nil {
				return err
			}
			fr, _ = rd.TryNext()
		}
		if err := flush(); err != nil {
			return err
		}
	}
}

func videoCodec(c relay.Codec) codecs.Codec {
	if c == relay.H265 {
		return &codecs.H265{}
	}
	return &codecs.H264{}
}

func audioCodec(t *relay.Track) (codecs.Codec, error) {
	if t.Codec == relay.AAC {
		var c mpeg4audio.AudioSpecificConfig
		if err := c.Unmarshal(t.AACConfig); err != nil {
			return nil, fmt.Errorf("aac: %w", err)
		}
		return &codecs.MPEG4Audio{Config: c}, nil
	}
	ch := t.Channels
	if ch <= 0 {
		ch = 2
	}
	return &codecs.Opus{ChannelCount: ch}, nil //nolint:staticcheck // what the Writer reads
}

// ticks converts a frame time to the 33-bit, 90 kHz MPEG-TS clock, relative to the first frame.
func (f *feeder) ticks(d time.Duration) int64 {
	d = max(d-f.base, 0)
	return relay.DurationToTicks(d, 90000) & 0x1FFFFFFFF
}

func (f *feeder) write(fr *relay.Frame) error {
	k := fr.Track.Kind()
	var declared *relay.Track
	if k == relay.Video {
		declared = f.p.video
	} else {
		declared = f.p.audio
	}
	if declared == nil {
		if !f.p.needs.keeps(k) {
			return nil // a kind the needs drop
		}
		// The source did not have this kind when ffmpeg started.
		return errTracksChanged
	}
	if fr.Track.Codec != declared.Codec || k == relay.Audio && !fr.Track.SameParams(declared) {
		return errTracksChanged
	}
	if k == relay.Video && f.p.videoOut != "" && f.p.shape.IsZero() && f.p.outW > 0 && fr.Track.Width*fr.Track.Height > f.p.outW*f.p.outH {
		// A picture larger than the encoder makes (its size is fixed): start again. A smaller
		// one is scaled to that size. A shaped picture keeps its size whatever the source's.
		return errTracksChanged
	}
	if k == relay.Video && f.p.videoOut == "" && f.p.needs.NoBFrames && fr.PTS != fr.DTS {
		// Copied so far (the rendition made Opus of an AAC source): the frame is not fed,
		// ffmpeg starts again re-encoding the video.
		return errBFrames
	}
	units := nonEmpty(fr.Units)
	if len(units) == 0 {
		return nil
	}
	if !f.based {
		f.base, f.based = fr.DTS-tsHeadroom, true
	}
	if fr.Key {
		// ffmpeg, and the readers of the derived stream, find the parameters in band only.
		units = relay.WithParamSets(fr.Track, units)
	}
	var err error
	switch fr.Track.Codec {
	case relay.VP8, relay.VP9:
		// Not wrapped at 33 bits as MPEG-TS is: IVF timestamps are 64-bit.
		err = f.ivf.frame(relay.DurationToTicks(max(fr.PTS-f.base, 0), 90000), units[0])
	case relay.H264:
		err = f.w.WriteH264(f.vt, f.ticks(fr.PTS), f.ticks(fr.DTS), units)
	case relay.H265:
		err = f.w.WriteH265(f.vt, f.ticks(fr.PTS), f.ticks(fr.DTS), units)
	case relay.AAC:
		err = f.w.WriteMPEG4Audio(f.at, f.ticks(fr.PTS), units[:1])
	case relay.Opus:
		err = f.w.WriteOpus(f.at, f.ticks(fr.PTS), units[:1])
	}
	if err != nil {
		return fmt.Errorf("write to ffmpeg: %w", err)
	}
	return nil
}

// nonEmpty returns units without the empty ones (the MPEG-TS writer reads every unit's first
// byte), copying the slice only when there is one.
func nonEmpty(units [][]byte) [][]byte {
	for i, u := range units {
		if len(u) == 0 {
			out := append([][]byte(nil), units[:i]...)
			for _, u := range units[i:] {
				if len(u) > 0 {
					out = append(out, u)
				}
			}
			return out
		}
	}
	return units
}

// ivfWriter writes VP8 or VP9 frames in IVF, the simplest container ffmpeg reads from a pipe:
// a 32-byte header, then each frame behind a 12-byte header (size, timestamp). Timestamps are
// on the 90 kHz clock of the MPEG-TS the audio goes in, from the same origin, so ffmpeg
// (with -copyts) keeps the two inputs in step.
type ivfWriter struct {
	w   io.Writer
	hdr [32]byte
}

func (w *ivfWriter) header(t *relay.Track) error {
	h := w.hdr[:32]
	copy(h[0:4], "DKIF")
	binary.LittleEndian.PutUint16(h[4:], 0)  // version
	binary.LittleEndian.PutUint16(h[6:], 32) // header size
	fourcc := "VP80"
	if t.Codec == relay.VP9 {
		fourcc = "VP90"
	}
	copy(h[8:12], fourcc)
	binary.LittleEndian.PutUint16(h[12:], uint16(t.Width))
	binary.LittleEndian.PutUint16(h[14:], uint16(t.Height))
	binary.LittleEndian.PutUint32(h[16:], 90000) // time base: 1/90000
	binary.LittleEndian.PutUint32(h[20:], 1)
	binary.LittleEndian.PutUint32(h[24:], 0) // frame count: unknown (live)
	binary.LittleEndian.PutUint32(h[28:], 0)
	_, err := w.w.Write(h)
	return err
}

func (w *ivfWriter) frame(pts int64, data []byte) error {
	h := w.hdr[:12]
	binary.LittleEndian.PutUint32(h[0:], uint32(len(data)))
	binary.LittleEndian.PutUint64(h[4:], uint64(pts))
	if _, err := w.w.Write(h); err != nil {
		return err
	}
	_, err := w.w.Write(data)
	return err
}
