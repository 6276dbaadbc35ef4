package audience

import (
	"context"
	"crypto/rand"
	"hash/maphash"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/beffroi/beffroi/relay"
)

// Protocol names as the API shows them.
const (
	HLS  = "hls"
	WHEP = "whep"
	RTMP = "rtmp"
)

// The windows of Options left zero; the configuration's audience.* defaults are these.
const (
	DefaultWindow       = 10 * time.Second
	DefaultBeaconWindow = 35 * time.Second
)

// Options configures a Counter. Zero values take the defaults.
type Options struct {
	// Window is how long an HLS session stays counted after its last playlist request
	// (default 10s: a few target durations; players reload the playlist several times a
	// second in LL-HLS, every target duration otherwise).
	Window time.Duration
	// BeaconWindow is how long a session stays counted after its last beacon (default 35s:
	// the watch page sends one every 10-15 s, so one lost beacon does not drop a viewer).
	BeaconWindow time.Duration
	// SampleEvery is the spacing of the series kept for the report (default 5s).
	SampleEvery time.Duration
	// MaxSamples bounds the series of each stream (default 8640, 12 h at 5 s). When it is
	// full, every other sample is dropped and the spacing doubles.
	MaxSamples int
	// Secret signs session tokens; nil makes a random one (tokens then hold for this process
	// only, which is what a restart wants anyway).
	Secret []byte
	// TokenMaxAge bounds a session token's age (default 24h): an older one is refused even
	// within its live session (a token of another live session is refused at any age).
	TokenMaxAge time.Duration
	// MintBurst and MintRate limit the session tokens one client address gets: MintBurst at
	// once (default 32), MintRate more per second (default 2). Beyond them its players share
	// one token, so a flood of playlist requests from one address counts as a few viewers,
	// and a school behind one NAT still counts most of its viewers (see Mint).
	MintBurst int
	MintRate  float64
	// MaxClients bounds the addresses the mint limit follows at once (default 65536); beyond
	// it, every new address shares one token until some buckets refill.
	MaxClients int
	// Clock returns the time; nil is time.Now. Tests move it.
	Clock func() time.Time
	// Journal keeps each stream's last event across restarts (nil: the figures live in
	// memory only). Run writes what changed every SaveEvery (default 5s) and at once when an
	// event begins or ends; Restore reads it back.
	Journal   Journal
	SaveEvery time.Duration
	// Grace is the reconnect grace (zero: none): after a restart, an event that was live at
	// its last write continues if its stream is live again within SaveEvery plus Grace of
	// that write.
	Grace time.Duration
	// Logger receives the journal's failures (nil: discarded).
	Logger *slog.Logger

	// Platforms, when set, adds the platforms' own viewer counts to each sample and to
	// Snapshot (event.go). Outputs, when set, keeps the destinations' uptime and reconnects
	// during each event, for its report.
	Platforms PlatformViewers
	Outputs   OutputFigures
}

// Counter counts the viewers of every stream. Its methods are safe for concurrent use; the
// per-request ones (Touch, Join, Beacon) take one stream's lock and touch one map entry.
type Counter struct {
	o      Options
	secret []byte
	clock  func() time.Time
	limit  *mintLimiter
	seed   maphash.Seed // hashes tokens for the distinct set

	mu      sync.RWMutex
	streams map[string]*streamAudience
}

// hlsSession is what an HLS viewer costs: three integers in a map keyed by its 28-byte token
// (plus, up to the distinct set's cap, 20 bytes there). No goroutine, no timer: Tick sweeps
// the expired ones.
type hlsSession struct {
	first, last, expires int64 // unix nanoseconds
}

// Sample is the concurrency at one moment, for the report's curve.
type Sample struct {
	At    time.Time `json:"at"`
	Total int       `json:"total"`
	HLS   int       `json:"hls"`
	WHEP  int       `json:"whep"`
	Other int       `json:"other"` // RTMP players and any other exact protocol
	// Platforms are the platforms' own counts at that moment, by destination name (only
	// those known then; see Options.Platforms). They are not in Total.
	Platforms map[string]int `json:"platforms,omitempty"`
}

