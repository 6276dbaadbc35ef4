package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/beffroi/beffroi/outputs/platforms"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/web/report"
	"github.com/beffroi/beffroi/web/store"
)

// This file serves the event reports (per live session: JSON, CSV, the SVG chart, the
// printable page, the list of past events) and the destinations' platform credentials, whose
// viewer counts the audience adds up.

// EventStore is what the reports need of the database (web/store.Store): the past events
// and the recordings made during one.
type EventStore interface {
	AudienceEvents(ctx context.Context, stream string, limit int) ([]store.EventSummary, error)
	AudienceEvent(ctx context.Context, stream, id string) (audience.EventSnapshot, bool, error)
	List(ctx context.Context, f store.Filter) ([]store.Recording, int, error)
}

// PlatformStore keeps the destinations' platform credentials (web/store.Store).
type PlatformStore interface {
	SavePlatform(ctx context.Context, stream, dest string, c platforms.Credentials) error
	DeletePlatform(ctx context.Context, stream, dest string) (bool, error)
}

// Auditor records an operator's change in the audit log (auth.Service).
type Auditor interface {
	Audit(r *http.Request, action, target, detail string)
}

// PlatformCounts groups what the platform viewer counts need (a nil Poller: not served).
type PlatformCounts struct {
	// Poller reads the counts and says each destination's state.
	Poller *platforms.Poller
	// Store keeps the credentials.
	Store PlatformStore
	// Audit records who set or removed credentials (never the credentials).
	Audit Auditor
}

// mountReports registers the report and platform routes.
func (s *Server) mountReports(mux *http.ServeMux, op func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/streams/{name}/events", op(http.HandlerFunc(s.getEvents)))
	mux.Handle("GET /api/v1/streams/{name}/report.svg", op(http.HandlerFunc(s.getReportChart)))
	mux.Handle("GET /report/{name}", op(http.HandlerFunc(s.getReportPage)))
	mux.Handle("GET /api/v1/streams/{name}/platforms", op(s.platformRoute(s.getPlatforms)))
	mux.Handle("PUT /api/v1/streams/{name}/destinations/{dest}/platform", op(s.platformRoute(s.putPlatform)))
	mux.Handle("DELETE /api/v1/streams/{name}/destinations/{dest}/platform", op(s.platformRoute(s.deletePlatform)))
}

// platformRoute answers 503 when the platform counts are not wired (the API alone).
func (s *Server) platformRoute(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.o.Platforms.Poller == nil || s.o.Platforms.Store == nil {
			writeError(w, http.StatusServiceUnavailable, "platform viewer counts are not available on this server")
			return
		}
		h(w, r)
	})
}

// errNoEvent is a report asked for an event the stream never had.
var errNoEvent = errors.New("no such event")

// buildReport makes the report of stream's event id ("" or the counter's own: the current
// or last event, live; another: from the history).
func (s *Server) buildReport(ctx context.Context, name, id string) (report.Report, error) {
	snap := s.o.Audience.Snapshot(name)
	var dests []report.Destination
	if id != "" && id != snap.Event {
		if s.o.Events == nil {
			return report.Report{}, errNoEvent
		}
		e, ok, err := s.o.Events.AudienceEvent(ctx, name, id)
		if err != nil {
			return report.Report{}, err
		}
		if !ok {
			return report.Report{}, errNoEvent
		}
		snap = pastSnapshot(e)
	} else if s.o.Destinations != nil {
		// The counter may not follow the destinations (tests of the API alone): then the
		// manager's figures since start stand in.
		dests = []report.Destination{}
		for _, d := range s.o.Destinations.List(name) {
			dests = append(dests, report.Destination{Name: d.Name, Protocol: d.Protocol, Host: d.Host, State: string(d.State),
				Uptime: d.Uptime, Reconnects: d.Reconnects})
		}
	}
	of := map[string]string{}
	if s.o.Platforms.Poller != nil {
		for _, st := range s.o.Platforms.Poller.Status(name) {
			of[st.Destination] = st.Platform
		}
	}
	in := report.Input{Stream: name, Snap: snap, PlatformOf: of, Destinations: dests, Now: time.Now()}
	if s.o.Events != nil && !snap.Start.IsZero() {
		end := snap.End
		if end.IsZero() {
			end = in.Now
		}
		// A recording starts with the event, a little after the stream went live.
		recs, _, err := s.o.Events.List(ctx, store.Filter{Stream: name, From: snap.Start.Add(-time.Minute), To: end.Add(time.Second)})
		if err != nil {
			return report.Report{}, err
		}
		for i := len(recs) - 1; i >= 0; i-- { // oldest first
			rc := recs[i]
			in.Recordings = append(in.Recordings, report.Recording{ID: rc.ID, Title: rc.Title, Start: rc.Started, Duration: rc.Duration,
				URL: "/recordings/" + url.PathEscape(rc.ID) + ".mp4", Console: "/#/recordings"})
		}
	}
	return report.Build(in), nil
}

