package web

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beffroi/beffroi/outputs/platforms"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/audience"
)

// The audience routes: the operator's figures, the public badge of the watch page, the event
// report and the players' beacons.
func (s *Server) mountAudience(mux *http.ServeMux, reg *prometheus.Registry, op func(http.Handler) http.Handler) {
	if s.o.Media.HLS != nil {
		mux.Handle("/hls/", s.o.Media.HLS)
	}
	if s.o.Audience == nil {
		return
	}
	mux.Handle("GET /api/v1/streams/{name}/audience", op(http.HandlerFunc(s.getAudience)))
	mux.Handle("GET /api/v1/streams/{name}/report", op(http.HandlerFunc(s.getReport)))
	mux.HandleFunc("GET /api/v1/public/streams/{name}", s.getPublicStream)
	mux.HandleFunc("POST /api/v1/beacon", s.postBeacon)
	s.mountReports(mux, op)
	reg.MustRegister(newAudienceCollector(s.o.Registry, s.o.Audience))
}

// audienceJSON is a stream's audience as the API shows it.
type audienceJSON struct {
	Stream    string            `json:"stream"`
	Event     string            `json:"event,omitempty"`
	Live      bool              `json:"live"`
	Now       map[string]int    `json:"now"`
	Peak      map[string]any    `json:"peak"`
	Distinct  int               `json:"distinct"`
	WatchTime float64           `json:"watch_time"` // seconds
	Start     *time.Time        `json:"start,omitempty"`
	End       *time.Time        `json:"end,omitempty"`
	Series    []audience.Sample `json:"series"`
	// Platforms are the destinations with platform credentials: each one's state and
	// count now; All is our viewers plus the platforms' counted ones.
	Platforms []platforms.Status `json:"platforms"`
	All       int                `json:"all"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toAudienceJSON(name string, a audience.Snapshot) audienceJSON {
	peak := map[string]any{"total": a.Peak.Total, "at": timePtr(a.Peak.At)}
	for p, n := range a.Peak.ByProtocol {
		peak[p] = n
	}
	for _, p := range []string{audience.HLS, audience.WHEP} {
		if _, ok := peak[p]; !ok {
			peak[p] = 0
		}
	}
	series := a.Series
	if series == nil {
		series = []audience.Sample{}
	}
	return audienceJSON{
		Stream: name, Event: a.Event, Live: a.Live, Now: a.Now, Peak: peak, Distinct: a.Distinct,
		WatchTime: math.Round(a.WatchTime.Seconds()), Start: timePtr(a.Start), End: timePtr(a.End),
		Series: series,
	}
}

func (s *Server) getAudience(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if s.o.Registry.Get(name) == nil {
		writeError(w, http.StatusNotFound, "stream not found: "+name)
		return
	}
	snap := s.o.Audience.Snapshot(name)
	a := toAudienceJSON(name, snap)
	a.Platforms, a.All = []platforms.Status{}, a.Now["total"]
	if s.o.Platforms.Poller != nil {
		a.Platforms = s.o.Platforms.Poller.Status(name)
	}
	for _, n := range snap.Platforms {
		a.All += n
	}
	writeJSON(w, http.StatusOK, a)
}

// getPublicStream is what the watch page shows without any secret: live or not, and how many
// watch. Caches may keep it a few seconds: every viewer's page polls it.
func (s *Server) getPublicStream(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st := s.o.Registry.Get(name)
	if st == nil {
		writeError(w, http.StatusNotFound, "stream not found: "+name)
		return
	}
	state, _ := st.State()
	body, _ := json.Marshal(map[string]any{
		"name": name, "live": state != relay.Idle, "viewers": s.o.Audience.Now(name)["total"],
	})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=2")
	h.Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(append(body, '\n'))
}

// beacon is what the watch page posts every 10-15 s.
type beacon struct {
	Stream   string `json:"stream"`
	Session  string `json:"session"`
	Protocol string `json:"protocol"`
}

func (s *Server) postBeacon(w http.ResponseWriter, r *http.Request) {
	b, err := parseBeacon(http.MaxBytesReader(w, r.Body, maxBeacon))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	st := s.o.Registry.Get(b.Stream)
	if st == nil {
		writeError(w, http.StatusNotFound, "beacon: stream not found")
		return
	}
	if b.Protocol == audience.WHEP {
		// WHEP sessions are counted exactly by the WHEP server: nothing to add.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	in := st.Info()
	if in.State == relay.Idle {
		// Between two events: nobody watches, whatever old pages still send.
		writeError(w, http.StatusConflict, "beacon: the stream is not live; not counted")
		return
	}
	if !s.o.Audience.Beacon(b.Stream, audience.EventOf(in.Session, in.LiveSince), b.Session) {
		writeError(w, http.StatusBadRequest, "beacon: unknown or expired session token (take it from the media playlist URL; reload the page after a new live session)")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// maxBeacon bounds a beacon's body.
const maxBeacon = 1024

// errBeacon is what a beacon that is not one gets.
var errBeacon = errors.New(`beacon: the body must be JSON like {"stream":"...","session":"...","protocol":"hls"} (at most 1 KiB)`)

// parseBeacon reads a beacon: one JSON object with a stream, and a protocol "hls" (the
// default, then with a session token) or "whep". navigator.sendBeacon posts text/plain: the
// body is read as JSON whatever its type.
func parseBeacon(body io.Reader) (beacon, error) {
	var b beacon
	dec := json.NewDecoder(body)
	if err := dec.Decode(&b); err != nil {
		return b, errBeacon
	}
	if dec.More() {
		return b, errBeacon
	}
	switch b.Protocol {
	case "":
		b.Protocol = audience.HLS
	case audience.HLS, audience.WHEP:
	default:
		return b, errors.New(`beacon: protocol must be "hls" or "whep"`)
	}
	if b.Stream == "" {
		return b, errors.New("beacon: no stream")
	}
	if b.Protocol == audience.HLS && b.Session == "" {
		return b, errors.New("beacon: no session token (take it from the media playlist URL)")
	}
	return b, nil
}

// audienceCollector exports the viewer counts at each scrape.
type audienceCollector struct {
	reg *relay.Registry
	aud *audience.Counter

	viewers, viewersPeak, viewersDistinct, watchSeconds *prometheus.Desc
}

func newAudienceCollector(reg *relay.Registry, aud *audience.Counter) *audienceCollector {
	return &audienceCollector{
		reg: reg, aud: aud,
		viewers: prometheus.NewDesc("beffroi_viewers",
			"Viewers watching now, by protocol (HLS sessions and beacons, WHEP, RTMP players).", []string{"stream", "protocol"}, nil),
		viewersPeak: prometheus.NewDesc("beffroi_viewers_peak",
			"Highest number of viewers at once in the current or last event.", []string{"stream"}, nil),
		viewersDistinct: prometheus.NewDesc("beffroi_viewers_distinct",
			"Distinct viewers of the current or last event.", []string{"stream"}, nil),
		watchSeconds: prometheus.NewDesc("beffroi_watch_seconds",
			"Total time watched by every viewer in the current or last event, seconds.", []string{"stream"}, nil),
	}
}

func (c *audienceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.viewers
	ch <- c.viewersPeak
	ch <- c.viewersDistinct
	ch <- c.watchSeconds
}

func (c *audienceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.reg.List() {
		n := st.Name()
		a := c.aud.Snapshot(n)
		for p, v := range a.Now {
			if p == "total" {
				continue
			}
			ch <- prometheus.MustNewConstMetric(c.viewers, prometheus.GaugeValue, float64(v), n, p)
		}
		ch <- prometheus.MustNewConstMetric(c.viewersPeak, prometheus.GaugeValue, float64(a.Peak.Total), n)
		ch <- prometheus.MustNewConstMetric(c.viewersDistinct, prometheus.GaugeValue, float64(a.Distinct), n)
		ch <- prometheus.MustNewConstMetric(c.watchSeconds, prometheus.GaugeValue, a.WatchTime.Seconds(), n)
	}
}
