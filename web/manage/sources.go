package manage

import (
	"errors"
	"net/http"
	"time"

	"github.com/beffroi/beffroi/internal/httpjson"
	"github.com/beffroi/beffroi/relay"
)

// sourceRoutes registers the routes of a stream's backup sources (failover):
//
//	GET  /api/v1/streams/{name}/sources          the sources, the one on air, the on-air periods
//	POST /api/v1/streams/{name}/sources/switch   {"source": "phone"}: on air by hand; {"source": ""}: automatic
func (h *Handler) sourceRoutes(mux *http.ServeMux, p func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/streams/{name}/sources", p(http.HandlerFunc(h.listSources)))
	mux.Handle("POST /api/v1/streams/{name}/sources/switch", p(http.HandlerFunc(h.switchSource)))
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
