package transcode

import (
	"fmt"
	"strconv"
	"strings"
)

// Rung is one quality of an adaptive ladder: the picture's shorter side (720 for 720p) and
// the video bitrate, in bit/s.
type Rung struct {
	Lines   int
	Bitrate int
}

// String writes the rung as ParseLadder reads it: "720p:2500k".
func (r Rung) String() string {
	return strconv.Itoa(r.Lines) + "p:" + strconv.Itoa(r.Bitrate/1000) + "k"
}

// DefaultLadder is the ladder offered beside the source: 720p at 2.5 Mbit/s, 480p at 1.2
// Mbit/s, 360p at 0.6 Mbit/s, and 240p at 0.3 Mbit/s for a phone on a poor 4G link: with the
// source's audio (128-160 kbit/s) and LL-HLS's many small requests, 360p does not play
// smoothly through a 1 Mbit/s link (measured in headless Chromium, test/e2e
// TestLadderWatchPage: hls.js measured 0.5 Mbit/s of it and stalled every few seconds).
const DefaultLadder = "720p:2500k,480p:1200k,360p:600k,240p:300k"

// ParseLadder reads a ladder: rungs "<lines>p:<bitrate>" separated by commas, the bitrate in
// bit/s with an optional k or M ("480p:1200k", "720p:2.5M"); "off" (or "none") is no ladder.
// The rungs come back from the largest down; two of one size are refused.
func ParseLadder(s string) ([]Rung, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "off", "none", "false":
		return nil, nil
	case "":
		s = DefaultLadder
	}
	var rungs []Rung
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		size, rate, ok := strings.Cut(item, ":")
		lines, err := strconv.Atoi(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(size)), "p"))
		if !ok || err != nil || lines < 144 || lines > 2160 || lines%2 != 0 {
			return nil, fmt.Errorf("ladder rung %q: want <lines>p:<bitrate>, e.g. 480p:1200k, with an even number of lines from 144 to 2160", item)
		}
		bitrate, err := parseBitrate(rate)
		if err != nil {
			return nil, fmt.Errorf("ladder rung %q: %w", item, err)
		}
		for _, r := range rungs {
			if r.Lines == lines {
				return nil, fmt.Errorf("ladder rung %q: %dp is already in the ladder", item, lines)
			}
		}
		rungs = append(rungs, Rung{Lines: lines, Bitrate: bitrate})
	}
	// From the largest down, as players list them.
	for i := 1; i < len(rungs); i++ {
		for j := i; j > 0 && rungs[j].Lines > rungs[j-1].Lines; j-- {
			rungs[j], rungs[j-1] = rungs[j-1], rungs[j]
		}
	}
	return rungs, nil
}

// parseBitrate reads "1200k", "2.5M" or "600000" (bit/s), from 100 kbit/s to 50 Mbit/s.
func parseBitrate(s string) (int, error) {
	s = strings.TrimSpace(s)
	mul := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mul, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mul, s = 1e6, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	b := int(v * mul)
	if err != nil || b < 100_000 || b > 50_000_000 {
		return 0, fmt.Errorf("bitrate %q: want bit/s from 100k to 50M (e.g. 1200k, 2.5M)", s)
	}
	return b, nil
}

// Ladder returns the shapes of the rungs to make of a w x h source: each rung smaller than
// the source (never above it, nor the source's own size: the source is offered as it is),
// the source's shape kept (the shorter side is the rung's lines: a vertical phone picture
// gets vertical rungs), sizes even.
func Ladder(w, h int, rungs []Rung) []Shape {
	if w <= 0 || h <= 0 {
		return nil
	}
	short := min(w, h)
	var l []Shape
	for _, r := range rungs {
		if r.Lines >= short {
			continue
		}
		long := (max(w, h)*r.Lines/short + 1) &^ 1
		s := Shape{Width: long, Height: r.Lines, Bitrate: r.Bitrate}
		if h > w {
			s.Width, s.Height = r.Lines, long
		}
		l = append(l, s)
	}
	return l
}
