package standby

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/beffroi/beffroi/relay"
)

// encodeTimeout bounds one encoding of a loop (a second of picture and sound).
const encodeTimeout = 20 * time.Second

// Message is the built-in slate's text under the stream's name.
const Message = "Nous revenons dans un instant\nBack in a moment"

// fonts are where the built-in slate looks for a font (Debian's fonts-liberation and
// fonts-dejavu-core); without one the slate has no text.
func fonts() []string {
	return []string{
		"/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
		"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
		"/usr/share/fonts/truetype/freefont/FreeSans.ttf",
	}
}

// params are what a loop is encoded for: the source's last video and audio parameters, and
// the picture. A loop is encoded once per stream and params.
type params struct {
	width, height int
	rateNum       int // frame rate, rateNum/rateDen per second
	rateDen       int
	profile       string // x264's -profile:v: the source's, so platforms see the same
	level         string
	audio         relay.Codec // AAC, Opus, or "" for none
	sampleRate    int
	channels      int
	title         string
	picture       string // the uploaded image, "" for the built-in slate
	pictureMod    int64  // its modification time: a new upload makes a new loop
}

// fits reports whether a loop made for q serves p: the same in all but a frame rate within
// 2 % (a measured rate wavers between 29.97 and 30: the loop is not made again for that).
func (p params) fits(q params) bool {
	pr, qr := float64(p.rateNum)/float64(p.rateDen), float64(q.rateNum)/float64(q.rateDen)
	p.rateNum, p.rateDen = q.rateNum, q.rateDen
	return p == q && math.Abs(pr-qr) <= 0.02*qr
}

// sameButRate reports whether p and q differ in their frame rates only.
func (p params) sameButRate(q params) bool {
	p.rateNum, p.rateDen = q.rateNum, q.rateDen
	return p == q
}

// frameTime is the time of frame i's start, from the loop's start.
func (p params) frameTime(i int64) time.Duration {
	return time.Duration(float64(i) * float64(p.rateDen) / float64(p.rateNum) * float64(time.Second))
}

// frames is the number of video frames in the loop: one second, one GOP.
func (p params) frames() int {
	return max(1, int(math.Round(float64(p.rateNum)/float64(p.rateDen))))
}

// errUnsupported: the source's codecs have no standby picture (only H.264 video is made).
var errUnsupported = errors.New("no standby picture for this source")

// paramsOf reads the stream's last parameters. fps is the source's measured frame rate (0 when
// not known yet: ok is false then, unless must, which takes 30 fps).
func paramsOf(video, audio *relay.Track, fps float64, must bool) (params, bool, error) {
	var p params
	if video == nil || video.Codec != relay.H264 {
		codec := "none"
		if video != nil {
			codec = string(video.Codec)
		}
		return p, false, fmt.Errorf("%w: video %s (made for H264)", errUnsupported, codec)
	}
	var sps h264.SPS
	if err := sps.Unmarshal(video.SPS); err != nil {
		return p, false, fmt.Errorf("source SPS: %w", err)
	}
	p.width, p.height = video.Width, video.Height
	if p.width <= 0 || p.height <= 0 || p.width%2 != 0 || p.height%2 != 0 {
		return p, false, fmt.Errorf("%w: picture size %dx%d", errUnsupported, p.width, p.height)
	}
	switch sps.ProfileIdc {
	case 66:
		p.profile = "baseline"
	case 77:
		p.profile = "main"
	default:
		p.profile = "high"
	}
	if sps.LevelIdc > 0 {
		p.level = strconv.Itoa(int(sps.LevelIdc)/10) + "." + strconv.Itoa(int(sps.LevelIdc)%10)
	}
	if fps <= 0 {
		if !must {
			return p, false, nil
		}
		fps = 30
	}
	p.rateNum, p.rateDen = frameRate(fps)
	if audio != nil {
		switch audio.Codec {
		case relay.AAC:
			p.audio, p.sampleRate, p.channels = relay.AAC, audio.SampleRate, audio.Channels
		case relay.Opus:
			p.audio, p.sampleRate, p.channels = relay.Opus, 48000, audio.Channels
		default:
			return p, false, fmt.Errorf("%w: audio %s", errUnsupported, audio.Codec)
		}
		if p.sampleRate <= 0 {
			return p, false, fmt.Errorf("%w: audio sample rate %d", errUnsupported, p.sampleRate)
		}
		if p.channels <= 0 {
			p.channels = 2
		}
	}
	return p, true, nil
}