// pastSnapshot is a past event's figures as a counter's snapshot shows them.
func pastSnapshot(e audience.EventSnapshot) audience.Snapshot {
	n, err := audience.DistinctCount(e.Distinct)
	if err != nil {
		n = 0 // an unreadable set: the exact sessions only
	}
	return audience.Snapshot{Event: e.ID, Peak: e.Peak, Distinct: n + e.DistinctExact, WatchTime: e.Watched,
		Start: e.Start, End: e.End, Series: e.Series, Outputs: e.Outputs, Periods: e.Periods}
}

// reportOf answers the report routes' common part: the stream, the event, or an error.
func (s *Server) reportOf(w http.ResponseWriter, r *http.Request) (report.Report, bool) {
	name := r.PathValue("name")
	if s.o.Registry.Get(name) == nil {
		writeError(w, http.StatusNotFound, "stream not found: "+name)
		return report.Report{}, false
	}
	id := r.URL.Query().Get("event")
	rep, err := s.buildReport(r.Context(), name, id)
	switch {
	case errors.Is(err, errNoEvent):
		writeError(w, http.StatusNotFound, "stream "+name+" has no event "+strconv.Quote(id)+" (GET /api/v1/streams/"+name+"/events lists them)")
		return rep, false
	case err != nil:
		writeError(w, http.StatusInternalServerError, "report: "+err.Error())
		return rep, false
	}
	return rep, true
}