type streamAudience struct {
	mu sync.Mutex

	exact    map[string]int // open exact sessions by protocol
	exactSum int64          // sum of the open exact sessions' join times (unix ns), for watch time
	exactN   int
	hls      map[string]hlsSession
	// pending holds the tokens whose first media playlist request came (when it expires,
	// unix ns): a token counts from its second one (see Playlist).
	pending map[string]int64
	seen    *distinct // tokens counted in this event

	event uint64 // the live session followed (EventOf), 0 when unknown

	distinctExact int
	peak          int
	peakAt        time.Time
	peakBy        map[string]int
	watched       time.Duration // closed sessions

	live       bool
	start, end time.Time

	// The journal (journal.go): id names the event; liveAt is the last tick that saw it
	// live; resumeBy, set on a restored event that was live, is when it ends for good unless
	// its stream comes back; saved is what the journal holds, savedAt its last write,
	// dirty asks for a write at the next tick.
	id         string
	liveAt     time.Time
	resumeBy   time.Time
	saved      saved
	savedAt    time.Time
	dirty      bool
	restored   bool
	saveFailed bool

	// The report's extras (event.go): the destinations' figures during the event (outputs;
	// outBase is what the manager said when the event began or resumed, nil until the
	// next observe; outPrev what the event had then), its periods, and extraV, bumped on
	// every change of either, for the journal.
	outputs, outBase, outPrev map[string]Output
	periods                   []Period
	extraV                    uint64

	series     []Sample
	every      time.Duration // doubles each time the series is thinned
	baseEvery  time.Duration
	lastSample time.Time
}

