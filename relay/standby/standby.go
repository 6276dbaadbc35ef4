package standby

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/beffroi/beffroi/relay"
)

// recheck is how often a live stream's parameters are looked at again: the frame rate is
// known a second or so after the start, and a new resolution needs a new loop.
const recheck = time.Second

// rateSettle is how long a new frame rate must hold before the loop is encoded again for it.
const rateSettle = 5 * time.Second

// Options configures a Service.
type Options struct {
	// FFmpeg is the ffmpeg executable.
	FFmpeg string
	// Picture, when set, returns the image a stream shows instead of the built-in slate ("" for
	// the slate). Called whenever a loop may be encoded.
	Picture func(stream string) string
	// Logger receives the service's events; nil discards them.
	Logger *slog.Logger
}

// Service puts the standby picture into every stream of a registry while its source is away
// or the operator paused it.
type Service struct {
	reg *relay.Registry
	o   Options
	log *slog.Logger
}

// New returns a Service for reg's streams.
func New(reg *relay.Registry, o Options) *Service {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{reg: reg, o: o, log: log}
}

// Run follows the registry's streams until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	s.reg.Follow(ctx, s.follow)
	return nil
}

// follower is one stream's standby: the loop encoded for its last parameters, and whether
// the reason it has none was logged (once per session).
type follower struct {
	s      *Service
	st     *relay.Stream
	log    *slog.Logger
	loop   *loop
	failed params // the parameters an encoding failed for, not tried again
	// The frame rate measured apart from the loop's, and since when it holds (see prepare).
	rateWant  params
	rateSince time.Time
	session   uint64
	told      bool
}

func (s *Service) follow(ctx context.Context, st *relay.Stream) {
	f := &follower{s: s, st: st, log: s.log.With("stream", st.Name())}
	for ctx.Err() == nil {
		state, changed := st.State()
		var tick <-chan time.Time
		if state != relay.Idle {
			away := state == relay.Reconnecting || st.Paused()
			f.prepare(ctx, away)
			if away && f.loop != nil && f.standIn(ctx) {
				continue
			}
			tick = time.After(recheck)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick:
		}
	}
}

// prepare encodes the loop for the stream's current parameters if it has none for them yet.
// Before a standby it waits to know the frame rate; when the standby is due (must), it takes
// 30 fps if still unknown.
func (f *follower) prepare(ctx context.Context, must bool) {
	in := f.st.Info()
	if in.Session != f.session {
		f.session, f.told = in.Session, false
	}
	if !f.st.HasMedia() {
		return
	}
	var fps float64
	for _, t := range in.Tracks {
		if t.Kind == relay.Video.String() {
			fps = t.FPS
		}
	}
	video, audio := f.st.Track(relay.Video), f.st.Track(relay.Audio)
	p, ok, err := paramsOf(video, audio, fps, must)
	if err != nil {
		f.noStandby(err)
		return
	}
	if !ok {
		return
	}
	p.title = f.st.Name()
	if f.s.o.Picture != nil {
		if pic := f.s.o.Picture(f.st.Name()); pic != "" {
			if fi, err := os.Stat(pic); err == nil {
				p.picture, p.pictureMod = pic, fi.ModTime().UnixNano()
			} else {
				f.log.Warn("standby image unreadable: the built-in slate instead", "error", err.Error())
			}
		}
	}
	if !f.needsLoop(p, must, time.Now()) {
		return
	}
	start := time.Now()
	l, err := encode(ctx, f.s.o.FFmpeg, p, video, audio)
	switch {
	case err == nil:
	case errors.Is(err, errUnsupported):
		f.failed = p
		f.noStandby(err)
		return
	default:
		if ctx.Err() == nil {
			f.log.Warn("standby picture: encoding failed", "error", err.Error())
		}
		f.failed = p
		return
	}
	f.loop = l
	f.log.Info("standby picture ready", "width", p.width, "height", p.height,
		"fps", math.Round(1000*float64(p.rateNum)/float64(p.rateDen))/1000, "audio", string(p.audio), "image", p.picture != "",
		"same_video_params", l.video == video, "same_audio_params", audio == nil || l.audio == audio,
		"took", time.Since(start).Round(time.Millisecond), "cpu", l.cpu.Round(time.Millisecond))
}

// needsLoop reports whether a loop must be encoded for p: the stream has none that serves it.
// When only the frame rate moved, not at once: a browser on a lossy link drops frames, and
// its measured rate wavers (25, 28, 30, 27 from one second to the next), so the loop is made
// again once a new rate held for rateSettle, and never while the standby is due (the loop at
// the previous rate serves: platforms see no size or codec change).
func (f *follower) needsLoop(p params, must bool, now time.Time) bool {
	if f.loop != nil && f.loop.p.fits(p) || f.failed == p {
		f.rateSince = time.Time{}
		return false
	}
	if f.loop != nil && f.loop.p.sameButRate(p) {
		if must {
			return false
		}
		if f.rateSince.IsZero() || !f.rateWant.fits(p) {
			f.rateWant, f.rateSince = p, now
			return false
		}
		if now.Sub(f.rateSince) < rateSettle {
			return false
		}
	}
	f.rateSince = time.Time{}
	return true
}

// noStandby says once per session why the stream has no standby picture.
func (f *follower) noStandby(err error) {
	f.loop = nil
	if !f.told {
		f.told = true
		f.log.Info("no standby picture: destinations and viewers get nothing while the source is away", "reason", err.Error())
	}
}

// standIn replays the loop into the stream, on the wall clock, until the source takes over
// again, the session ends or ctx ends. It reports whether it stood in at all.
func (f *follower) standIn(ctx context.Context) bool {
	pub, err := f.st.StandIn()
	if err != nil {
		if !errors.Is(err, relay.ErrSourceSending) {
			f.log.Debug("no standby", "error", err.Error())
		}
		return false
	}
	defer pub.Close()
	l := f.loop
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	start := time.Now()
	var vi, ai int64
	var at time.Duration
	for {
		vt := l.p.frameTime(vi)
		video := l.audio == nil || vt <= at
		ts := at
		if video {
			ts = vt
		}
		if d := time.Until(start.Add(ts)); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return true
			case <-pub.Done():
				return true
			case <-timer.C:
			}
		}
		var fr *relay.Frame
		if video {
			n := int(vi % int64(len(l.vunits)))
			fr = &relay.Frame{Track: l.video, DTS: ts, PTS: ts, Key: n == 0, Units: l.vunits[n]}
			vi++
		} else {
			n := int(ai % int64(len(l.aunits)))
			// The loop's own slice, capped at the one unit: no allocation but the frame.
			fr = &relay.Frame{Track: l.audio, DTS: ts, PTS: ts, Key: true, Units: l.aunits[n : n+1 : n+1]}
			at += l.adur[n]
			ai++
		}
		if err := pub.WriteFrame(fr); err != nil {
			return true // the source is back, or the session ended
		}
	}
}
