package web

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/beffroi/beffroi/internal/httpjson"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/web/assets"
	"github.com/beffroi/beffroi/web/golive"
	"github.com/beffroi/beffroi/web/replays"
	"github.com/beffroi/beffroi/web/watch"
)

// Destinations is what the API needs of the destination manager.
type Destinations interface {
	List(stream string) []outputs.Status
}

// Server serves the HTTP API.
type Server struct {
	Registry     *relay.Registry
	Destinations Destinations
	Logger       *slog.Logger
	// Version is reported by /healthz.
	Version string
	// Pull, when set, returns the state of a stream's camera puller (nil when it has none).
	Pull func(stream string) any
	// Renditions, when set, returns the renditions (codec fitting) made of a stream.
	Renditions func(stream string) any
	// WHIP, when set, serves /whip/ (publishing from a browser).
	WHIP http.Handler
	// Replays, when set, serves the recordings API, the replay files and pages.
	Replays *replays.Service
	// Operator, when set, guards every operator route (reads included, and unpublished
	// replay files): a session or an API token of an operator. Nil leaves them open (tests
	// of the API alone).
	Operator func(http.Handler) http.Handler
	// Accounts, when set, serves login, logout, users, tokens and the audit log.
	Accounts interface{ Routes(*http.ServeMux) }
	// Manage, when set, serves the write API for streams and destinations.
	Manage interface{ Routes(*http.ServeMux) }
	// Console, when set, serves the operator console: its page at / and its files under
	// /console/ (web/console).
	Console http.Handler
	// Managed, when set, reports whether a stream (dest == "") or one of its destinations is
	// declared in the configuration file: the API marks them "managed" (read-only in the
	// console, destinations can still be switched on and off).
	Managed func(stream, dest string) bool

	hubOnce sync.Once
	hub     *hub // live updates on /api/v1/events (events.go)
	// HLS, when set, serves /hls/ (low-latency HLS playback, outputs/hls).
	HLS http.Handler
	// Audience, when set, counts viewers: the audience, report, public and beacon routes.
	Audience *audience.Counter
	// Recording, when set, returns the recorder's state for a stream (off, idle, recording,
	// paused, and the current recording's ID), shown as the stream's "recording".
	Recording func(stream string) any
	// WHEP, when set, serves /whep/ (playing to viewers over WebRTC).
	WHEP http.Handler
	// WatchMode is how the watch and embed pages play: "auto" (WebRTC, else HLS), "hls"
	// or "webrtc". Empty means "auto".
	WatchMode string
}

// Handler returns the HTTP handler with every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /api/v1/openapi.json", serveOpenAPI)
	op := s.Operator
	if op == nil {
		op = func(h http.Handler) http.Handler { return h }
	}
	mux.Handle("GET /api/v1/streams", op(http.HandlerFunc(s.listStreams)))
	mux.Handle("GET /api/v1/streams/{name}", op(http.HandlerFunc(s.getStream)))
	mux.Handle("GET /api/v1/presets", op(http.HandlerFunc(s.listPresets)))
	mux.Handle("GET /api/v1/events", op(http.HandlerFunc(s.serveEvents)))
	if s.Accounts != nil {
		s.Accounts.Routes(mux)
	}
	if s.Manage != nil {
		s.Manage.Routes(mux)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&collector{reg: s.Registry, dests: s.Destinations})
	s.mountAudience(mux, reg, op)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /assets/", assets.Handler())
	gl := golive.Handler()
	mux.Handle("GET /go-live", gl)
	mux.Handle("GET /go-live/", gl)
	if s.WHIP != nil {
		mux.Handle("/whip/", s.WHIP)
	}
	if s.Replays != nil {
		s.Replays.Mount(mux, s.Operator)
	}
	if s.WHEP != nil {
		mux.Handle("/whep/", s.WHEP)
	}
	wp := watch.Handler(watch.Options{Mode: s.WatchMode, Exists: func(name string) bool {
		return s.Registry != nil && s.Registry.Get(name) != nil
	}})
	mux.Handle("GET /watch/", wp)
	mux.Handle("GET /embed/", wp)
	if s.Console != nil {
		mux.Handle("GET /{$}", s.Console)
		mux.Handle("GET /console/", s.Console)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.Version})
}

// streamJSON is a stream as the API shows it. It never holds a publish key or a destination
// URL.
type streamJSON struct {
	Name         string            `json:"name"`
	Live         bool              `json:"live"`
	State        string            `json:"state"`
	LiveSince    *time.Time        `json:"live_since,omitempty"`
	Source       *sourceJSON       `json:"source,omitempty"`
	Publishes    uint64            `json:"publishes,omitempty"`
	Tracks       []trackJSON       `json:"tracks"`
	Readers      int64             `json:"readers"`
	Pull         any               `json:"pull,omitempty"`       // the camera puller, for streams that pull
	Renditions   any               `json:"renditions,omitempty"` // ffmpeg renditions for destinations
	Recording    any               `json:"recording,omitempty"`  // the recorder's state
	Destinations []destinationJSON `json:"destinations"`
	Managed      bool              `json:"managed,omitempty"` // declared in the configuration file
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
	if s.Pull != nil {
		out.Pull = s.Pull(in.Name)
	}
	if s.Renditions != nil {
		out.Renditions = s.Renditions(in.Name)
	}
	if s.Recording != nil {
		out.Recording = s.Recording(in.Name)
	}
	if s.Destinations != nil {
		out.Destinations = destinations(s.Destinations.List(in.Name), in.Tracks)
	}
	if s.Managed != nil {
		out.Managed = s.Managed(in.Name, "")
		for i := range out.Destinations {
			out.Destinations[i].Managed = s.Managed(in.Name, out.Destinations[i].Name)
		}
	}
	return out
}

func (s *Server) listStreams(w http.ResponseWriter, _ *http.Request) {
	list := []streamJSON{}
	for _, st := range s.Registry.List() {
		list = append(list, s.stream(st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"streams": list})
}

func (s *Server) getStream(w http.ResponseWriter, r *http.Request) {
	st := s.Registry.Get(r.PathValue("name"))
	if st == nil {
		writeError(w, http.StatusNotFound, "stream not found: "+r.PathValue("name"))
		return
	}
	writeJSON(w, http.StatusOK, s.stream(st))
}

func writeJSON(w http.ResponseWriter, code int, v any) { httpjson.Write(w, code, v) }

func writeError(w http.ResponseWriter, code int, msg string) { httpjson.Error(w, code, msg) }
