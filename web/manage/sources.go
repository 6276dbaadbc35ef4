package manage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/beffroi/beffroi/internal/httpjson"
	"github.com/beffroi/beffroi/relay"
)

// sourceRoutes registers the routes of a stream's backup sources (failover):
//
//	GET  /api/v1/streams/{name}/sources          the sources, the one on air, the on-air periods
//	POST /api/v1/streams/{name}/sources/switch   {"source": "phone"}: on air by hand; {"source": ""}: automatic
//	POST   /api/v1/streams/{name}/sources           {"name": "phone"}: a new backup source (console streams), its key shown once
//	DELETE /api/v1/streams/{name}/sources/{source}  remove a backup source (console streams)
func (h *Handler) sourceRoutes(mux *http.ServeMux, p func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/streams/{name}/sources", p(http.HandlerFunc(h.listSources)))
	mux.Handle("POST /api/v1/streams/{name}/sources/switch", p(http.HandlerFunc(h.switchSource)))
	mux.Handle("POST /api/v1/streams/{name}/sources", p(http.HandlerFunc(h.addSource)))
	mux.Handle("DELETE /api/v1/streams/{name}/sources/{source}", p(http.HandlerFunc(h.deleteSource)))
}

// Source is a backup source of a stream made in the console, as the store keeps it.
type Source struct {
	Stream, Name string
	PublishKey   string // secret
	Created      time.Time
}

// SourceStore keeps the backup sources of the streams made in the console (web/store).
type SourceStore interface {
	ListSources(ctx context.Context) ([]Source, error) // every stream's, by priority
	CreateSource(ctx context.Context, s Source) error  // after the stream's others
	DeleteSource(ctx context.Context, stream, name string) error
}

// LoadSources brings back, at start, the backup sources of the streams made in the console
// (a stream of the configuration file keeps the file's).
func LoadSources(ctx context.Context, st SourceStore, reg *relay.Registry, managed func(stream, dest string) bool, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	list, err := st.ListSources(ctx)
	if err != nil {
		return fmt.Errorf("loading sources: %w", err)
	}
	by := map[string][]relay.SourceSpec{}
	var order []string
	for _, s := range list {
		if _, ok := by[s.Stream]; !ok {
			order = append(order, s.Stream)
		}
		by[s.Stream] = append(by[s.Stream], relay.SourceSpec{Name: s.Name, PublishKey: s.PublishKey})
	}
	for _, name := range order {
		if reg.Get(name) == nil || managed != nil && managed(name, "") {
			continue
		}
		if err := reg.SetSources(name, relay.SourcesOptions{Backups: by[name]}); err != nil {
			log.Warn("cannot restore a stream's backup sources", "stream", name, "error", err)
		}
	}
	return nil
}

// consoleSources returns the stream of the request for a change of its backup sources, or
// nil after answering why not.
func (h *Handler) consoleSources(w http.ResponseWriter, r *http.Request) *relay.Stream {
	st := h.stream(w, r)
	switch {
	case st == nil:
		return nil
	case h.managed(st.Name(), ""):
		httpjson.Error(w, http.StatusConflict, "stream "+st.Name()+" is managed by the configuration file: declare its sources there (streams[].sources)")
		return nil
	case h.Sources == nil:
		httpjson.Error(w, http.StatusConflict, "backup sources cannot be saved on this server")
		return nil
	}
	return st
}

// setConsoleSources applies the stream's sources as the store has them now.
func (h *Handler) setConsoleSources(ctx context.Context, stream string) error {
	list, err := h.Sources.ListSources(ctx)
	if err != nil {
		return err
	}
	var backups []relay.SourceSpec
	for _, s := range list {
		if s.Stream == stream {
			backups = append(backups, relay.SourceSpec{Name: s.Name, PublishKey: s.PublishKey})
		}
	}
	return h.Registry.SetSources(stream, relay.SourcesOptions{Backups: backups})
}

