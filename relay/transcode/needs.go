package transcode

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/beffroi/beffroi/relay"
)

// ErrUnsupported is returned (wrapped, with ErrNoFit) by Renditions.Fit when no rendition can turn the source's tracks
// into ones the needs accept (video Beffroi cannot re-encode, or a codec MPEG-TS cannot carry).
var ErrUnsupported = errors.New("no rendition can make these codecs")

// Needs says which codecs a reader accepts, by order of preference. An empty list accepts no
// track of that kind: a rendition drops it.
type Needs struct {
	Video []relay.Codec
	Audio []relay.Codec
	// NoBFrames asks for video shown in the order it is decoded: WebRTC players show
	// B-frames (OBS's and x264's default) as a slideshow. A source with B-frames gets its
	// video re-encoded to H.264 without them (libx264 zerolatency, at the source's size and
	// about its bitrate); Fits, which looks at codecs only, does not see them: FitsStream does.
	NoBFrames bool
	// Shape, when not zero, asks for the video re-encoded to H.264 in that picture (a vertical
	// 720x1280 for phone-first platforms, a rung of the HLS ladder): the source never fits
	// as it is. Readers of one shape share its rendition (String names it).
	Shape Shape
}

// Fits reports whether a reader with these needs can read tracks video and audio as they are,
// by their codecs. A nil track is absent and fits.
func (n Needs) Fits(video, audio *relay.Track) bool {
	if !n.Shape.IsZero() && video != nil && len(n.Video) > 0 {
		return false
	}
	return fits(n.Video, video) && fits(n.Audio, audio)
}

// FitsStream reports whether a reader with these needs can read st as it is now: its tracks'
// codecs fit, and its video has no B-frames when the needs ask for none (see HasBFrames).
func (n Needs) FitsStream(st *relay.Stream) bool {
	video := st.Track(relay.Video)
	if !n.Fits(video, st.Track(relay.Audio)) {
		return false
	}
	return !n.NoBFrames || video == nil || !HasBFrames(st)
}

// HasBFrames reports whether st's video, from its newest keyframe on, has frames shown in
// another order than they are decoded (B-frames, PTS after DTS): what the ring holds of the
// current GOP is enough, since an encoder that makes them does so in every GOP.
func HasBFrames(st *relay.Stream) bool {
	r, err := st.Subscribe(relay.ReaderOptions{})
	if err != nil {
		return false
	}
	defer r.Close()
	for range relay.DefaultRingSize {
		f, ok := r.TryNext()
		if !ok {
			return false
		}
		if f.Track.Kind() == relay.Video && f.PTS != f.DTS {
			return true
		}
	}
	return false
}

func fits(accepted []relay.Codec, t *relay.Track) bool {
	return t == nil || slices.Contains(accepted, t.Codec)
}

// String names the needs, as in the status and as the key that shares a rendition:
// "video=H264,H265 audio=AAC".
func (n Needs) String() string {
	join := func(cs []relay.Codec) string {
		s := make([]string, len(cs))
		for i, c := range cs {
			s[i] = string(c)
		}
		return strings.Join(s, ",")
	}
	s := "video=" + join(n.Video)
	if n.NoBFrames {
		s += " (no B-frames)"
	}
	s += " audio=" + join(n.Audio)
	if !n.Shape.IsZero() {
		s += " shape=" + strings.ReplaceAll(n.Shape.String(), " ", ",")
	}
	return s
}

// plan is what one ffmpeg process does with each track.
type plan struct {
	video, audio *relay.Track // the source tracks fed to ffmpeg; nil: absent or dropped
	videoOut     relay.Codec  // the video codec made (re-encoding); "" when video is copied or absent
	outW, outH   int          // the re-encoded picture size; 0 when unknown (the source's)
	audioOut     relay.Codec  // the audio codec made; "" when audio is copied or absent
	shape        Shape        // the picture made (the needs'); zero: the source's, as above
	needs        Needs
}

// keeps reports whether a rendition for these needs carries tracks of kind k (the needs
// accept some codec).
func (n Needs) keeps(k relay.Kind) bool {
	if k == relay.Video {
		return len(n.Video) > 0
	}
	return len(n.Audio) > 0
}

// ivf reports whether the video goes to ffmpeg as IVF, on a pipe of its own: VP8 and VP9 to
// re-encode. H.264 or H.265 to re-encode (without B-frames) go in the MPEG-TS with the audio.
func (p plan) ivf() bool { return p.videoOut != "" && canReencode(p.video.Codec) }

// canFeed reports whether the feeder can put codec c in MPEG-TS.
func canFeed(c relay.Codec) bool {
	switch c {
	case relay.H264, relay.H265, relay.AAC, relay.Opus:
		return true
	}
	return false
}

// canReencode reports whether ffmpeg can be fed video codec c (in IVF, on a pipe of its own)
// to re-encode it to H.264: what browsers send when they have no H.264 encoder.
func canReencode(c relay.Codec) bool { return c == relay.VP8 || c == relay.VP9 }

