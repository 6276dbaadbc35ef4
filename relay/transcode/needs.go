package transcode

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/beffroi/beffroi/relay"
)

// ErrUnsupported is returned by Manager.Acquire when no rendition can turn the source's tracks
// into ones the needs accept (video would need re-encoding, or a codec MPEG-TS cannot carry).
var ErrUnsupported = errors.New("no rendition can make these codecs")

// Needs says which codecs a reader accepts, by order of preference. An empty list accepts no
// track of that kind: a rendition drops it.
type Needs struct {
	Video []relay.Codec
	Audio []relay.Codec
}

// Fits reports whether a reader with these needs can read tracks video and audio as they are.
// A nil track is absent and fits.
func (n Needs) Fits(video, audio *relay.Track) bool {
	return fits(n.Video, video) && fits(n.Audio, audio)
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
	return "video=" + join(n.Video) + " audio=" + join(n.Audio)
}

// plan is what one ffmpeg process does with each track.
type plan struct {
	video, audio *relay.Track // the source tracks fed to ffmpeg; nil: absent or dropped
	audioOut     relay.Codec  // the audio codec made; "" when audio is copied or absent
	needs        Needs
}

// keeps reports whether the rendition carries tracks of kind k (the needs accept some codec).
func (p plan) keeps(k relay.Kind) bool {
	if k == relay.Video {
		return len(p.needs.Video) > 0
	}
	return len(p.needs.Audio) > 0
}

// canFeed lists the codecs the feeder can put in MPEG-TS.
var canFeed = []relay.Codec{relay.H264, relay.H265, relay.AAC, relay.Opus}

// canMake lists the audio codecs ffmpeg makes, by our preference when the needs accept several.
var canMake = []relay.Codec{relay.AAC, relay.Opus}

// makePlan decides how to turn tracks video and audio into ones that fit n.
func makePlan(video, audio *relay.Track, n Needs) (plan, error) {
	p := plan{needs: n}
	if video != nil && len(n.Video) > 0 {
		if !fits(n.Video, video) {
			return p, fmt.Errorf("%w: video %s to %s needs re-encoding", ErrUnsupported, video.Codec, n.String())
		}
		if !slices.Contains(canFeed, video.Codec) {
			return p, fmt.Errorf("%w: video %s cannot go through MPEG-TS", ErrUnsupported, video.Codec)
		}
		p.video = video
	}
	if audio != nil && len(n.Audio) > 0 {
		if !slices.Contains(canFeed, audio.Codec) {
			return p, fmt.Errorf("%w: audio %s cannot go through MPEG-TS", ErrUnsupported, audio.Codec)
		}
		p.audio = audio
		if !fits(n.Audio, audio) {
			for _, c := range n.Audio {
				if slices.Contains(canMake, c) {
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
