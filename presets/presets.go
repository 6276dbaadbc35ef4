package presets

import (
	"embed"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/beffroi/beffroi/relay"
)

// files holds presets.yaml, the presets Beffroi ships.
//
//go:embed presets.yaml
var files embed.FS

// file is the name of the shipped presets in files.
const file = "presets.yaml"

// Where a preset's stream key goes in the destination URL.
const (
	KeyInPath        = "path"         // rtmp(s)://host/app/<key>
	KeyInSRTStreamID = "srt_streamid" // srt://host:port?streamid=<key>
	KeyInWHIPToken   = "whip_token"   // the WHIP endpoint's bearer token
)

// Preset is a live platform an operator can add as a destination by pasting a stream key.
type Preset struct {
	ID              string       `yaml:"id" json:"id"`
	Name            string       `yaml:"name" json:"name"`
	URLs            []string     `yaml:"urls" json:"urls"`
	URLPerBroadcast bool         `yaml:"url_per_broadcast" json:"url_per_broadcast"`
	KeyIn           string       `yaml:"key_in" json:"key_in"`
	KeyHelp         string       `yaml:"key_help" json:"key_help"`
	Requires        Requirements `yaml:"requires" json:"requires"`
}

// Requirements are what a platform asks of the stream it ingests. Zero values are no limit.
type Requirements struct {
	VideoCodecs         []relay.Codec `yaml:"video_codecs" json:"video_codecs,omitempty"`
	AudioCodecs         []relay.Codec `yaml:"audio_codecs" json:"audio_codecs,omitempty"`
	MaxKeyframeInterval float64       `yaml:"max_keyframe_interval" json:"max_keyframe_interval,omitempty"` // seconds
	MaxWidth            int           `yaml:"max_width" json:"max_width,omitempty"`
	MaxHeight           int           `yaml:"max_height" json:"max_height,omitempty"`
	MaxFPS              float64       `yaml:"max_fps" json:"max_fps,omitempty"`
	MaxVideoBitrate     float64       `yaml:"max_video_bitrate" json:"max_video_bitrate,omitempty"` // bits/s
	AudioSampleRates    []int         `yaml:"audio_sample_rates" json:"audio_sample_rates,omitempty"`
}

// Set is a list of presets, in the order the console shows them. A nil *Set is an empty one.
type Set struct {
	list []Preset
}

// Default returns the presets Beffroi ships (presets.yaml, embedded in the binary).
func Default() (*Set, error) {
	b, err := files.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("presets: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("presets/%s: %w", file, err)
	}
	return s, nil
}

// Parse reads a list of presets in the format of presets.yaml. Each needs an id, a name and
// at least one URL; ids are unique.
func Parse(b []byte) (*Set, error) {
	var l []Preset
	if err := yaml.Unmarshal(b, &l); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i := range l {
		p := &l[i]
		if p.ID == "" || p.Name == "" || len(p.URLs) == 0 {
			return nil, fmt.Errorf("preset %d: id, name and urls are required", i)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("preset %q declared twice", p.ID)
		}
		seen[p.ID] = true
		if p.KeyIn == "" {
			p.KeyIn = KeyInPath
		}
		for _, raw := range p.URLs {
			if _, err := url.Parse(raw); err != nil {
				return nil, fmt.Errorf("preset %q: %w", p.ID, err)
			}
		}
	}
	return &Set{list: l}, nil
}

// List returns the presets, in the order the console shows them (never nil).
func (s *Set) List() []Preset {
	if s == nil {
		return []Preset{}
	}
	return append([]Preset{}, s.list...)
}

// Find returns the preset with that id, or nil.
func (s *Set) Find(id string) *Preset {
	if s == nil {
		return nil
	}
	for i := range s.list {
		if s.list[i].ID == id {
			p := s.list[i]
			return &p
		}
	}
	return nil
}

// ErrNoKey is returned by DestinationURL without a stream key.
var ErrNoKey = errors.New("the platform's stream key is required")

// DestinationURL makes the destination URL of this preset for a stream key. ingest is the
// ingest URL to use: "" takes the preset's first (required for a platform that gives a URL
// per broadcast, where the operator pastes it).
func (p *Preset) DestinationURL(ingest, key string) (string, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return "", ErrNoKey
	}
	if ingest == "" {
		if p.URLPerBroadcast {
			return "", fmt.Errorf("%s gives an ingest URL for each broadcast: paste it with the key", p.Name)
		}
		ingest = p.URLs[0]
	}
	u, err := url.Parse(strings.TrimSpace(ingest))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("ingest URL %q: not a URL with a host", ingest)
	}
	switch p.KeyIn {
	case KeyInSRTStreamID:
		q := u.Query()
		q.Set("streamid", key)
		u.RawQuery = q.Encode()
	case KeyInWHIPToken:
		q := u.Query()
		q.Set("token", key)
		u.RawQuery = q.Encode()
	default:
		// The key is appended as it is: some platforms' keys carry a query
		// ("FB-...?s_bl=1&..."), which the RTMP pusher sends back whole as the stream name.
		if u.RawQuery != "" || u.Fragment != "" {
			return "", fmt.Errorf("ingest URL %q: a query or fragment has no place before the key", ingest)
		}
		raw := strings.TrimSuffix(u.String(), "/") + "/" + key
		if _, err := url.Parse(raw); err != nil {
			return "", fmt.Errorf("the stream key does not fit in a URL: %w", errors.Unwrap(err))
		}
		return raw, nil
	}
	return u.String(), nil
}