// New returns a Counter.
func New(o Options) *Counter {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.BeaconWindow <= 0 {
		o.BeaconWindow = DefaultBeaconWindow
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = 5 * time.Second
	}
	if o.MaxSamples < 2 {
		o.MaxSamples = 8640
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.TokenMaxAge <= 0 {
		o.TokenMaxAge = DefaultTokenMaxAge
	}
	if o.MintBurst <= 0 {
		o.MintBurst = DefaultMintBurst
	}
	if o.MintRate <= 0 {
		o.MintRate = DefaultMintRate
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.SaveEvery <= 0 {
		o.SaveEvery = DefaultSaveEvery
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	secret := o.Secret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	return &Counter{o: o, secret: secret, clock: o.Clock, streams: map[string]*streamAudience{},
		limit: newMintLimiter(o.MintRate, o.MintBurst, o.MaxClients), seed: maphash.MakeSeed()}
}

// Window returns how long an HLS session outlives its last playlist request.
func (c *Counter) Window() time.Duration { return c.o.Window }

func (c *Counter) get(stream string) *streamAudience {
	c.mu.RLock()
	a := c.streams[stream]
	c.mu.RUnlock()
	if a != nil {
		return a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a = c.streams[stream]; a == nil {
		a = &streamAudience{
			exact: map[string]int{}, hls: map[string]hlsSession{}, pending: map[string]int64{}, seen: newDistinct(),
			peakBy: map[string]int{}, every: c.o.SampleEvery, baseEvery: c.o.SampleEvery,
			outputs: map[string]Output{},
		}
		c.streams[stream] = a
	}
	return a
}

// Join counts one viewer session of an exact protocol (a WHEP peer connection, an RTMP
// player) until leave is called. leave may be called any number of times.
func (c *Counter) Join(stream, protocol string) (leave func()) {
	a := c.get(stream)
	now := c.clock()
	a.mu.Lock()
	a.exact[protocol]++
	a.exactN++
	a.exactSum += now.UnixNano()
	a.distinctExact++
	a.updatePeak(now)
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			end := c.clock()
			a.mu.Lock()
			defer a.mu.Unlock()
			// A session that joined before the current event began counts from its start.
			from := now
			if from.Before(a.start) {
				from = a.start
			}
			a.exact[protocol]--
			a.exactN--
			a.exactSum -= from.UnixNano()
			a.watched += end.Sub(from)
		})
	}
}

// TouchHLS counts the HLS session token at once, for the session window. The token must be
// valid and have proved it plays; the HLS output calls Playlist, the beacon route Beacon.
func (c *Counter) TouchHLS(stream, token string) { c.touch(stream, token, c.o.Window) }

// Playlist counts a media playlist request carrying session token for stream's live session
// event, and reports whether the token is valid. A token counts from its second media
// playlist request within the window: every player that plays a live stream reloads its
// media playlist (hls.js and Safari with a blocking request for the next part, once they
// have the first ones), while a mere fetch of the playlists counts nothing. A counted token
// costs a map lookup; only a new one has its signature checked.
func (c *Counter) Playlist(stream string, event uint64, token string) bool {
	a := c.get(stream)
	now := c.clock()
	if a.refresh(token, now, c.o.Window) {
		return true
	}
	if !c.ValidToken(stream, event, token) {
		return false
	}
	ns := now.UnixNano()
	a.mu.Lock()
	defer a.mu.Unlock()
	if exp, ok := a.pending[token]; ok && exp > ns {
		delete(a.pending, token)
		a.count(c, token, now, c.o.Window)
		return true
	}
	if _, ok := a.hls[token]; !ok {
		a.pending[token] = ns + int64(c.o.Window)
	}
	return true
}

// Beacon counts a watch page's heartbeat for session token of stream's live session event,
// and reports whether the token is valid. A beacon and the playlist requests carrying the
// same token are one viewer; a beacon for a token whose playlists a CDN served (the server
// never saw them) counts the viewer too: the page sends one only while its video plays.
func (c *Counter) Beacon(stream string, event uint64, token string) bool {
	a := c.get(stream)
	now := c.clock()
	if a.refresh(token, now, c.o.BeaconWindow) {
		return true
	}
	if !c.ValidToken(stream, event, token) {
		return false
	}
	c.touch(stream, token, c.o.BeaconWindow)
	return true
}

// refresh extends a counted session and reports true, or reports false when token is not
// counted now.
func (a *streamAudience) refresh(token string, now time.Time, window time.Duration) bool {
	ns := now.UnixNano()
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.hls[token]
	if !ok || s.expires <= ns {
		return false
	}
	s.last = ns
	s.expires = max(s.expires, ns+int64(window))
	a.hls[token] = s
	return true
}

func (c *Counter) touch(stream, token string, window time.Duration) {
	a := c.get(stream)
	now := c.clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.count(c, token, now, window)
}

// count counts token for window from now. Called with a.mu held.
func (a *streamAudience) count(c *Counter, token string, now time.Time, window time.Duration) {
	ns := now.UnixNano()
	exp := ns + int64(window)
	s, ok := a.hls[token]
	if ok {
		s.last = ns
		s.expires = max(s.expires, exp)
		a.hls[token] = s
		return
	}
	delete(a.pending, token)
	a.hls[token] = hlsSession{first: ns, last: ns, expires: exp}
	a.seen.add(maphash.String(c.seed, token))
	a.updatePeak(now)
}

// updatePeak records a new peak. Called with a.mu held.
func (a *streamAudience) updatePeak(now time.Time) {
	total := len(a.hls) + a.exactN
	if total > a.peak {
		a.peak, a.peakAt = total, now
	}
	if n := len(a.hls); n > a.peakBy[HLS] {
		a.peakBy[HLS] = n
	}
	for p, n := range a.exact {
		if n > a.peakBy[p] {
			a.peakBy[p] = n
		}
	}
}

// sweep ends the HLS sessions whose window is over, and forgets the pending tokens whose
// second request did not come in time. Called with a.mu held.
func (a *streamAudience) sweep(now int64) {
	for t, s := range a.hls {
		if s.expires <= now {
			a.watched += time.Duration(s.last - s.first)
			delete(a.hls, t)
		}
	}
	for t, exp := range a.pending {
		if exp <= now {
			delete(a.pending, t)
		}
	}
}

// finish ends the event: the stream went idle (or a new live session began without the
// counter seeing it idle). Its HLS sessions end at once, since their tokens are refused from
// now on; exact sessions end when their players leave. Called with a.mu held.
func (a *streamAudience) finish(now time.Time) {
	for _, s := range a.hls {
		a.watched += time.Duration(s.last - s.first)
	}
	clear(a.hls)
	clear(a.pending)
	a.closePeriods(now)
	a.live, a.end = false, now
	a.dirty = true
}

func (a *streamAudience) sample(now time.Time) Sample {
	s := Sample{At: now, HLS: len(a.hls), WHEP: a.exact[WHEP]}
	s.Total = s.HLS + a.exactN
	s.Other = a.exactN - s.WHEP
	return s
}

// Tick expires HLS sessions, follows which streams are live (live maps a stream's name to
// whether it has a live session; a stream going live starts a new event, a stream going
// idle ends it and its HLS sessions) and records a sample when one is due. Run calls it
// every second.
func (c *Counter) Tick(live map[string]bool) { c.tick(live, nil) }

// tick is Tick with the live sessions' identities (EventOf), when known: a stream whose live
// session changed between two ticks ends one event and begins another.
func (c *Counter) tick(live map[string]bool, events map[string]uint64) {
	now := c.clock()
	c.limit.sweep(now)
	for name, on := range live {
		a := c.get(name)
		ev, known := events[name]
		a.mu.Lock()
		switch {
		case on && a.live && known && a.event != 0 && ev != a.event:
			a.finish(now)
			a.begin(now, c.seed)
		case on && !a.live && !a.resumeBy.IsZero() && !now.After(a.resumeBy):
			a.resume(now)
		case on && !a.live:
			a.begin(now, c.seed)
		case !on && a.live:
			a.finish(now)
		}
		if known {
			a.event = ev
		}
		if a.live {
			a.liveAt = now
		}
		a.mu.Unlock()
	}
	c.mu.RLock()
	list := make([]*streamAudience, 0, len(c.streams))
	names := make([]string, 0, len(c.streams))
	for n, a := range c.streams {
		list, names = append(list, a), append(names, n)
	}
	c.mu.RUnlock()
	for i, a := range list {
		var plat map[string]int
		if c.o.Platforms != nil && live[names[i]] {
			plat = c.o.Platforms.PlatformViewers(names[i]) // outside a.mu: it has its own lock
		}
		a.mu.Lock()
		a.sweep(now.UnixNano())
		if !a.live && !a.resumeBy.IsZero() && now.After(a.resumeBy) {
			// A restored event whose stream did not come back: it ended at its last write.
			a.resumeBy, a.dirty = time.Time{}, true
		}
		if (a.live || len(a.hls)+a.exactN > 0) && now.Sub(a.lastSample) >= a.every {
			smp := a.sample(now)
			smp.Platforms = plat
			a.series = append(a.series, smp)
			a.lastSample = now
			if len(a.series) >= c.o.MaxSamples {
				// Keep every other sample: the curve keeps its shape at half the resolution.
				j := 0
				for i := 0; i < len(a.series); i += 2 {
					a.series[j] = a.series[i]
					j++
				}
				clear(a.series[j:])
				a.series = a.series[:j]
				a.every *= 2
			}
		}
		a.mu.Unlock()
	}
}

// begin starts a new event: the stream went live after being idle. The viewers already
// there (players waiting for the stream) stay counted. Called with a.mu held.
func (a *streamAudience) begin(now time.Time, seed maphash.Seed) {
	a.live, a.start, a.end = true, now, time.Time{}
	a.id, a.resumeBy, a.dirty = newEventID(), time.Time{}, true
	a.series, a.lastSample, a.every = nil, time.Time{}, a.baseEvery
	a.watched = 0
	a.exactSum = int64(a.exactN) * now.UnixNano() // open sessions count from now on
	a.distinctExact = a.exactN
	a.seen = newDistinct()
	for t, s := range a.hls {
		a.seen.add(maphash.String(seed, t))
		s.first = max(s.first, now.UnixNano())
		a.hls[t] = s
	}
	a.peak, a.peakAt = 0, time.Time{}
	a.peakBy = map[string]int{}
	a.updatePeak(now)
	a.periods = nil
	a.startOutputs(nil)
}

// Run calls Tick every second with the registry's live streams until ctx is cancelled, and
// writes the figures that changed to the journal (every SaveEvery, at once when an event
// begins or ends, and a last time when ctx is cancelled).
func (c *Counter) Run(ctx context.Context, reg *relay.Registry) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		live := map[string]bool{}
		events := map[string]uint64{}
		for _, s := range reg.List() {
			c.restore(ctx, s.Name())
			in := s.Info()
			live[s.Name()] = in.State != relay.Idle
			if in.State != relay.Idle {
				events[s.Name()] = EventOf(in.Session, in.LiveSince)
			}
		}
		c.tick(live, events)
		for _, s := range reg.List() {
			if in := s.Info(); in.State != relay.Idle {
				c.observe(s.Name(), in.Paused, in.Standby, onBackup(in))
			}
		}
		c.save(ctx, false)
		select {
		case <-ctx.Done():
			c.save(context.WithoutCancel(ctx), true)
			return nil
		case <-t.C:
		}
	}
}

