// Package manage is the write side of the operator API: streams and their destinations,
// created, changed and removed while live, and kept in the embedded database so they come
// back at the next start. Streams and destinations declared in the configuration file are
// "managed by config": they can be switched on and off while live but not changed here.
// With no stream at all, EnsureDefaultStream makes the stream "live" so that a newcomer can
// go live in a minute.
//
// Secrets are write-only: a stream's publish key is shown once, when the stream is made or
// its key rotated; a platform's stream key never leaves (destinations show their host only).
package manage

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/beffroi/beffroi/internal/httpjson"

	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/presets"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
	"github.com/beffroi/beffroi/web/auth"
)

// Stream is a stream made through the API, as stored.
type Stream struct {
	Name       string
	PublishKey string
	Created    time.Time
	// NoRecord keeps the stream out of the recordings (recorded by default).
	NoRecord bool
}

// Destination is a destination added through the API, as stored (on any stream, including
// one from the configuration file).
type Destination struct {
	Stream  string
	Name    string
	URL     string // holds the platform's stream key
	Enabled bool
	// AllowPrivate lets the destination reach private and loopback addresses (set by an
	// admin).
	AllowPrivate bool
	// Shape is the picture the destination gets ("vertical-crop", "vertical-blur"; see
	// transcode.ParseShape); "" the source's.
	Shape string
}

// Store keeps what the API made. The embedded database implements it.
type Store interface {
	ListStreams(ctx context.Context) ([]Stream, error)
	CreateStream(ctx context.Context, s Stream) error
	SetStreamKey(ctx context.Context, name, key string) error
	SetStreamRecord(ctx context.Context, name string, on bool) error
	DeleteStream(ctx context.Context, name string) error // and its destinations
	ListDestinations(ctx context.Context) ([]Destination, error)
	SaveDestination(ctx context.Context, d Destination) error // insert or replace (stream, name)
	DeleteDestination(ctx context.Context, stream, name string) error
}

// Outputs is what the API needs of the destination manager.
type Outputs interface {
	Add(stream string, c outputs.DestinationConfig) error
	Remove(stream, name string) error
	SetEnabled(stream, name string, on bool) error
	List(stream string) []outputs.Status
}

// Recorder switches the recording of a stream (outputs/record.Recorder).
type Recorder interface {
	SetEnabled(stream string, on bool)
}

// Auditor records who changed what (auth.Service does).
type Auditor interface {
	Audit(r *http.Request, action, target, detail string)
}

// PublishURLs are the addresses a publisher uses, each with the key in it.
type PublishURLs map[string]string

// Handler serves the write routes.
type Handler struct {
	Registry *relay.Registry
	Outputs  Outputs
	// Store keeps the changes; nil keeps them in memory only (tests).
	Store Store
	// Sources keeps the backup sources of the streams made in the console (sources.go);
	// nil: they cannot be added.
	Sources SourceStore
	// Managed reports whether a stream (dest == "") or one of its destinations comes from
	// the configuration file. Nil: nothing does.
	Managed func(stream, dest string) bool
	// URLs gives the publish URLs of a stream for a request's host (shown with a new key).
	URLs func(r *http.Request, stream, key string) PublishURLs
	// Protect wraps every route (auth: an operator's session or token). Nil: open (tests).
	Protect func(http.Handler) http.Handler
	// Presets are the platforms a destination can be made from ({"preset": id}). Nil: none.
	Presets *presets.Set
	// Recorder, when set, is switched by PATCH {"record": bool}.
	Recorder Recorder
	// Audit, when set, records every change.
	Audit Auditor
	// Admin reports whether the request comes from an admin: only an admin may let a
	// destination reach private networks (allow_private), or change the URL of one that may.
	// Nil: the role of the principal auth.Require put in the request (none: not an admin).
	Admin func(r *http.Request) bool
	Log   *slog.Logger
	// StandbyDir keeps the uploaded standby images (<data_dir>/standby); "" refuses them.
	StandbyDir string
}

