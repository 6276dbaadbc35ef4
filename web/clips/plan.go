package clips

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/beffroi/beffroi/outputs/record"
)

// MaxDuration is the longest clip: the stories of Instagram, Facebook, Snapchat and TikTok
// all take 60 s in one piece.
const MaxDuration = 60.0

// MinDuration is the shortest clip worth exporting.
const MinDuration = 1.0

// Shape is a clip's picture: its aspect and the size the platforms ask for.
type Shape struct {
	Name          string // "9:16"
	Width, Height int    // the platforms' size; smaller when the source is
}

// ShapeOf returns the clip shape of a name: "9:16", "1:1" or "16:9".
func ShapeOf(name string) (Shape, bool) {
	switch name {
	case "9:16":
		return Shape{name, 1080, 1920}, true // stories, reels, TikTok, Snapchat
	case "1:1":
		return Shape{name, 1080, 1080}, true // feeds
	case "16:9":
		return Shape{name, 1920, 1080}, true // YouTube, Facebook's feed
	}
	return Shape{}, false
}

// segment is one media segment of a recording's playlist.
type segment struct {
	Path  string  // absolute
	Init  string  // absolute path of its init segment
	Start float64 // seconds from the recording's start, by the playlist's EXTINF sum
	Dur   float64
	// Disc: an EXT-X-DISCONTINUITY comes before it (new parameters, or a gap: its
	// timestamps do not follow the segment before).
	Disc bool
}

// timeline is a recording's segments as its playlist lists them.
type timeline struct {
	Segments []segment
	Duration float64
}

var mediaName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// readTimeline reads the playlist of the recording in dir (the playlist only: a few
// hundred kilobytes for a two-hour event, never the media).
func readTimeline(dir string) (timeline, error) {
	var tl timeline
	f, err := os.Open(filepath.Join(dir, record.PlaylistFile))
	if err != nil {
		return tl, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	init := ""
	dur := -1.0
	disc := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			u, ok := attr(line, "URI")
			if !ok || !mediaName.MatchString(u) {
				return tl, fmt.Errorf("%s: EXT-X-MAP without a plain URI: %q", record.PlaylistFile, line)
			}
			init = filepath.Join(dir, u)
		case strings.HasPrefix(line, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			d, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || d < 0 {
				return tl, fmt.Errorf("%s: bad %q", record.PlaylistFile, line)
			}
			dur = d
		case line == "#EXT-X-DISCONTINUITY":
			disc = true
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			if dur < 0 || init == "" || !mediaName.MatchString(line) {
				return tl, fmt.Errorf("%s: segment %q without EXTINF, EXT-X-MAP or a plain name", record.PlaylistFile, line)
			}
			tl.Segments = append(tl.Segments, segment{Path: filepath.Join(dir, line), Init: init, Start: tl.Duration, Dur: dur, Disc: disc})
			tl.Duration += dur
			dur, disc = -1, false
		}
	}
	if err := sc.Err(); err != nil {
		return tl, err
	}
	if len(tl.Segments) == 0 {
		return tl, errors.New("the recording has no segment yet")
	}
	return tl, nil
}

// attr reads KEY="value" from an attribute list.
func attr(line, key string) (string, bool) {
	i := strings.Index(line, key+`="`)
	if i < 0 {
		return "", false
	}
	rest := line[i+len(key)+2:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

// part is a run of consecutive segments with one init segment and no discontinuity, and the window of the clip
// inside it: From and To are seconds from the part's first selected segment's start, which
// is where ffmpeg's input timeline begins.
type part struct {
	Init     string
	Segments []string
	From, To float64
}

// cover returns the parts of the segments that cover [in, out]: only those, so a minute's
// clip of a two-hour recording reads a minute of media. A discontinuity (a reconnect,
// with new parameters or after a gap) starts a new part.
func (tl timeline) cover(in, out float64) []part {
	var parts []part
	for _, s := range tl.Segments {
		end := s.Start + s.Dur
		if end <= in || s.Start >= out {
			continue
		}
		if len(parts) == 0 || s.Disc || parts[len(parts)-1].Init != s.Init {
			from := max(in-s.Start, 0)
			parts = append(parts, part{Init: s.Init, From: from, To: from})
		}
		p := &parts[len(parts)-1]
		p.Segments = append(p.Segments, s.Path)
		p.To += min(end, out) - max(s.Start, in)
	}
	return parts
}

// validate checks a clip's points against the recording's length and the limits, and says
// what is wrong in words an operator understands.
func validate(in, out, length float64) error {
	switch {
	case in < 0:
		return fmt.Errorf("in (%.3f s) is before the recording's start", in)
	case out <= in:
		return fmt.Errorf("out (%.3f s) must be after in (%.3f s)", out, in)
	case out-in > MaxDuration+0.001:
		return fmt.Errorf("the clip lasts %.3f s: at most %.0f s (the platforms' story limit)", out-in, MaxDuration)
	case out-in < MinDuration:
		return fmt.Errorf("the clip lasts %.3f s: at least %.0f s", out-in, MinDuration)
	case out > length+0.05:
		return fmt.Errorf("out (%.3f s) is after the recording's end (%.3f s)", out, length)
	}
	return nil
}

// outputSize is the clip's size for a source of w x h: the shape's size, or smaller when
// the centre crop of the source is smaller (never upscaled), even in both directions.
func outputSize(sh Shape, w, h int) (int, int) {
	if w <= 0 || h <= 0 {
		return sh.Width, sh.Height
	}
	// The crop of the source at the shape's aspect.
	cw, ch := w, w*sh.Height/sh.Width
	if ch > h {
		cw, ch = h*sh.Width/sh.Height, h
	}
	if cw >= sh.Width {
		return sh.Width, sh.Height
	}
	return max(2, cw&^1), max(2, ch&^1)
}