// onBackup reports whether a live stream's picture comes from one of its backup sources
// rather than its primary (the first of its sources).
func onBackup(in relay.Info) bool {
	return len(in.Sources) > 1 && in.OnAir != "" && in.OnAir != in.Sources[0].Name
}

// Peak is the highest concurrency of the event.
type Peak struct {
	Total int       `json:"total"`
	At    time.Time `json:"at"`
	// ByProtocol holds each protocol's own highest concurrency (at its own time).
	ByProtocol map[string]int `json:"by_protocol"`
}

// Snapshot is a stream's audience as the API and the report show it.
type Snapshot struct {
	// Event names the event (empty before the first one); it stays the same across a
	// restart that the event survives.
	Event string
	// Now is the concurrency by protocol, with "total"; "hls" and "whep" are always present.
	Now  map[string]int
	Peak Peak
	// Distinct counts the viewers seen in this event: HLS tokens plus exact sessions. A
	// viewer whose player asked for a new token (a page reload without the token kept in
	// sessionStorage, another device) counts again. The HLS part is exact up to 8192
	// tokens, a HyperLogLog estimate beyond (a standard error under 1%), so its memory is
	// bounded.
	Distinct int
	// WatchTime is the total time watched by every viewer, ended sessions and open ones.
	WatchTime time.Duration
	// Live is whether the stream has a live session; Start and End bound the event (End is
	// zero while live; both zero before the first event).
	Live       bool
	Start, End time.Time
	Series     []Sample
	// Platforms are the platforms' own counts now, by destination name (Options.Platforms;
	// nil without); they are not in Now.
	Platforms map[string]int
	// Outputs are the destinations' figures during the event (Options.Outputs), Periods
	// its standby, paused (and failover) periods.
	Outputs []Output
	Periods []Period
}