// canMake reports whether ffmpeg makes audio codec c. When the needs accept several, the
// first in the needs' order is made.
func canMake(c relay.Codec) bool { return c == relay.AAC || c == relay.Opus }

// makePlan decides how to turn tracks video and audio into ones that fit n; bframes says
// that the source's video has B-frames (see HasBFrames).
func makePlan(video, audio *relay.Track, n Needs, bframes bool) (plan, error) {
	p := plan{needs: n}
	if err := n.Shape.valid(); err != nil {
		return p, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if video != nil && len(n.Video) > 0 {
		switch {
		case !n.Shape.IsZero() && !slices.Contains(n.Video, relay.H264):
			return p, fmt.Errorf("%w: a shaped picture (%s) is made in H264, which %s does not take", ErrUnsupported, n.Shape, n.String())
		case !n.Shape.IsZero() && (canReencode(video.Codec) || video.Codec == relay.H264 || video.Codec == relay.H265):
			p.videoOut = relay.H264
			p.shape = n.Shape
			p.outW, p.outH = n.Shape.Width, n.Shape.Height
		case !n.Shape.IsZero():
			return p, fmt.Errorf("%w: video %s cannot be re-encoded to shape %s", ErrUnsupported, video.Codec, n.Shape)
		case !fits(n.Video, video) && canReencode(video.Codec) && slices.Contains(n.Video, relay.H264):
			p.videoOut = relay.H264
			p.outW, p.outH = outputSize(video.Width, video.Height)
		case !fits(n.Video, video):
			return p, fmt.Errorf("%w: video %s to %s would need re-encoding, which Beffroi does from VP8 and VP9 to H264 only", ErrUnsupported, video.Codec, n.String())
		case !canFeed(video.Codec):
			return p, fmt.Errorf("%w: video %s cannot go through MPEG-TS", ErrUnsupported, video.Codec)
		case n.NoBFrames && bframes && !slices.Contains(n.Video, relay.H264):
			return p, fmt.Errorf("%w: video %s with B-frames to %s would need re-encoding to H264", ErrUnsupported, video.Codec, n.String())
		case n.NoBFrames && bframes:
			// The same picture, in the order it is shown: the source's size, not scaled up
			// as a browser's is (it does not start small).
			p.videoOut = relay.H264
			p.outW, p.outH = video.Width&^1, video.Height&^1
		}
		p.video = video
	}
	if audio != nil && len(n.Audio) > 0 {
		if !canFeed(audio.Codec) {
			return p, fmt.Errorf("%w: audio %s cannot go through MPEG-TS", ErrUnsupported, audio.Codec)
		}
		p.audio = audio
		if !fits(n.Audio, audio) {
			for _, c := range n.Audio {
				if canMake(c) {
					p.audioOut = c
					break
				}
			}
			if p.audioOut == "" {
				return p, fmt.Errorf("%w: audio %s to %s", ErrUnsupported, audio.Codec, n.String())
			}
		}
	}
	if p.video == nil && p.audio == nil {
		return p, fmt.Errorf("%w: no track left for %s", ErrUnsupported, n.String())
	}
	return p, nil
}

// suffix names the derived stream after the source: "concert~aac".
func (p plan) suffix() string {
	var parts []string
	if p.videoOut != "" {
		parts = append(parts, strings.ToLower(string(p.videoOut)))
	}
	if !p.shape.IsZero() {
		parts = append(parts, strconv.Itoa(p.shape.Width)+"x"+strconv.Itoa(p.shape.Height))
		if p.shape.Fit != "" {
			parts = append(parts, p.shape.Fit)
		}
		if p.shape.Bitrate > 0 {
			parts = append(parts, strconv.Itoa(p.shape.Bitrate/1000)+"k")
		}
	}
	if p.audioOut != "" {
		parts = append(parts, strings.ToLower(string(p.audioOut)))
	}
	if p.video == nil {
		parts = append(parts, "novideo")
	}
	if p.audio == nil {
		parts = append(parts, "noaudio")
	}
	return strings.Join(parts, "-")
}

// minOutputSide is the longer side of the smallest picture a re-encoding makes (720p).
const minOutputSide = 1280

// outputSize is the picture size a re-encoding makes of a w x h source: the source's, scaled
// up (same shape) to at least 720p. A browser starts small and raises its resolution as its
// bandwidth estimate grows, which would otherwise mean restarting the encoder each time (the
// encoder's size is fixed) or staying at the first, tiny size; platforms prefer one size
// anyway. Only a source larger than that (a 1080p preset) restarts the encoder.
func outputSize(w, h int) (int, int) {
	if w <= 0 || h <= 0 {
		return 0, 0
	}
	if long := max(w, h); long < minOutputSide {
		w, h = w*minOutputSide/long, h*minOutputSide/long
	}
	return w &^ 1, h &^ 1
}
