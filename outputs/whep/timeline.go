package whep

import "time"

// A viewer joins at the stream's newest keyframe, up to a GOP (2 s, often more) behind live,
// and a rendition starting for it delivers its first seconds in a burst. Sent with their own
// timestamps, those frames would keep the viewer that far behind live for the whole session
// (its jitter buffer holds what came early). The timeline plays such frames faster instead:
// media that arrives ahead of the wall clock is given catchUpSpeed times less time on the
// viewer's timeline, so the viewer goes through the backlog in a fraction of it, then plays
// live.

// catchUpSpeed is how much faster than real time the frames of a catch-up are shown.
const catchUpSpeed = 10

// Media running more than catchUpStart ahead of the wall clock is played faster, until it
// is less than catchUpEnd ahead: more than network jitter, less than what a viewer would
// notice as delay. The gap between them keeps a live stream's jitter from switching speeds.
const (
	catchUpStart = 300 * time.Millisecond
	catchUpEnd   = 100 * time.Millisecond
)

// maxSegments bounds the timeline's memory: frames older than that many changes of speed
// (a few seconds of media) are mapped at the oldest segment's speed.
const maxSegments = 16

// timeline maps the stream's timestamps onto a viewer's: a continuous, increasing,
// piecewise-linear function, so frames of both kinds keep their order and audio and video
// stay in sync once live.
type timeline struct {
	started bool
	t0      time.Time     // when the first frame was mapped
	p0      time.Duration // its stream time (also its viewer time)
	max     time.Duration // the latest stream time mapped so far
	vmax    time.Duration // its viewer time
	segs    []segment     // by increasing from; the last one extends past max
}

type segment struct {
	from time.Duration // stream time where it starts
	v    time.Duration // viewer time of from
	fast bool
}

// at returns the viewer time of stream time p, when a frame of time p is about to be sent
// at now, and whether it falls in a catch-up.
func (tl *timeline) at(p time.Duration, now time.Time) (time.Duration, bool) {
	if !tl.started {
		tl.started, tl.t0, tl.p0, tl.max, tl.vmax = true, now, p, p, p
		tl.segs = []segment{{from: p, v: p}}
		return p, false
	}
	if p > tl.max {
		last := tl.segs[len(tl.segs)-1]
		// How early the frame would reach the viewer at normal speed.
		ahead := tl.vmax + (p - tl.max) - tl.p0 - now.Sub(tl.t0)
		fast := ahead > catchUpStart || (last.fast && ahead > catchUpEnd)
		if fast != last.fast {
			tl.segs = append(tl.segs, segment{from: tl.max, v: tl.vmax, fast: fast})
			if len(tl.segs) > maxSegments {
				tl.segs = tl.segs[1:]
			}
		}
		tl.vmax += scale(p-tl.max, fast)
		tl.max = p
		return tl.vmax, fast
	}
	for i := len(tl.segs) - 1; i >= 0; i-- {
		if sg := tl.segs[i]; sg.from <= p {
			return sg.v + scale(p-sg.from, sg.fast), sg.fast
		}
	}
	first := tl.segs[0]
	return first.v - (first.from - p), false
}

// due returns the earliest time a frame of viewer time v may be sent: no more than
// catchUpStart before the viewer shows it.
func (tl *timeline) due(v time.Duration) time.Time {
	return tl.t0.Add(v - tl.p0 - catchUpStart)
}

func scale(d time.Duration, fast bool) time.Duration {
	if fast {
		return d / catchUpSpeed
	}
	return d
}