// frameRate turns a measured frame rate into the encoder's: one of the NTSC rates
// (30000/1001...) or a whole number, which is what encoders send. The measure counts the
// frames of each second, so a 30 fps camera reads 29 as often as 30: within 4 % of a usual
// rate, that rate, or every reading of 29 would encode the standby picture again.
func frameRate(fps float64) (num, den int) {
	fps = min(max(fps, 1), 120)
	for _, r := range []int{24, 30, 60} {
		if ntsc := float64(r*1000) / 1001; math.Abs(fps-ntsc) < 0.01 {
			return r * 1000, 1001
		}
	}
	best := 0
	for _, r := range []int{15, 24, 25, 30, 48, 50, 60} {
		if d := math.Abs(fps - float64(r)); d <= 0.04*float64(r) && (best == 0 || d < math.Abs(fps-float64(best))) {
			best = r
		}
	}
	if best > 0 {
		return best, 1
	}
	return int(math.Round(fps)), 1
}

// loop is one second of standby picture and sound, encoded once, replayed with new
// timestamps for as long as the standby lasts.
type loop struct {
	p      params
	video  *relay.Track
	audio  *relay.Track
	vunits [][][]byte // access units, the first a keyframe
	aunits [][]byte
	adur   []time.Duration // each audio frame's duration
	cpu    time.Duration   // the CPU time ffmpeg took to make it
}

// encode runs ffmpeg once to make a loop for p. The audio frames go on the source's audio
// track (the same codec, sample rate and channels: readers see no change of it), the video
// on the source's track when the parameter sets happen to be the same, else on its own.
func encode(ctx context.Context, ffmpeg string, p params, video, audio *relay.Track) (*loop, error) {
	dir, err := os.MkdirTemp("", "beffroi-standby-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	args, err := encodeArgs(p, dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, encodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: %w: %s", err, strings.TrimSpace(lastLines(stderr.String(), 3)))
	}
	l, err := demuxLoop(out, p)
	if err != nil {
		return nil, err
	}
	l.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if video.SameParams(l.video) {
		l.video = video
	}
	if audio != nil {
		if !sameAudio(audio, l.audio) {
			// Readers would see new audio parameters, and a rendition made from the source
			// (Opus for WebRTC viewers) would restart on each: no standby rather than that.
			return nil, fmt.Errorf("%w: its audio cannot be made with the source's parameters (%s, %d Hz, %d channels)",
				errUnsupported, audio.Codec, audio.SampleRate, audio.Channels)
		}
		l.audio = audio
	}
	return l, nil
}

// sameAudio reports whether frames of b decode with a's parameters: the same codec, object
// type, sample rate and channels (the AudioSpecificConfig bytes may differ in what does not
// matter to the decoder).
func sameAudio(a, b *relay.Track) bool {
	if b == nil {
		return false
	}
	if a.Codec != b.Codec || a.SampleRate != b.SampleRate || a.Channels != b.Channels {
		return false
	}
	if a.Codec != relay.AAC {
		return true
	}
	var ca, cb mpeg4audio.AudioSpecificConfig
	if ca.Unmarshal(a.AACConfig) != nil || cb.Unmarshal(b.AACConfig) != nil {
		return false
	}
	return ca.Type == cb.Type && ca.ExtensionType == 0 && cb.ExtensionType == 0 && !ca.FrameLengthFlag && !cb.FrameLengthFlag
}

// encodeArgs is ffmpeg's command line for one loop of p; text files for the slate go in dir.
// libx264 for live (no B-frames, no look-ahead), one GOP of one second; the audio is silence.
func encodeArgs(p params, dir string) ([]string, error) {
	rate := strconv.Itoa(p.rateNum) + "/" + strconv.Itoa(p.rateDen)
	size := strconv.Itoa(p.width) + "x" + strconv.Itoa(p.height)
	n := p.frames()
	dur := strconv.FormatFloat(p.frameTime(int64(n)).Seconds(), 'f', 6, 64)
	a := []string{"-hide_banner", "-nostdin", "-loglevel", "error"}
	var vf string
	if p.picture != "" {
		a = append(a, "-loop", "1", "-framerate", rate, "-i", p.picture)
		vf = fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1",
			p.width, p.height, p.width, p.height)
	} else {
		a = append(a, "-f", "lavfi", "-i", "color=c=0x1b2a41:s="+size+":r="+rate)
		f, err := slateText(p, dir)
		if err != nil {
			return nil, err
		}
		vf = f
	}
	if p.audio != "" {
		a = append(a, "-f", "lavfi", "-i", "anullsrc=r="+strconv.Itoa(p.sampleRate)+":cl=stereo")
	}
	if vf != "" {
		vf += ","
	}
	a = append(a, "-map", "0:v:0", "-vf", vf+"fps="+rate+",format=yuv420p",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", p.profile)
	if p.level != "" {
		a = append(a, "-level:v", p.level)
	}
	g := strconv.Itoa(n)
	a = append(a, "-g", g, "-keyint_min", g, "-sc_threshold", "0", "-bf", "0", "-r", rate)
	if p.audio != "" {
		a = append(a, "-map", "1:a:0", "-ac", strconv.Itoa(p.channels), "-ar", strconv.Itoa(p.sampleRate))
		if p.audio == relay.Opus {
			a = append(a, "-c:a", "libopus", "-b:a", "64000")
		} else {
			a = append(a, "-c:a", "aac", "-b:a", "128000")
		}
	}
	return append(a, "-t", dur, "-f", "mpegts", "-muxdelay", "0", "-muxpreload", "0", "pipe:1"), nil
}