// Match returns the platform preset whose ingest host the destination URL points at, or nil
// (a custom server). Custom presets never match.
func (s *Set) Match(dest *url.URL) *Preset {
	if s == nil || dest == nil {
		return nil
	}
	host := strings.ToLower(dest.Hostname())
	for i := range s.list {
		p := &s.list[i]
		if p.URLPerBroadcast && strings.HasPrefix(p.ID, "custom") {
			continue
		}
		for _, raw := range p.URLs {
			u, err := url.Parse(raw)
			if err != nil {
				continue
			}
			h := strings.ToLower(u.Hostname())
			if h == host || (p.URLPerBroadcast && sameSite(h, host)) {
				c := *p
				return &c
			}
		}
	}
	return nil
}

// sameSite reports whether two hosts share their last two labels (a platform that hands out
// per-broadcast ingest hosts under one domain).
func sameSite(a, b string) bool {
	last2 := func(h string) string {
		l := strings.Split(h, ".")
		if len(l) < 2 {
			return h
		}
		return strings.Join(l[len(l)-2:], ".")
	}
	return last2(a) == last2(b)
}

// Check lists, in words an operator can act on, how the source's tracks fail the
// requirements. Nothing is listed for what is not known yet (a keyframe interval before the
// second keyframe).
func (r Requirements) Check(tracks []relay.TrackInfo) []string {
	var out []string
	for _, t := range tracks {
		switch t.Kind {
		case "video":
			if len(r.VideoCodecs) > 0 && !slices.Contains(r.VideoCodecs, t.Codec) {
				out = append(out, fmt.Sprintf("video is %s; the platform takes %s (Beffroi re-encodes only VP8/VP9 sources, at a CPU cost)", t.Codec, joinCodecs(r.VideoCodecs)))
			}
			if ki := t.KeyframeInterval; r.MaxKeyframeInterval > 0 && ki > 0 &&
				ki.Seconds() > r.MaxKeyframeInterval+0.25 {
				out = append(out, fmt.Sprintf("keyframes every %s; the platform wants one at least every %gs: set the encoder's keyframe interval to %gs", roundDur(ki), r.MaxKeyframeInterval, math.Min(2, r.MaxKeyframeInterval)))
			}
			w, h := t.Width, t.Height
			if h > w { // portrait: compare the frame turned
				w, h = h, w
			}
			if (r.MaxWidth > 0 && w > r.MaxWidth) || (r.MaxHeight > 0 && h > r.MaxHeight) {
				out = append(out, fmt.Sprintf("picture is %dx%d; the platform takes at most %dx%d", t.Width, t.Height, r.MaxWidth, r.MaxHeight))
			}
			if r.MaxFPS > 0 && t.FPS > r.MaxFPS+1 {
				out = append(out, fmt.Sprintf("%g frames per second; the platform takes at most %g", t.FPS, r.MaxFPS))
			}
			if r.MaxVideoBitrate > 0 && t.Bitrate > r.MaxVideoBitrate*1.2 {
				out = append(out, fmt.Sprintf("video at %.1f Mbit/s; the platform takes at most %.1f Mbit/s", t.Bitrate/1e6, r.MaxVideoBitrate/1e6))
			}
		case "audio":
			if len(r.AudioCodecs) > 0 && !slices.Contains(r.AudioCodecs, t.Codec) &&
				t.Codec != relay.Opus && t.Codec != relay.AAC {
				// Beffroi turns Opus into AAC and AAC into Opus: no warning for those.
				out = append(out, fmt.Sprintf("audio is %s; the platform takes %s", t.Codec, joinCodecs(r.AudioCodecs)))
			}
			if len(r.AudioSampleRates) > 0 && t.SampleRate > 0 && !slices.Contains(r.AudioSampleRates, t.SampleRate) &&
				t.Codec == relay.AAC {
				out = append(out, fmt.Sprintf("audio sampled at %d Hz; the platform wants %s Hz", t.SampleRate, joinInts(r.AudioSampleRates)))
			}
		}
	}
	return out
}

func joinCodecs(l []relay.Codec) string {
	s := make([]string, len(l))
	for i, c := range l {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

func joinInts(l []int) string {
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, " or ")
}

func roundDur(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }
