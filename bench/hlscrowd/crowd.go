// Package hlscrowd simulates LL-HLS viewers of a Beffroi, straight or through caching edges: the
// players of bench/viewerload, bench/edgeload and the edge tests, and the truth their counts
// are checked against.
package hlscrowd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is how a simulated viewer watches.
type Kind int

// Viewer kinds.
const (
	// KindLL plays LL-HLS as hls.js does: both media playlists with blocking requests
	// (_HLS_msn/_HLS_part), every new part, beacons if enabled.
	KindLL Kind = iota
	// KindPoll reloads its media playlist every PollEvery without blocking and fetches
	// nothing else: a player whose media a cache serves (cheap: for counting tests).
	KindPoll
	// KindCDN fetches the multivariant playlist once, then only posts beacons: a viewer whose
	// playlists a CDN serves, seen by Beffroi through its beacons alone.
	KindCDN
)

// Load describes a load run.
type Load struct {
	// Base is Beffroi's HTTP origin ("http://127.0.0.1:8080"); Stream the stream's name.
	Base, Stream string
	// Mix gives each viewer's kind, cyclically (viewer i is Mix[i%len(Mix)]).
	Mix []Kind
	// BeaconEvery: LL and poll viewers with an odd index, and every CDN viewer, post a beacon
	// this often (0: only CDN viewers, every 10 s).
	BeaconEvery time.Duration
	// PollEvery is the reload period of poll viewers (default 1s).
	PollEvery time.Duration
	// Client makes the requests (default: one with a big connection pool).
	Client *http.Client
	// Token is an operator API token, to read the server's count (its audience route is an
	// operator route).
	Token string
	// OwnAddresses makes each viewer dial from its own loopback address (127.1.0.0 and up;
	// Linux routes all of 127/8 to lo), as viewers on the internet each come from their own:
	// the server limits the session tokens one address gets. Only for a server on loopback.
	OwnAddresses bool
	// Edges, when set, are caching edges in front of Base (deploy/edges): viewer i plays
	// and beacons through Edges[i%len(Edges)], and every viewer beacons (the origin sees no
	// playlist request of theirs with a token); the count is still read from Base.
	Edges []string
}

// viewerBase returns the origin viewer i asks for its HLS and posts its beacons to.
func (l *Load) viewerBase(i int) string {
	if len(l.Edges) == 0 {
		return l.Base
	}
	return l.Edges[i%len(l.Edges)]
}

// viewerClient returns the client of viewer i: l.Client, or with OwnAddresses one dialing
// from the viewer's own loopback address.
func (l *Load) viewerClient(i int) *http.Client {
	if !l.OwnAddresses {
		return l.Client
	}
	ip := net.IPv4(127, 1+byte(i>>16), byte(i>>8), byte(i))
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	tr.MaxIdleConnsPerHost = 8
	return &http.Client{Transport: tr, Timeout: l.Client.Timeout}
}

// Stats are what the tool measured.
type Stats struct {
	mu        sync.Mutex
	latency   map[string][]time.Duration // request kind -> response times
	late      []time.Duration            // blocking playlist responses: time after the first answer of the same part
	firstSeen map[string]time.Time
	errors    map[string]int
	requests  atomic.Int64
	bytes     atomic.Int64
	// cache counts the answers by request kind and by the cache status an edge gave them
	// (X-Cache-Status of nginx, X-Cache of the shipped Varnish configuration).
	cache map[string]map[string]int
}

func newStats() *Stats {
	return &Stats{latency: map[string][]time.Duration{}, firstSeen: map[string]time.Time{}, errors: map[string]int{},
		cache: map[string]map[string]int{}}
}

func (s *Stats) record(kind string, d time.Duration, n int) {
	s.requests.Add(1)
	s.bytes.Add(int64(n))
	s.mu.Lock()
	s.latency[kind] = append(s.latency[kind], d)
	s.mu.Unlock()
}

func (s *Stats) fail(what string) {
	s.mu.Lock()
	s.errors[what]++
	s.mu.Unlock()
}

// cached records the cache status an edge gave an answer of kind.
func (s *Stats) cached(kind, status string) {
	if status == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.cache[kind]
	if m == nil {
		m = map[string]int{}
		s.cache[kind] = m
	}
	m[status]++
}

// Cache returns, for a request kind ("part", "blocking", "playlist", ...; with " " and an
// edge's URL, the answers of that edge), how many answers
// an edge served from its cache (HIT) and how many answers carried a cache status at all.
func (s *Stats) Cache(kind string) (hits, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for status, n := range s.cache[kind] {
		total += n
		if status == "HIT" {
			hits += n
		}
	}
	return hits, total
}

// blocked records a blocking playlist answer for key (rendition, msn, part): its lateness is
// how long after the first viewer's answer for the same part it came.
func (s *Stats) blocked(key string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first, ok := s.firstSeen[key]
	if !ok {
		s.firstSeen[key] = at
		if len(s.firstSeen) > 100000 {
			clear(s.firstSeen)
		}
		return
	}
	s.late = append(s.late, max(at.Sub(first), 0))
}

// Reset drops what was measured so far (after the warm-up).
func (s *Stats) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = map[string][]time.Duration{}
	s.late = nil
	s.errors = map[string]int{}
	s.cache = map[string]map[string]int{}
	s.requests.Store(0)
	s.bytes.Store(0)
}

// Percentiles returns p50 and p99 of a request kind ("late" for the blocking lateness).
func (s *Stats) Percentiles(kind string) (p50, p99 time.Duration, n int) {
	s.mu.Lock()
	var l []time.Duration
	if kind == "late" {
		l = slices.Clone(s.late)
	} else {
		l = slices.Clone(s.latency[kind])
	}
	s.mu.Unlock()
	if len(l) == 0 {
		return 0, 0, 0
	}
	slices.Sort(l)
	return l[len(l)*50/100], l[min(len(l)*99/100, len(l)-1)], len(l)
}

// LateBeyond returns the fraction of blocking playlist answers later than d.
func (s *Stats) LateBeyond(d time.Duration) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.late) == 0 {
		return 0
	}
	n := 0
	for _, l := range s.late {
		if l > d {
			n++
		}
	}
	return float64(n) / float64(len(s.late))
}

// Errors returns the failures by kind.
func (s *Stats) Errors() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps(s.errors)
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Requests returns the requests made and the bytes received.
func (s *Stats) Requests() (int64, int64) { return s.requests.Load(), s.bytes.Load() }

// Viewer is one simulated player.
type Viewer struct {
	l      *Load
	base   string // where its HLS and beacons go: the origin or its edge
	client *http.Client
	stats  *Stats
	kind   Kind
	beacon bool
	token  string
	cancel context.CancelFunc
	done   chan struct{}
	reload chan struct{}
}

// Crowd is the set of simulated viewers, and the truth the counts are checked against.
type Crowd struct {
	l       *Load
	Stats   *Stats
	mu      sync.Mutex
	viewers []*Viewer
	next    int
	active  atomic.Int64
	tokens  sync.Map // distinct tokens ever used
}

// NewCrowd returns an empty crowd for l.
func NewCrowd(l *Load) *Crowd {
	if len(l.Mix) == 0 {
		l.Mix = []Kind{KindLL}
	}
	if l.PollEvery <= 0 {
		l.PollEvery = time.Second
	}
	if l.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 0
		tr.MaxIdleConnsPerHost = 10000
		tr.MaxConnsPerHost = 0
		l.Client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	return &Crowd{l: l, Stats: newStats()}
}

// Active is the truth: how many simulated viewers are watching now.
func (c *Crowd) Active() int { return int(c.active.Load()) }

// Distinct is how many distinct sessions (tokens) the crowd used.
func (c *Crowd) Distinct() int {
	n := 0
	c.tokens.Range(func(_, _ any) bool { n++; return true })
	return n
}

// Join starts n viewers; it returns once each has its session token (it counts once it
// reloads its media playlist or posts a beacon).
func (c *Crowd) Join(ctx context.Context, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		c.mu.Lock()
		i := c.next
		c.next++
		kind := c.l.Mix[i%len(c.l.Mix)]
		v := &Viewer{l: c.l, base: c.l.viewerBase(i), client: c.l.viewerClient(i), stats: c.Stats, kind: kind, done: make(chan struct{}), reload: make(chan struct{}, 1),
			beacon: kind == KindCDN || len(c.l.Edges) > 0 || (c.l.BeaconEvery > 0 && i%2 == 1)}
		c.viewers = append(c.viewers, v)
		c.mu.Unlock()
		wg.Go(func() {
			vctx, cancel := context.WithCancel(ctx)
			v.cancel = cancel
			mv, err := v.multivariant(vctx)
			if err != nil {
				cancel()
				close(v.done)
				errs <- err
				return
			}
			c.tokens.Store(v.token, true)
			c.active.Add(1)
			go func() {
				defer close(v.done)
				defer c.active.Add(-1)
				v.run(vctx, mv)
			}()
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// Leave stops n viewers, the oldest first, and waits for them.
func (c *Crowd) Leave(n int) {
	c.mu.Lock()
	n = min(n, len(c.viewers))
	gone := c.viewers[:n]
	c.viewers = c.viewers[n:]
	c.mu.Unlock()
	for _, v := range gone {
		v.cancel()
	}
	for _, v := range gone {
		<-v.done
		if v.client != v.l.Client {
			v.client.CloseIdleConnections()
		}
	}
}

// Reload makes n viewers reload their page: they ask for the multivariant playlist again
// with their session token (as the watch page does from sessionStorage).
func (c *Crowd) Reload(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.viewers[:min(n, len(c.viewers))] {
		select {
		case v.reload <- struct{}{}:
		default:
		}
	}
}

// Close stops every viewer.
func (c *Crowd) Close() {
	c.mu.Lock()
	n := len(c.viewers)
	c.mu.Unlock()
	c.Leave(n)
}

var (
	uriRE         = regexp.MustCompile(`(?m)^([^#\s][^\s]*)$|URI="([^"]+)"`)
	sessionDataRE = regexp.MustCompile(`#EXT-X-SESSION-DATA:DATA-ID="fr\.beffroi\.session",VALUE="([^"]+)"`)
)

func (v *Viewer) get(ctx context.Context, kind, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base+"/hls/"+v.l.Stream+"/"+path, nil)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := v.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			v.stats.fail(kind)
		}
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		if ctx.Err() == nil {
			v.stats.fail(kind + " " + strconv.Itoa(resp.StatusCode))
		}
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	v.stats.record(kind, time.Since(start), len(body))
	status := resp.Header.Get("X-Cache-Status") + resp.Header.Get("X-Cache")
	v.stats.cached(kind, status)
	v.stats.cached(kind+" "+v.base, status)
	return body, nil
}

// multivariant fetches the multivariant playlist (with the viewer's token, once it has one)
// and returns the media playlist paths.
func (v *Viewer) multivariant(ctx context.Context) ([]string, error) {
	path := "index.m3u8"
	if v.token != "" {
		path += "?session=" + v.token
	}
	body, err := v.get(ctx, "multivariant", path)
	if err != nil {
		return nil, err
	}
	var media []string
	token := ""
	for _, m := range uriRE.FindAllSubmatch(body, -1) {
		u := string(m[1]) + string(m[2])
		if strings.Contains(u, "_stream.m3u8") {
			media = append(media, u)
			if _, q, ok := strings.Cut(u, "session="); ok {
				token, _, _ = strings.Cut(q, "&")
			}
		}
	}
	// Through an edge the URLs carry no token: the session data does (as the watch page
	// reads it).
	if m := sessionDataRE.FindSubmatch(body); token == "" && m != nil {
		token = string(m[1])
	}
	if len(media) == 0 || token == "" {
		return nil, fmt.Errorf("multivariant playlist without session token")
	}
	// The token is set once, before the viewer's goroutines start; a reload must get it back.
	if v.token == "" {
		v.token = token
	} else if token != v.token {
		v.stats.fail("reload got a new token")
	}
	slices.Sort(media) // audio before video
	return media, nil
}

func (v *Viewer) postBeacon(ctx context.Context) {
	body, _ := json.Marshal(map[string]string{"stream": v.l.Stream, "session": v.token, "protocol": "hls"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/api/v1/beacon", bytes.NewReader(body))
	if err != nil {
		return
	}
	start := time.Now()
	resp, err := v.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			v.stats.fail("beacon")
		}
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		v.stats.fail("beacon " + strconv.Itoa(resp.StatusCode))
		return
	}
	v.stats.record("beacon", time.Since(start), 0)
}

func (v *Viewer) run(ctx context.Context, media []string) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if v.beacon {
		every := v.l.BeaconEvery
		if every <= 0 {
			every = 10 * time.Second
		}
		wg.Go(func() {
			// Spread the viewers' beacons over the period.
			t := time.NewTimer(time.Duration(rand.Int64N(int64(every))))
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				v.postBeacon(ctx)
				t.Reset(every)
			}
		})
	}
	switch v.kind {
	case KindCDN:
		for {
			select {
			case <-ctx.Done():
				return
			case <-v.reload:
				_, _ = v.multivariant(ctx)
			}
		}
	case KindPoll:
		t := time.NewTimer(time.Duration(rand.Int64N(int64(v.l.PollEvery))))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-v.reload:
				if m, err := v.multivariant(ctx); err == nil {
					media = m
				}
			case <-t.C:
				_, _ = v.get(ctx, "playlist", media[len(media)-1])
				t.Reset(v.l.PollEvery)
			}
		}
	default:
		for _, m := range media {
			wg.Go(func() { v.playRendition(ctx, m) })
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-v.reload:
				_, _ = v.multivariant(ctx)
			}
		}
	}
}

var (
	partRE = regexp.MustCompile(`#EXT-X-PART:DURATION=([0-9.]+),URI="([^"]+)"`)
	seqRE  = regexp.MustCompile(`#EXT-X-MEDIA-SEQUENCE:(\d+)`)
)

// playRendition follows one media playlist as hls.js does in low-latency mode: a first
// request, then blocking requests for the next part; a second goroutine fetches the new parts
// meanwhile (a player that cannot keep up drops parts rather than delay its playlist).
func (v *Viewer) playRendition(ctx context.Context, media string) {
	id, _, _ := strings.Cut(media, "_stream.m3u8")
	body, err := v.get(ctx, "playlist", media)
	if err != nil {
		return
	}
	parts := make(chan string, 32)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(parts)
	wg.Go(func() {
		for n := range parts {
			_, _ = v.get(ctx, "part", n)
		}
	})
	have := map[string]bool{}
	first := true
	for ctx.Err() == nil {
		msn, nparts, names := nextPart(body)
		for i, n := range names {
			if have[n] {
				continue
			}
			have[n] = true
			// A player starts about three parts behind the live edge.
			if !first || i >= len(names)-3 {
				select {
				case parts <- n:
				default:
					v.stats.fail("part dropped (player behind)")
				}
			}
		}
		if len(have) > 200 {
			clear(have)
			for _, n := range names {
				have[n] = true
			}
		}
		first = false
		sep := "?"
		if strings.Contains(media, "?") {
			sep = "&"
		}
		q := media + sep + "_HLS_msn=" + strconv.FormatUint(msn, 10) + "&_HLS_part=" + strconv.Itoa(nparts)
		if body, err = v.get(ctx, "blocking", q); err != nil {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
			if body, err = v.get(ctx, "playlist", media); err != nil {
				return
			}
			continue
		}
		v.stats.blocked(id+"/"+strconv.FormatUint(msn, 10)+"/"+strconv.Itoa(nparts), time.Now())
	}
}

// nextPart reads a media playlist: the msn and part index a blocking request asks for next,
// and the parts of the last segments (newest last).
func nextPart(pl []byte) (msn uint64, part int, names []string) {
	if m := seqRE.FindSubmatch(pl); m != nil {
		msn, _ = strconv.ParseUint(string(m[1]), 10, 64)
	}
	segs := 0
	part = 0
	for line := range bytes.Lines(pl) {
		switch {
		case bytes.HasPrefix(line, []byte("#EXTINF")):
			segs++
			part = 0
		case bytes.HasPrefix(line, []byte("#EXT-X-PART:")):
			if m := partRE.FindSubmatch(line); m != nil {
				names = append(names, string(m[2]))
			}
			part++
		}
	}
	return msn + uint64(segs), part, names
}

// Counted reads the audience the server counts now (its operator route, with l.Token): total and by protocol, and distinct.
func (l *Load) Counted(ctx context.Context) (map[string]int, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.Base+"/api/v1/streams/"+l.Stream+"/audience", nil)
	if err != nil {
		return nil, 0, err
	}
	if l.Token != "" {
		req.Header.Set("Authorization", "Bearer "+l.Token)
	}
	client := l.Client
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("audience: %s", resp.Status)
	}
	var a struct {
		Now      map[string]int `json:"now"`
		Distinct int            `json:"distinct"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return nil, 0, err
	}
	return a.Now, a.Distinct, nil
}

// Sleep waits for d, or returns ctx's error once it is cancelled.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