// Routes serves:
//
//	POST   /api/v1/streams                                {"name"} -> the stream, with publish_key (shown once)
//	PATCH  /api/v1/streams/{name}                         {"record": bool}: recording on or off
//	DELETE /api/v1/streams/{name}
//	POST   /api/v1/streams/{name}/rotate-key              -> the new publish_key (shown once)
//	POST   /api/v1/streams/{name}/destinations            {"name","url","enabled"} or {"name","preset","key","ingest_url","enabled"}; "allow_private" (admins)
//	PATCH  /api/v1/streams/{name}/destinations/{dest}     {"enabled"} and/or {"url"} or {"key","ingest_url"}; "allow_private" (admins)
//	DELETE /api/v1/streams/{name}/destinations/{dest}
func (h *Handler) Routes(mux *http.ServeMux) {
	p := h.Protect
	if p == nil {
		p = func(x http.Handler) http.Handler { return x }
	}
	mux.Handle("POST /api/v1/streams", p(http.HandlerFunc(h.createStream)))
	mux.Handle("PATCH /api/v1/streams/{name}", p(http.HandlerFunc(h.updateStream)))
	mux.Handle("DELETE /api/v1/streams/{name}", p(http.HandlerFunc(h.deleteStream)))
	mux.Handle("POST /api/v1/streams/{name}/rotate-key", p(http.HandlerFunc(h.rotateKey)))
	mux.Handle("POST /api/v1/streams/{name}/destinations", p(http.HandlerFunc(h.addDestination)))
	mux.Handle("PATCH /api/v1/streams/{name}/destinations/{dest}", p(http.HandlerFunc(h.updateDestination)))
	mux.Handle("DELETE /api/v1/streams/{name}/destinations/{dest}", p(http.HandlerFunc(h.deleteDestination)))
	h.broadcastRoutes(mux, p) // pause, end now, standby image: broadcast.go
	h.sourceRoutes(mux, p)    // backup sources, manual switch: sources.go
}