func (s *Server) getReport(w http.ResponseWriter, r *http.Request) {
	rep, ok := s.reportOf(w, r)
	if !ok {
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" && strings.Contains(r.Header.Get("Accept"), "text/csv") {
		format = "csv"
	}
	switch format {
	case "", "json":
		writeJSON(w, http.StatusOK, rep)
	case "csv":
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="`+rep.Stream+`-report.csv"`)
		h.Set("Cache-Control", "no-store")
		_ = report.WriteCSV(w, rep)
	default:
		writeError(w, http.StatusBadRequest, "format must be json or csv")
	}
}

// reportLang is the page's language: ?lang=fr|en, else the browser's first choice.
func reportLang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "fr" || l == "en" {
		return l
	}
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(r.Header.Get("Accept-Language"))), "fr") {
		return "fr"
	}
	return "en"
}

// reportZone is the zone the page shows times in: ?tz=Europe/Paris, else the server's.
func reportZone(r *http.Request) (*time.Location, error) {
	tz := r.URL.Query().Get("tz")
	if tz == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, errors.New("tz: " + strconv.Quote(tz) + " is not a time zone like Europe/Paris")
	}
	return loc, nil
}

// reportCSP: the page has its style inline and nothing else to load.
const reportCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"

func (s *Server) getReportChart(w http.ResponseWriter, r *http.Request) {
	loc, err := reportZone(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rep, ok := s.reportOf(w, r)
	if !ok {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", reportCSP)
	_, _ = w.Write(report.Chart(rep, loc, report.Lang(reportLang(r))))
}

func (s *Server) getReportPage(w http.ResponseWriter, r *http.Request) {
	loc, err := reportZone(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rep, ok := s.reportOf(w, r)
	if !ok {
		return
	}
	lang := reportLang(r)
	q := url.Values{}
	if rep.Event != "" {
		q.Set("event", rep.Event)
	}
	api := "/api/v1/streams/" + url.PathEscape(rep.Stream) + "/report?" + q.Encode()
	other, otherName := "en", "English"
	if lang == "en" {
		other, otherName = "fr", "Français"
	}
	q.Set("lang", other)
	if tz := r.URL.Query().Get("tz"); tz != "" {
		q.Set("tz", tz)
	}
	var b bytes.Buffer
	if err := report.WritePage(&b, rep, report.Lang(lang), loc, report.PageLinks{JSON: api + "&format=json", CSV: api + "&format=csv",
		Other: "/report/" + url.PathEscape(rep.Stream) + "?" + q.Encode(), OtherLang: otherName}); err != nil {
		writeError(w, http.StatusInternalServerError, "report page: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", reportCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(b.Bytes())
}

// getEvents lists a stream's events, newest first (?limit, default 50).
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if s.o.Registry.Get(name) == nil {
		writeError(w, http.StatusNotFound, "stream not found: "+name)
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to 1000")
			return
		}
		limit = n
	}
	list := []store.EventSummary{}
	if s.o.Events != nil {
		var err error
		if list, err = s.o.Events.AudienceEvents(r.Context(), name, limit); err != nil {
			writeError(w, http.StatusInternalServerError, "events: "+err.Error())
			return
		}
	}
	// The counter's own event, live, before its first write.
	if a := s.o.Audience.Snapshot(name); a.Event != "" && (len(list) == 0 || list[0].ID != a.Event) {
		list = append([]store.EventSummary{{ID: a.Event, Start: a.Start, End: timePtr(a.End), Peak: a.Peak.Total}}, list...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"stream": name, "events": list})
}

// hasDestination reports whether stream has a destination named dest.
func (s *Server) hasDestination(stream, dest string) bool {
	if s.o.Destinations == nil {
		return false
	}
	for _, d := range s.o.Destinations.List(stream) {
		if d.Name == dest {
			return true
		}
	}
	return false
}

func (s *Server) getPlatforms(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if s.o.Registry.Get(name) == nil {
		writeError(w, http.StatusNotFound, "stream not found: "+name)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stream": name, "platforms": s.o.Platforms.Poller.Status(name)})
}

// putPlatform sets a destination's platform credentials. They are write-only: the answer,
// like every later one, says only "set".
func (s *Server) putPlatform(w http.ResponseWriter, r *http.Request) {
	name, dest := r.PathValue("name"), r.PathValue("dest")
	if s.o.Registry.Get(name) == nil || !s.hasDestination(name, dest) {
		writeError(w, http.StatusNotFound, "destination not found: "+name+"/"+dest)
		return
	}
	var c platforms.Credentials
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		writeError(w, http.StatusBadRequest, `platform credentials: the body must be JSON like {"platform":"youtube","id":"<video id>","api_key":"..."} (fields: platform, id, api_key, token, client_id)`)
		return
	}
	c.Platform = strings.ToLower(strings.TrimSpace(c.Platform))
	c.ID = strings.TrimSpace(c.ID)
	if err := c.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, "platform credentials: "+err.Error())
		return
	}
	if err := s.o.Platforms.Store.SavePlatform(r.Context(), name, dest, c); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.o.Platforms.Poller.Set(platforms.Target{Stream: name, Destination: dest, Credentials: c})
	if s.o.Platforms.Audit != nil {
		s.o.Platforms.Audit.Audit(r, "destination.platform.set", name+"/"+dest, c.Platform+" "+c.ID)
	}
	for _, st := range s.o.Platforms.Poller.Status(name) {
		if st.Destination == dest {
			writeJSON(w, http.StatusOK, st)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deletePlatform(w http.ResponseWriter, r *http.Request) {
	name, dest := r.PathValue("name"), r.PathValue("dest")
	if s.o.Registry.Get(name) == nil {
		writeError(w, http.StatusNotFound, "stream not found: "+name)
		return
	}
	ok, err := s.o.Platforms.Store.DeletePlatform(r.Context(), name, dest)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.o.Platforms.Poller.Remove(name, dest)
	if !ok {
		writeError(w, http.StatusNotFound, "no platform credentials for "+name+"/"+dest)
		return
	}
	if s.o.Platforms.Audit != nil {
		s.o.Platforms.Audit.Audit(r, "destination.platform.delete", name+"/"+dest, "")
	}
	w.WriteHeader(http.StatusNoContent)
}
