package relay

import (
	"math"
	"time"
)

// TrackInfo describes a track as the API shows it.
type TrackInfo struct {
	Kind             string        `json:"kind"`
	Codec            Codec         `json:"codec"`
	Width            int           `json:"width,omitempty"`
	Height           int           `json:"height,omitempty"`
	FPS              float64       `json:"fps,omitempty"`
	SampleRate       int           `json:"sample_rate,omitempty"`
	Channels         int           `json:"channels,omitempty"`
	Bitrate          float64       `json:"bitrate"` // bits per second over the last second
	KeyframeInterval time.Duration `json:"-"`
	Frames           uint64        `json:"frames"`
	Bytes            uint64        `json:"bytes"`
}

// Info is a snapshot of a stream for the API, the console and the metrics.
type Info struct {
	Name      string
	State     State
	Session   uint64
	LiveSince time.Time
	Source    SourceInfo
	// Publishes counts publisher connections in the current session (1 + reconnects).
	Publishes uint64
	Tracks    []TrackInfo
	Readers   int64
	// Paused: the operator put the broadcast on standby; Standby: the standby picture is
	// being shown (paused, or the publisher is away).
	Paused, Standby bool
	// Sources are the stream's sources by priority (the primary first); OnAir names the one
	// on air ("" when none), Manual the one the operator chose ("" in automatic mode).
	Sources       []SourceStatus
	OnAir, Manual string
}

// Info returns a snapshot of the stream.
func (s *Stream) Info() Info {
	s.mu.RLock()
	defer s.mu.RUnlock()
	in := Info{
		Name:    s.name,
		State:   s.state,
		Session: s.session,
		Readers: s.readers.Load(),
		Sources: s.sourcesLocked(s.clock()),
	}
	if s.manual != nil {
		in.Manual = s.manual.name
	}
	if s.state == Idle {
		return in
	}
	in.LiveSince, in.Source, in.Publishes = s.liveSince, s.source, s.publishes
	in.Paused, in.Standby = s.paused, s.standIn != nil
	if s.onAir != nil {
		in.OnAir = s.onAir.name
	}
	for k := Kind(0); k < numKinds; k++ {
		t := s.tracks[k]
		if t == nil {
			continue
		}
		st := s.stats[k]
		ti := TrackInfo{
			Kind: k.String(), Codec: t.Codec,
			Width: t.Width, Height: t.Height,
			SampleRate: t.SampleRate, Channels: t.Channels,
			Bitrate: math.Round(st.bitrate), KeyframeInterval: st.keyInterval,
			Frames: st.frames, Bytes: st.bytes,
		}
		if k == Video {
			ti.FPS = round2(st.fps)
		}
		in.Tracks = append(in.Tracks, ti)
	}
	return in
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
