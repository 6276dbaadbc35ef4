package record

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grafov/m3u8"
)

// segment is one media segment as the playlist lists it.
type segment struct {
	URI      string  // seg-<n>.m4s
	Duration float64 // seconds
	Size     int64   // bytes
	// Init is the init segment it decodes with (init-<n>.mp4). A segment whose Init differs
	// from the one before it, or that follows a gap, starts with EXT-X-DISCONTINUITY.
	Init          string
	Discontinuity bool
}

// encodePlaylist returns the HLS playlist of segs: EVENT while the recording goes on, VOD
// and ENDLIST once it is closed.
//
// grafov/m3u8 writes it: without a playlist-wide map, it writes a segment's EXT-X-MAP before
// that segment, so several init segments are expressed. (Its decoder, though, turns the first
// EXT-X-MAP it reads into the playlist-wide map, and its encoder then drops every
// per-segment map: a decode/encode round trip loses the second init segment. Recover
// therefore decodes with grafov but re-encodes from its own segment list, never the decoded
// playlist.)
func encodePlaylist(segs []segment, closed bool) ([]byte, error) {
	p, err := m3u8.NewMediaPlaylist(0, uint(max(len(segs), 1)))
	if err != nil {
		return nil, err
	}
	p.MediaType = m3u8.EVENT
	if closed {
		p.MediaType = m3u8.VOD
	}
	target := 1.0
	prevInit := ""
	for i, s := range segs {
		seg := &m3u8.MediaSegment{URI: s.URI, Duration: s.Duration}
		if s.Init != prevInit {
			seg.Map = &m3u8.Map{URI: s.Init}
		}
		seg.Discontinuity = i > 0 && (s.Discontinuity || s.Init != prevInit)
		prevInit = s.Init
		if err := p.AppendSegment(seg); err != nil {
			return nil, err
		}
		target = max(target, s.Duration)
	}
	p.TargetDuration = target
	// EXT-X-MAP in a playlist that is not I-frame only needs version 6 (RFC 8216, 7).
	p.SetVersion(6)
	if closed {
		p.Close()
	}
	return bytes.Clone(p.Encode().Bytes()), nil
}

// readPlaylist reads the segments a recording's playlist lists, and whether it is closed.
func readPlaylist(dir string) ([]segment, bool, error) {
	path := filepath.Join(dir, PlaylistFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	pl, typ, err := m3u8.Decode(*bytes.NewBuffer(b), false)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	mp, ok := pl.(*m3u8.MediaPlaylist)
	if !ok || typ != m3u8.MEDIA {
		return nil, false, fmt.Errorf("%s: not a media playlist", path)
	}
	var segs []segment
	init := ""
	for _, s := range mp.Segments {
		if s == nil {
			continue
		}
		if s.Map != nil {
			init = s.Map.URI
		}
		segs = append(segs, segment{URI: s.URI, Duration: s.Duration, Init: init, Discontinuity: s.Discontinuity})
	}
	return segs, mp.Closed, nil
}
