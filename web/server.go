package web

import (
	"net/http"
	"sync"
	"time"

	"github.com/beffroi/beffroi/internal/httpjson"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/beffroi/beffroi/ingest/netstats"
	"github.com/beffroi/beffroi/ingest/rtsp"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/presets"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/relay/transcode"
	"github.com/beffroi/beffroi/web/assets"
	"github.com/beffroi/beffroi/web/clips"
	"github.com/beffroi/beffroi/web/golive"
	"github.com/beffroi/beffroi/web/replays"
	"github.com/beffroi/beffroi/web/watch"
)

// Destinations is what the API needs of the destination manager.
type Destinations interface {
	List(stream string) []outputs.Status
}

// PullStatuses tells the state of the streams' camera pullers (RTSP pulls).
type PullStatuses interface {
	// PullStatus returns the state of the stream's puller; false when the stream pulls
	// from no camera.
	PullStatus(stream string) (rtsp.PullStatus, bool)
}

// RenditionStatuses tells the renditions (codec fitting) being made (transcode.Renditions).
type RenditionStatuses interface {
	// Status returns every rendition of every stream.
	Status() []transcode.RenditionStatus
}

// RecordingStatuses tells the recorder's state for each stream (record.Recorder).
type RecordingStatuses interface {
	Status(stream string) record.Status
}

// Status groups what the API shows of the components that feed, derive and record a
// stream. A nil provider leaves its part out of the stream's JSON.
type Status struct {
	// Pull is shown as the stream's "pull", for streams that pull from a camera.
	Pull PullStatuses
	// Renditions are shown as the stream's "renditions", when any is made of it.
	Renditions RenditionStatuses
	// Recording is shown as the stream's "recording" (off, idle, recording, paused, and
	// the current recording's ID).
	Recording RecordingStatuses
	// Network is shown as the stream's "network" while it is live over a protocol that
	// counts what the network did (WHIP, SRT): lost packets, NACKs, keyframe requests...
	Network netstats.Source
}

// Routes is a part of the API that registers its own routes (accounts, stream management).
type Routes interface {
	Routes(mux *http.ServeMux)
}

// Media groups the handlers of the media endpoints; a nil one is not served.
type Media struct {
	// WHIP serves /whip/ (publishing from a browser).
	WHIP http.Handler
	// WHEP serves /whep/ (playing to viewers over WebRTC).
	WHEP http.Handler
	// HLS serves /hls/ (low-latency HLS playback, outputs/hls).
	HLS http.Handler
}

// Options are what a Server is built from. Only Registry is required: what is left nil is
// not served (tests build the API alone).
type Options struct {
	// Registry holds the streams.
	Registry *relay.Registry
	// Destinations lists each stream's destinations (outputs.Manager).
	Destinations Destinations
	// Status shows the pullers, renditions and recorder in each stream's JSON.
	Status Status
	// Managed reports whether a stream (dest == "") or one of its destinations is declared
	// in the configuration file: the API marks them "managed" (read-only in the console,
	// destinations can still be switched on and off). Nil: nothing is.
	Managed func(stream, dest string) bool
	// Presets are the platforms a destination can be made from (GET /api/v1/presets), and
	// what each asks of the stream (a destination's "platform" and "warnings").
	Presets *presets.Set
	// Operator guards every operator route (reads included, and unpublished replay files):
	// a session or an API token of an operator. Nil leaves them open (tests of the API alone).
	Operator func(http.Handler) http.Handler
	// Accounts serves login, logout, users, tokens and the audit log (auth.Service).
	Accounts Routes
	// Manage serves the write API for streams and destinations (manage.Handler).
	Manage Routes
	// Replays serves the recordings API, the replay files and pages.
	Replays *replays.Service
	// Clips cuts story clips from the recordings: /api/v1/recordings/{id}/clips and the
	// logo at /api/v1/clips/logo.
	Clips *clips.Service
	// Audience counts viewers: the audience, report, public and beacon routes.
	Audience *audience.Counter
	// Events lists the past events for their reports, and the recordings made during one
	// (web/store). Nil: only the current or last event is reported.
	Events EventStore
	// Platforms are the platform viewer counts: the destinations' credentials routes, and
	// the counts in the audience and the reports. A nil Poller: not served.
	Platforms PlatformCounts
	// Media are the publishing and playback endpoints.
	Media Media
	// Console serves the operator console: its page at / and its files under /console/
	// (web/console).
	Console http.Handler
	// Reload, when set, serves POST /api/v1/reload (re-read the configuration file); it
	// checks its caller's role itself (admins only).
	Reload http.Handler
	// WatchMode is how the watch and embed pages play: "auto" (WebRTC, else HLS), "hls"
	// or "webrtc". Empty means "auto".
	WatchMode string
	// Version is reported by /healthz.
	Version string
	// PublicURL is the base URL the public reaches Beffroi by (http.public_url): the
	// canonical links of the watch pages. Empty: the pages carry none.
	PublicURL string
	// MetricsToken, when set, is required on /metrics as "Authorization: Bearer <token>"
	// (metrics.token). Empty: /metrics is open.
	MetricsToken string
	// Health are the checks /healthz runs (health.go); none: it answers ok while it serves.
	Health []HealthCheck
}