// slateText is the drawtext filter of the built-in slate: the stream's name, then Message.
// The text goes through files, so that no name needs escaping for the filter's syntax.
func slateText(p params, dir string) (string, error) {
	font := ""
	for _, f := range fonts() {
		if _, err := os.Stat(f); err == nil {
			font = f
			break
		}
	}
	if font == "" {
		return "", nil
	}
	title := filepath.Join(dir, "title.txt")
	msg := filepath.Join(dir, "message.txt")
	if err := os.WriteFile(title, []byte(p.title), 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(msg, []byte(Message), 0o600); err != nil {
		return "", err
	}
	big, small := p.height/10, p.height/20
	draw := func(file string, size, y int) string {
		return fmt.Sprintf("drawtext=fontfile=%s:textfile=%s:fontcolor=white:fontsize=%d:line_spacing=%d:x=(w-text_w)/2:y=%d",
			font, file, size, size/3, y)
	}
	return draw(title, big, p.height/2-big-big/2) + "," + draw(msg, small, p.height/2+small/2), nil
}

// demuxLoop reads the MPEG-TS ffmpeg wrote.
func demuxLoop(ts []byte, p params) (*loop, error) {
	mr := &mpegts.Reader{R: bytes.NewReader(ts)}
	if err := mr.Initialize(); err != nil {
		return nil, fmt.Errorf("read ffmpeg output: %w", err)
	}
	l := &loop{p: p}
	vp := &relay.VideoParams{Codec: relay.H264}
	for _, t := range mr.Tracks() {
		switch c := t.Codec.(type) {
		case *codecs.H264:
			mr.OnDataH264(t, func(_, _ int64, au [][]byte) error {
				picture, _, err := vp.Update(au)
				if err != nil {
					return err
				}
				if !picture || vp.Track == nil {
					return nil
				}
				if len(l.vunits) == 0 && !vp.IsKey(au) {
					return nil
				}
				l.vunits = append(l.vunits, clone(au))
				return nil
			})
		case *codecs.MPEG4Audio:
			asc, err := c.Marshal()
			if err != nil {
				return nil, err
			}
			if l.audio, err = relay.NewAACTrack(asc); err != nil {
				return nil, err
			}
			d := time.Duration(mpeg4audio.SamplesPerAccessUnit) * time.Second / time.Duration(l.audio.SampleRate)
			mr.OnDataMPEG4Audio(t, func(_ int64, aus [][]byte) error {
				for _, au := range aus {
					l.aunits = append(l.aunits, append([]byte(nil), au...))
					l.adur = append(l.adur, d)
				}
				return nil
			})
		case *codecs.Opus:
			l.audio = relay.NewOpusTrack(max(p.channels, 1))
			mr.OnDataOpus(t, func(_ int64, packets [][]byte) error {
				for _, pkt := range packets {
					l.aunits = append(l.aunits, append([]byte(nil), pkt...))
					l.adur = append(l.adur, time.Duration(opus.PacketDuration2(pkt))*time.Second/48000)
				}
				return nil
			})
		}
	}
	for {
		err := mr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read ffmpeg output: %w", err)
		}
	}
	l.video = vp.Track
	switch {
	case l.video == nil || len(l.vunits) == 0:
		return nil, errors.New("ffmpeg made no video")
	case p.audio != "" && len(l.aunits) == 0:
		return nil, errors.New("ffmpeg made no audio")
	case l.video.Width != p.width || l.video.Height != p.height:
		return nil, fmt.Errorf("ffmpeg made %dx%d, want %dx%d", l.video.Width, l.video.Height, p.width, p.height)
	}
	for _, d := range l.adur {
		if d <= 0 {
			return nil, errors.New("ffmpeg made an audio frame of no duration")
		}
	}
	return l, nil
}

func clone(au [][]byte) [][]byte {
	out := make([][]byte, 0, len(au))
	for _, u := range au {
		if len(u) > 0 && h264.NALUType(u[0]&0x1f) != h264.NALUTypeAccessUnitDelimiter {
			out = append(out, append([]byte(nil), u...))
		}
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' })
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