// Snapshot returns a stream's audience.
func (c *Counter) Snapshot(stream string) Snapshot {
	s := c.snapshot(stream)
	if c.o.Platforms != nil && s.Live {
		s.Platforms = c.o.Platforms.PlatformViewers(stream) // outside a.mu: it has its own lock
	}
	return s
}

func (c *Counter) snapshot(stream string) Snapshot {
	a := c.get(stream)
	now := c.clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweep(now.UnixNano())
	s := Snapshot{
		Event:    a.id,
		Now:      map[string]int{HLS: len(a.hls), WHEP: 0},
		Distinct: a.seen.count() + a.distinctExact,
		Live:     a.live, Start: a.start, End: a.end,
		Series: append([]Sample(nil), a.series...),
	}
	total := len(a.hls)
	for p, n := range a.exact {
		if n > 0 || p == WHEP {
			s.Now[p] = n
		}
		total += n
	}
	s.Now["total"] = total
	by := make(map[string]int, len(a.peakBy))
	for p, n := range a.peakBy {
		by[p] = n
	}
	s.Peak = Peak{Total: a.peak, At: a.peakAt, ByProtocol: by}
	s.WatchTime = a.watchTime(now)
	s.Outputs, s.Periods = a.outputList(), append([]Period(nil), a.periods...)
	return s
}

// Now returns the number of viewers of a stream now, by protocol and "total" (for the public
// badge and the metrics; cheaper than Snapshot).
func (c *Counter) Now(stream string) map[string]int {
	a := c.get(stream)
	now := c.clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweep(now.UnixNano())
	m := map[string]int{HLS: len(a.hls), WHEP: 0}
	total := len(a.hls)
	for p, n := range a.exact {
		if n > 0 || p == WHEP {
			m[p] = n
		}
		total += n
	}
	m["total"] = total
	return m
}

// Streams returns the names of the streams with an audience record, sorted.
func (c *Counter) Streams() []string {
	c.mu.RLock()
	l := make([]string, 0, len(c.streams))
	for n := range c.streams {
		l = append(l, n)
	}
	c.mu.RUnlock()
	sort.Strings(l)
	return l
}