// Server serves the HTTP API, the public pages and the media endpoints on one handler.
type Server struct {
	o Options

	hubOnce sync.Once
	hub     *hub // live updates on /api/v1/events (events.go)

	health healthState // the last answer of /healthz (health.go)
}

// New returns the server of these options. Serve its Handler; Run feeds the live updates.
func New(o Options) *Server {
	return &Server{o: o}
}

// Handler returns the HTTP handler with every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /api/v1/openapi.json", serveOpenAPI)
	op := s.o.Operator
	if op == nil {
		op = func(h http.Handler) http.Handler { return h }
	}
	mux.Handle("GET /api/v1/streams", op(http.HandlerFunc(s.listStreams)))
	mux.Handle("GET /api/v1/streams/{name}", op(http.HandlerFunc(s.getStream)))
	mux.Handle("GET /api/v1/presets", op(http.HandlerFunc(s.listPresets)))
	mux.Handle("GET /api/v1/events", op(http.HandlerFunc(s.serveEvents)))
	if s.o.Accounts != nil {
		s.o.Accounts.Routes(mux)
	}
	if s.o.Manage != nil {
		s.o.Manage.Routes(mux)
	}
	if s.o.Reload != nil {
		mux.Handle("POST /api/v1/reload", s.o.Reload)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newCollector(s.o.Registry, s.o.Destinations))
	s.mountAudience(mux, reg, op)
	mux.Handle("GET /metrics", requireToken(s.o.MetricsToken, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	mux.Handle("GET /assets/", assets.Handler())
	gl := golive.Handler()
	mux.Handle("GET /go-live", gl)
	mux.Handle("GET /go-live/", gl)
	if s.o.Media.WHIP != nil {
		mux.Handle("/whip/", s.o.Media.WHIP)
	}
	if s.o.Replays != nil {
		s.o.Replays.Mount(mux, s.o.Operator)
	}
	if s.o.Clips != nil {
		s.o.Clips.Mount(mux, s.o.Operator)
	}
	if s.o.Media.WHEP != nil {
		mux.Handle("/whep/", s.o.Media.WHEP)
	}
	wp := watch.Handler(watch.Options{Mode: s.o.WatchMode, PublicURL: s.o.PublicURL, Exists: func(name string) bool {
		return s.o.Registry != nil && s.o.Registry.Get(name) != nil
	}})
	mux.Handle("GET /watch/", wp)
	mux.Handle("GET /embed/", wp)
	if s.o.Console != nil {
		mux.Handle("GET /{$}", s.o.Console)
		mux.Handle("GET /console/", s.o.Console)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// streamJSON is a stream as the API shows it. It never holds a publish key or a destination
// URL.
type streamJSON struct {
	Name         string                      `json:"name"`
	Live         bool                        `json:"live"`
	State        string                      `json:"state"`
	LiveSince    *time.Time                  `json:"live_since,omitempty"`
	Source       *sourceJSON                 `json:"source,omitempty"`
	Publishes    uint64                      `json:"publishes,omitempty"`
	Tracks       []trackJSON                 `json:"tracks"`
	Readers      int64                       `json:"readers"`
	Pull         *rtsp.PullStatus            `json:"pull,omitempty"`       // the camera puller, for streams that pull
	Renditions   []transcode.RenditionStatus `json:"renditions,omitempty"` // ffmpeg renditions for destinations
	Recording    *record.Status              `json:"recording,omitempty"`  // the recorder's state
	Network      *netstats.Counters          `json:"network,omitempty"`    // what the network did to the publisher (WHIP, SRT)
	Destinations []destinationJSON           `json:"destinations"`
	Managed      bool                        `json:"managed,omitempty"` // declared in the configuration file
	Standby      bool                        `json:"standby,omitempty"` // the standby picture is on air
	Paused       bool                        `json:"paused,omitempty"`  // the operator put the broadcast on standby

	// Backup sources (failover), for a stream that has any: every source by priority, the
	// one on air and the operator's manual choice ("" in automatic mode).
	Sources      []relay.SourceStatus `json:"sources,omitempty"`
	OnAir        string               `json:"on_air,omitempty"`
	ManualSource string               `json:"manual_source,omitempty"`
}

type sourceJSON struct {
	Protocol   string `json:"protocol"`
	RemoteAddr string `json:"remote_addr"`
}

type trackJSON struct {
	relay.TrackInfo
	KeyframeInterval float64 `json:"keyframe_interval,omitempty"` // seconds
}

func (s *Server) stream(st *relay.Stream) streamJSON {
	in := st.Info()
	out := streamJSON{
		Name: in.Name, State: in.State.String(), Live: in.State != relay.Idle,
		Readers: in.Readers, Tracks: []trackJSON{}, Destinations: []destinationJSON{},
		Standby: in.Standby, Paused: in.Paused,
	}
	if len(in.Sources) > 1 {
		out.Sources, out.OnAir, out.ManualSource = in.Sources, in.OnAir, in.Manual
	}
	if out.Live {
		t := in.LiveSince
		out.LiveSince = &t
		out.Source = &sourceJSON{Protocol: in.Source.Protocol, RemoteAddr: in.Source.RemoteAddr}
		out.Publishes = in.Publishes
	}
	for _, t := range in.Tracks {
		out.Tracks = append(out.Tracks, trackJSON{TrackInfo: t, KeyframeInterval: t.KeyframeInterval.Seconds()})
	}
	sp := s.o.Status
	if sp.Pull != nil {
		if p, ok := sp.Pull.PullStatus(in.Name); ok {
			out.Pull = &p
		}
	}
	if sp.Renditions != nil {
		for _, r := range sp.Renditions.Status() {
			if r.Stream == in.Name {
				out.Renditions = append(out.Renditions, r)
			}
		}
	}
	if sp.Recording != nil {
		r := sp.Recording.Status(in.Name)
		out.Recording = &r
	}
	if sp.Network != nil && out.Live {
		if c, ok := sp.Network.NetworkStats(in.Name); ok {
			out.Network = &c
		}
	}
	if s.o.Destinations != nil {
		out.Destinations = s.destinations(s.o.Destinations.List(in.Name), in.Tracks)
	}
	if m := s.o.Managed; m != nil {
		out.Managed = m(in.Name, "")
		for i := range out.Destinations {
			out.Destinations[i].Managed = m(in.Name, out.Destinations[i].Name)
		}
	}
	return out
}

func (s *Server) listStreams(w http.ResponseWriter, _ *http.Request) {
	list := []streamJSON{}
	for _, st := range s.o.Registry.List() {
		list = append(list, s.stream(st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"streams": list})
}

func (s *Server) getStream(w http.ResponseWriter, r *http.Request) {
	st := s.o.Registry.Get(r.PathValue("name"))
	if st == nil {
		writeError(w, http.StatusNotFound, "stream not found: "+r.PathValue("name"))
		return
	}
	writeJSON(w, http.StatusOK, s.stream(st))
}

func writeJSON(w http.ResponseWriter, code int, v any) { httpjson.Write(w, code, v) }

func writeError(w http.ResponseWriter, code int, msg string) { httpjson.Error(w, code, msg) }