func (h *Handler) addSource(w http.ResponseWriter, r *http.Request) {
	st := h.consoleSources(w, r)
	if st == nil {
		return
	}
	var in struct {
		Name string `json:"name"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if !nameRE.MatchString(in.Name) || in.Name == relay.DefaultPrimarySource {
		httpjson.Error(w, http.StatusBadRequest, `"name" must be a-z, 0-9, - and _ (up to 64 characters), not "primary"`)
		return
	}
	for _, s := range st.Sources() {
		if s.Name == in.Name {
			httpjson.Error(w, http.StatusConflict, "stream "+st.Name()+" already has a source named "+in.Name)
			return
		}
	}
	src := Source{Stream: st.Name(), Name: in.Name, PublishKey: NewKey(), Created: time.Now().UTC()}
	if err := h.Sources.CreateSource(r.Context(), src); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "cannot save the source: "+err.Error())
		return
	}
	if err := h.setConsoleSources(r.Context(), st.Name()); err != nil {
		_ = h.Sources.DeleteSource(r.Context(), src.Stream, src.Name)
		httpjson.Error(w, http.StatusConflict, err.Error())
		return
	}
	h.audit(r, "stream.source_add", st.Name(), in.Name)
	httpjson.Write(w, http.StatusCreated, streamCreated{Name: in.Name, PublishKey: src.PublishKey,
		Publish: h.urls(r, st.Name(), src.PublishKey), Note: "the source's publish key is shown this once: copy it now"})
}

func (h *Handler) deleteSource(w http.ResponseWriter, r *http.Request) {
	st := h.consoleSources(w, r)
	if st == nil {
		return
	}
	name := r.PathValue("source")
	if err := h.Sources.DeleteSource(r.Context(), st.Name(), name); err != nil {
		httpjson.Error(w, http.StatusNotFound, "stream "+st.Name()+" has no backup source named "+name)
		return
	}
	if err := h.setConsoleSources(r.Context(), st.Name()); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	h.audit(r, "stream.source_delete", st.Name(), name)
	w.WriteHeader(http.StatusNoContent)
}

// sourcesJSON is a stream's sources as the API shows them. It never holds a publish key.
type sourcesJSON struct {
	Name     string               `json:"name"`
	State    string               `json:"state"`
	OnAir    string               `json:"on_air"`         // "" when none is
	Manual   string               `json:"manual"`         // the operator's choice; "" in automatic mode
	Sources  []relay.SourceStatus `json:"sources"`        // by priority, the primary first
	Periods  []relay.OnAirPeriod  `json:"periods"`        // the live session's on-air periods
	Failover float64              `json:"failover_after"` // seconds
	Failback float64              `json:"failback_after"` // seconds
}

func sourcesOf(st *relay.Stream) sourcesJSON {
	in := st.Info()
	after, back := st.FailoverDelays()
	out := sourcesJSON{
		Name: in.Name, State: in.State.String(), OnAir: in.OnAir, Manual: in.Manual,
		Sources: in.Sources, Periods: st.OnAirPeriods(),
		Failover: after.Seconds(), Failback: back.Seconds(),
	}
	if out.Periods == nil {
		out.Periods = []relay.OnAirPeriod{}
	}
	return out
}

func (h *Handler) listSources(w http.ResponseWriter, r *http.Request) {
	if st := h.stream(w, r); st != nil {
		httpjson.Write(w, http.StatusOK, sourcesOf(st))
	}
}

// switchSource puts a source on air by hand (at its next keyframe; it holds until the
// operator picks automatic again or the source stops), or goes back to automatic.
func (h *Handler) switchSource(w http.ResponseWriter, r *http.Request) {
	st := h.stream(w, r)
	if st == nil {
		return
	}
	var in struct {
		Source *string `json:"source"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.Source == nil {
		httpjson.Error(w, http.StatusBadRequest, `give "source": the name of the source to put on air, or "" for automatic`)
		return
	}
	switch err := st.SetManualSource(*in.Source); {
	case errors.Is(err, relay.ErrNoSource):
		httpjson.Error(w, http.StatusNotFound, "stream "+st.Name()+" has no source named "+*in.Source)
		return
	case errors.Is(err, relay.ErrNotLive):
		httpjson.Error(w, http.StatusConflict, "stream "+st.Name()+" is not live")
		return
	case errors.Is(err, relay.ErrSourceNotLive):
		httpjson.Error(w, http.StatusConflict, "source "+*in.Source+" is not sending")
		return
	case err != nil:
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	detail := "automatic"
	if *in.Source != "" {
		detail = *in.Source
	}
	h.audit(r, "stream.source", st.Name(), detail)
	if *in.Source != "" {
		waitOnAir(r, st, *in.Source, 3*time.Second)
	}
	httpjson.Write(w, http.StatusOK, sourcesOf(st))
}

// waitOnAir waits until the source is on air (a switch waits for its next keyframe), for at
// most timeout: the answer then tells what is on air.
func waitOnAir(r *http.Request, st *relay.Stream, source string, timeout time.Duration) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		// The channel first, then the check: a switch in between still wakes us.
		_, changed := st.State()
		if onAir, _ := st.OnAir(); onAir == source {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			return
		case <-r.Context().Done():
			return
		}
	}
}