// Load brings back, at start, the streams and destinations the API made before, and their
// recording switch (rec may be nil). A stream whose name the configuration file now declares
// keeps the file's definition.
func Load(ctx context.Context, st Store, reg *relay.Registry, outs Outputs, rec Recorder, log *slog.Logger) error {
	streams, err := st.ListStreams(ctx)
	if err != nil {
		return fmt.Errorf("loading streams: %w", err)
	}
	for _, s := range streams {
		if reg.Get(s.Name) != nil {
			log.Warn("stream declared in the configuration file and made in the console: the file wins", "stream", s.Name)
			continue
		}
		if _, err := reg.Add(s.Name, s.PublishKey); err != nil {
			log.Warn("cannot restore a stream", "stream", s.Name, "error", err)
			continue
		}
		if rec != nil {
			rec.SetEnabled(s.Name, !s.NoRecord)
		}
	}
	dests, err := st.ListDestinations(ctx)
	if err != nil {
		return fmt.Errorf("loading destinations: %w", err)
	}
	for _, d := range dests {
		if err := outs.Add(d.Stream, d.config()); err != nil {
			log.Warn("cannot restore a destination", "stream", d.Stream, "destination", d.Name, "error", err)
		}
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// NewKey returns a new publish key: 24 characters of base32, easy to type on a phone.
func NewKey() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

type streamCreated struct {
	Name       string      `json:"name"`
	PublishKey string      `json:"publish_key"`
	Publish    PublishURLs `json:"publish,omitempty"`
	Note       string      `json:"note"`
}

const shownOnce = "the publish key is shown this once: copy it now (rotate it to get a new one)"

func (h *Handler) createStream(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if !nameRE.MatchString(in.Name) {
		httpjson.Error(w, http.StatusBadRequest, "name: 1 to 64 lower-case letters, digits, '-' or '_', starting with a letter or digit (it is the public URL of the stream)")
		return
	}
	if h.Registry.Get(in.Name) != nil {
		httpjson.Error(w, http.StatusConflict, "a stream named "+in.Name+" exists already")
		return
	}
	s := Stream{Name: in.Name, PublishKey: NewKey(), Created: time.Now().UTC()}
	if _, err := h.Registry.Add(s.Name, s.PublishKey); err != nil {
		httpjson.Error(w, http.StatusConflict, err.Error())
		return
	}
	if h.Store != nil {
		if err := h.Store.CreateStream(r.Context(), s); err != nil {
			h.Registry.Remove(s.Name)
			httpjson.Error(w, http.StatusInternalServerError, "cannot save the stream: "+err.Error())
			return
		}
	}
	h.audit(r, "stream.create", s.Name, "")
	httpjson.Write(w, http.StatusCreated, streamCreated{Name: s.Name, PublishKey: s.PublishKey, Publish: h.urls(r, s.Name, s.PublishKey), Note: shownOnce})
}

func (h *Handler) urls(r *http.Request, name, key string) PublishURLs {
	if h.URLs == nil {
		return nil
	}
	return h.URLs(r, name, key)
}

func (h *Handler) managed(stream, dest string) bool {
	return h.Managed != nil && h.Managed(stream, dest)
}

// stream finds the stream of the path, or answers 404.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request) *relay.Stream {
	st := h.Registry.Get(r.PathValue("name"))
	if st == nil {
		httpjson.Error(w, http.StatusNotFound, "no stream named "+r.PathValue("name"))
	}
	return st
}

func (h *Handler) deleteStream(w http.ResponseWriter, r *http.Request) {
	st := h.stream(w, r)
	if st == nil {
		return
	}
	name := st.Name()
	if h.managed(name, "") {
		httpjson.Error(w, http.StatusConflict, "stream "+name+" is managed by the configuration file: remove it there")
		return
	}
	if h.Store != nil {
		if err := h.Store.DeleteStream(r.Context(), name); err != nil {
			httpjson.Error(w, http.StatusInternalServerError, "cannot delete the stream: "+err.Error())
			return
		}
	}
	for _, d := range h.Outputs.List(name) {
		_ = h.Outputs.Remove(name, d.Name)
	}
	h.Registry.Remove(name)
	h.audit(r, "stream.delete", name, "")
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) updateStream(w http.ResponseWriter, r *http.Request) {
	st := h.stream(w, r)
	if st == nil {
		return
	}
	var in struct {
		Record *bool `json:"record"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.Record == nil {
		httpjson.Error(w, http.StatusBadRequest, `nothing to change: give "record": true or false`)
		return
	}
	if h.Recorder == nil {
		httpjson.Error(w, http.StatusConflict, "recording is not available on this server")
		return
	}
	name := st.Name()
	// A stream from the configuration file is switched for this run only.
	if h.Store != nil && !h.managed(name, "") {
		if err := h.Store.SetStreamRecord(r.Context(), name, *in.Record); err != nil {
			httpjson.Error(w, http.StatusInternalServerError, "cannot save the stream: "+err.Error())
			return
		}
	}
	h.Recorder.SetEnabled(name, *in.Record)
	action := "stream.record_off"
	if *in.Record {
		action = "stream.record_on"
	}
	h.audit(r, action, name, "")
	httpjson.Write(w, http.StatusOK, map[string]any{"name": name, "record": *in.Record})
}

func (h *Handler) rotateKey(w http.ResponseWriter, r *http.Request) {
	st := h.stream(w, r)
	if st == nil {
		return
	}
	name := st.Name()
	if h.managed(name, "") {
		httpjson.Error(w, http.StatusConflict, "stream "+name+" is managed by the configuration file: change its publish_key there")
		return
	}
	key := NewKey()
	if h.Store != nil {
		if err := h.Store.SetStreamKey(r.Context(), name, key); err != nil {
			httpjson.Error(w, http.StatusInternalServerError, "cannot save the new key: "+err.Error())
			return
		}
	}
	if err := h.Registry.SetKey(name, key); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	h.audit(r, "stream.rotate_key", name, "")
	httpjson.Write(w, http.StatusOK, streamCreated{Name: name, PublishKey: key, Publish: h.urls(r, name, key),
		Note: shownOnce + "; a publisher already live goes on, its next connection needs the new key"})
}

type destinationIn struct {
	Name         string  `json:"name"`
	URL          string  `json:"url"`
	Preset       string  `json:"preset"`
	Key          string  `json:"key"`
	IngestURL    string  `json:"ingest_url"`
	Enabled      *bool   `json:"enabled"`
	AllowPrivate *bool   `json:"allow_private"`
	Shape        *string `json:"shape"`
}

// shape returns the shape asked for, by its canonical name, and whether one was given.
func (in destinationIn) shape() (string, bool, error) {
	if in.Shape == nil {
		return "", false, nil
	}
	name := strings.ToLower(strings.TrimSpace(*in.Shape))
	if name == "source" {
		name = ""
	}
	if _, err := transcode.ParseShape(name); err != nil {
		return "", true, fmt.Errorf("shape: %w", err)
	}
	return name, true, nil
}

// config is the destination as the manager takes it.
func (d Destination) config() outputs.DestinationConfig {
	return outputs.DestinationConfig{Name: d.Name, URL: d.URL, Enabled: d.Enabled, AllowPrivate: d.AllowPrivate,
		Shape: d.Shape}
}

// isAdmin reports whether the request comes from an admin.
func (h *Handler) isAdmin(r *http.Request) bool {
	if h.Admin != nil {
		return h.Admin(r)
	}
	p := auth.From(r.Context())
	return p != nil && p.User != nil && p.User.Role == auth.Admin
}

const adminOnlyPrivate = "allow_private: only an admin may let a destination reach private networks (loopback, private, link-local addresses)"

// destURL makes the destination URL from a URL or a preset and key.
func (in destinationIn) destURL(set *presets.Set) (string, *presets.Preset, error) {
	if in.Preset == "" {
		if in.URL == "" {
			return "", nil, errors.New(`give "url", or "preset" and "key"`)
		}
		if in.Key != "" || in.IngestURL != "" {
			return "", nil, errors.New(`"key" and "ingest_url" go with "preset"`)
		}
		return strings.TrimSpace(in.URL), nil, nil
	}
	p := set.Find(in.Preset)
	if p == nil {
		return "", nil, fmt.Errorf("no preset %q (GET /api/v1/presets lists them)", in.Preset)
	}
	if in.URL != "" {
		return "", nil, errors.New(`give "url", or "preset" and "key", not both`)
	}
	u, err := p.DestinationURL(in.IngestURL, in.Key)
	return u, p, err
}

func (h *Handler) addDestination(w http.ResponseWriter, r *http.Request) {
	st := h.stream(w, r)
	if st == nil {
		return
	}
	var in destinationIn
	if !httpjson.Read(w, r, &in) {
		return
	}
	u, p, err := in.destURL(h.Presets)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if in.Name == "" && p != nil {
		in.Name = p.ID
	}
	if !nameRE.MatchString(in.Name) {
		httpjson.Error(w, http.StatusBadRequest, "name: 1 to 64 lower-case letters, digits, '-' or '_'")
		return
	}
	d := Destination{Stream: st.Name(), Name: in.Name, URL: u, Enabled: in.Enabled == nil || *in.Enabled,
		AllowPrivate: in.AllowPrivate != nil && *in.AllowPrivate}
	if d.Shape, _, err = in.shape(); err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if d.AllowPrivate && !h.isAdmin(r) {
		httpjson.Error(w, http.StatusForbidden, adminOnlyPrivate)
		return
	}
	if err := h.Outputs.Add(d.Stream, d.config()); err != nil {
		h.outputsError(w, err)
		return
	}
	if h.Store != nil {
		if err := h.Store.SaveDestination(r.Context(), d); err != nil {
			_ = h.Outputs.Remove(d.Stream, d.Name)
			httpjson.Error(w, http.StatusInternalServerError, "cannot save the destination: "+err.Error())
			return
		}
	}
	detail := hostOf(d.URL)
	if d.AllowPrivate {
		detail += ", may reach private networks"
	}
	if d.Shape != "" {
		detail += ", shape " + d.Shape
	}
	h.audit(r, "destination.create", d.Stream+"/"+d.Name, detail)
	httpjson.Write(w, http.StatusCreated, h.status(d.Stream, d.Name))
}

func (h *Handler) updateDestination(w http.ResponseWriter, r *http.Request) {
	st := h.stream(w, r)
	if st == nil {
		return
	}
	stream, name := st.Name(), r.PathValue("dest")
	cur := h.status(stream, name)
	if cur == nil {
		httpjson.Error(w, http.StatusNotFound, "no destination named "+name+" on stream "+stream)
		return
	}
	var in destinationIn
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.Name != "" && in.Name != name {
		httpjson.Error(w, http.StatusBadRequest, "a destination cannot be renamed: add a new one")
		return
	}
	changeURL := in.URL != "" || in.Preset != "" || in.Key != "" || in.IngestURL != ""
	changePrivate := in.AllowPrivate != nil && *in.AllowPrivate != cur.AllowPrivate
	shape, gotShape, err := in.shape()
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	changeShape := gotShape && shape != cur.Shape
	if !gotShape {
		shape = cur.Shape
	}
	if (changeURL || changePrivate || changeShape) && h.managed(stream, name) {
		httpjson.Error(w, http.StatusConflict, "destination "+name+" is managed by the configuration file: change its URL, allow_private and shape there")
		return
	}
	allowPrivate := cur.AllowPrivate
	if in.AllowPrivate != nil {
		allowPrivate = *in.AllowPrivate
	}
	// An operator may take the opt-in away, not give it, nor point a destination that has it
	// at another address.
	if allowPrivate && (!cur.AllowPrivate || changeURL) && !h.isAdmin(r) {
		msg := adminOnlyPrivate
		if !changePrivate {
			msg = "destination " + name + " may reach private networks (an admin allowed it): only an admin may change its URL"
		}
		httpjson.Error(w, http.StatusForbidden, msg)
		return
	}
	enabled := cur.Enabled
	if in.Enabled != nil {
		enabled = *in.Enabled
	}
	if changeURL || changePrivate || changeShape {
		var u string
		if changeURL {
			var err error
			if u, _, err = in.destURL(h.Presets); err != nil {
				httpjson.Error(w, http.StatusBadRequest, err.Error())
				return
			}
		} else {
			// Only the opt-in changes: the manager makes the destination again from its
			// stored URL (it keeps no URL it would show).
			stored, ok, err := h.stored(r.Context(), stream, name)
			if err != nil || !ok {
				httpjson.Error(w, http.StatusInternalServerError, "cannot change allow_private or shape: the destination's URL is not in the database")
				return
			}
			u = stored.URL
		}
		// A new URL is a new destination under the same name: the old session ends.
		if err := h.Outputs.Remove(stream, name); err != nil {
			h.outputsError(w, err)
			return
		}
		d := Destination{Stream: stream, Name: name, URL: u, Enabled: enabled, AllowPrivate: allowPrivate, Shape: shape}
		if err := h.Outputs.Add(stream, d.config()); err != nil {
			h.outputsError(w, err)
			return
		}
		if h.Store != nil {
			if err := h.Store.SaveDestination(r.Context(), d); err != nil {
				httpjson.Error(w, http.StatusInternalServerError, "cannot save the destination: "+err.Error())
				return
			}
		}
		if changeURL {
			h.audit(r, "destination.update", stream+"/"+name, "new URL to "+hostOf(u))
		}
		if changePrivate {
			action := "destination.private_off"
			if allowPrivate {
				action = "destination.private_on"
			}
			h.audit(r, action, stream+"/"+name, hostOf(u))
		}
		if changeShape {
			h.audit(r, "destination.shape", stream+"/"+name, "shape "+cmp.Or(shape, "source"))
		}
	} else if in.Enabled != nil {
		if err := h.Outputs.SetEnabled(stream, name, enabled); err != nil {
			h.outputsError(w, err)
			return
		}
		// A destination from the configuration file is switched for this run only.
		if h.Store != nil && !h.managed(stream, name) {
			if err := h.saveEnabled(r.Context(), stream, name, enabled); err != nil {
				httpjson.Error(w, http.StatusInternalServerError, "cannot save the destination: "+err.Error())
				return
			}
		}
		action := "destination.disable"
		if enabled {
			action = "destination.enable"
		}
		h.audit(r, action, stream+"/"+name, "")
	}
	httpjson.Write(w, http.StatusOK, h.status(stream, name))
}

// saveEnabled stores a destination's switch, keeping its stored URL.
func (h *Handler) saveEnabled(ctx context.Context, stream, name string, on bool) error {
	d, ok, err := h.stored(ctx, stream, name)
	if err != nil || !ok {
		return err
	}
	d.Enabled = on
	return h.Store.SaveDestination(ctx, d)
}

// stored returns a destination as the store keeps it.
func (h *Handler) stored(ctx context.Context, stream, name string) (Destination, bool, error) {
	if h.Store == nil {
		return Destination{}, false, nil
	}
	l, err := h.Store.ListDestinations(ctx)
	if err != nil {
		return Destination{}, false, err
	}
	for _, d := range l {
		if d.Stream == stream && d.Name == name {
			return d, true, nil
		}
	}
	return Destination{}, false, nil
}

func (h *Handler) deleteDestination(w http.ResponseWriter, r *http.Request) {
	st := h.stream(w, r)
	if st == nil {
		return
	}
	stream, name := st.Name(), r.PathValue("dest")
	if h.managed(stream, name) {
		httpjson.Error(w, http.StatusConflict, "destination "+name+" is managed by the configuration file: remove it there (or switch it off)")
		return
	}
	if err := h.Outputs.Remove(stream, name); err != nil {
		h.outputsError(w, err)
		return
	}
	if h.Store != nil {
		if err := h.Store.DeleteDestination(r.Context(), stream, name); err != nil {
			httpjson.Error(w, http.StatusInternalServerError, "cannot delete the destination: "+err.Error())
			return
		}
	}
	h.audit(r, "destination.delete", stream+"/"+name, "")
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) status(stream, name string) *outputs.Status {
	for _, s := range h.Outputs.List(stream) {
		if s.Name == name {
			return &s
		}
	}
	return nil
}

func (h *Handler) outputsError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, outputs.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, err.Error())
	case errors.Is(err, outputs.ErrExists):
		httpjson.Error(w, http.StatusConflict, err.Error())
	default:
		// outputs' errors never hold the URL's key.
		httpjson.Error(w, http.StatusBadRequest, err.Error())
	}
}

func (h *Handler) audit(r *http.Request, action, target, detail string) {
	if h.Audit != nil {
		h.Audit.Audit(r, action, target, detail)
	}
	if h.Log != nil {
		h.Log.Info("operator change", "action", action, "target", target)
	}
}

// hostOf names a URL's host for the audit log, never its key.
func hostOf(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return ""
	}
	rest := raw[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	if k := strings.LastIndex(rest, "@"); k >= 0 {
		rest = rest[k+1:]
	}
	return raw[:i] + "://" + rest
}
