package replays

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beffroi/beffroi/web/store"
)

// Limits of what operators may set.
const (
	maxTitle       = 200
	maxDescription = 5000
	maxBody        = 64 << 10
	defaultLimit   = 50
	maxLimit       = 500
)

// recordingJSON is a recording as the operator API shows it. It holds no file system path.
type recordingJSON struct {
	ID          string     `json:"id"`
	Stream      string     `json:"stream"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Started     time.Time  `json:"started"`
	Ended       *time.Time `json:"ended,omitempty"`
	Duration    float64    `json:"duration"` // seconds
	Size        int64      `json:"size"`     // bytes
	Segments    int        `json:"segments"`
	State       string     `json:"state"`
	Published   bool       `json:"published"`
	Thumbnail   bool       `json:"thumbnail"` // made already (it is made on the first request otherwise)
	URLs        urlsJSON   `json:"urls"`
	// Storage is the upload state with record.storage: s3 (absent otherwise).
	Storage *storageJSON `json:"storage,omitempty"`
}

type urlsJSON struct {
	Playlist  string `json:"playlist"`
	MP4       string `json:"mp4"`
	Thumbnail string `json:"thumbnail"`
	Page      string `json:"page"`
	Embed     string `json:"embed"`
}

func urlsOf(id string) urlsJSON {
	e := url.PathEscape(id)
	return urlsJSON{
		Playlist:  "/recordings/" + e + "/index.m3u8",
		MP4:       "/recordings/" + e + ".mp4",
		Thumbnail: "/recordings/" + e + "/thumb.jpg",
		Page:      "/replays/" + e,
		Embed:     "/embed/replays/" + e,
	}
}

func toJSON(r store.Recording) recordingJSON {
	out := recordingJSON{
		ID: r.ID, Stream: r.Stream, Title: r.Title, Description: r.Description, Started: r.Started,
		Duration: r.Duration, Size: r.Size, Segments: r.Segments, State: string(r.State),
		Published: r.Published, Thumbnail: r.Thumbnail, URLs: urlsOf(r.ID),
	}
	if !r.Ended.IsZero() {
		e := r.Ended
		out.Ended = &e
	}
	return out
}

// recordingJSON is toJSON with the upload state.
func (s *Service) recordingJSON(r store.Recording) recordingJSON {
	out := toJSON(r)
	out.Storage = s.storageOf(r.ID)
	return out
}

// parseFilter reads stream, from, to, limit and offset from the query. from and to are
// RFC 3339 times or dates (YYYY-MM-DD, UTC); a date in "to" includes that whole day.
func parseFilter(q url.Values) (store.Filter, error) {
	f := store.Filter{Stream: q.Get("stream"), Limit: defaultLimit}
	for _, k := range []string{"from", "to"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			d, derr := time.Parse(time.DateOnly, v)
			if derr != nil {
				return f, fmt.Errorf("%s: %s is neither a date (2026-11-27) nor a time (2026-11-27T20:00:00Z)", k, quote(v))
			}
			t = d
			if k == "to" {
				t = t.AddDate(0, 0, 1)
			}
		}
		if k == "from" {
			f.From = t
		} else {
			f.To = t
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, errors.New("to must be after from")
	}
	for _, p := range []struct {
		key      string
		dst      *int
		min, max int
	}{{"limit", &f.Limit, 1, maxLimit}, {"offset", &f.Offset, 0, 1 << 30}} {
		v := q.Get(p.key)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < p.min || n > p.max {
			return f, fmt.Errorf("%s: %s is not a whole number from %d to %d", p.key, quote(v), p.min, p.max)
		}
		*p.dst = n
	}
	return f, nil
}

// page is the paging part of a list answer.
type page struct {
	Total      int  `json:"total"`
	Limit      int  `json:"limit"`
	Offset     int  `json:"offset"`
	NextOffset *int `json:"next_offset,omitempty"` // absent on the last page
}

func pageOf(f store.Filter, n, total int) page {
	p := page{Total: total, Limit: f.Limit, Offset: f.Offset}
	if next := f.Offset + n; n > 0 && next < total {
		p.NextOffset = &next
	}
	return p
}

// list: GET /api/v1/recordings?stream=&from=&to=&limit=&offset=, newest first.
func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	recs, total, err := s.Store.List(r.Context(), f)
	if err != nil {
		s.log().Error("recordings: listing the catalogue", "error", err)
		writeError(w, http.StatusInternalServerError, "the recordings catalogue cannot be read; see the server log")
		return
	}
	list := make([]recordingJSON, 0, len(recs))
	for _, rec := range recs {
		list = append(list, s.recordingJSON(rec))
	}
	writeJSON(w, http.StatusOK, struct {
		Recordings []recordingJSON `json:"recordings"`
		page
	}{list, pageOf(f, len(list), total)})
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.lookup(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.recordingJSON(rec))
}

// patchJSON is what PATCH accepts; absent fields are left as they are.
type patchJSON struct {
	Title       *string `json:"title"`
	Description *string `json:"description"`
	Published   *bool   `json:"published"`
}

func (s *Service) patch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := s.lookup(w, r, id); !ok {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "send the changes as JSON (Content-Type: application/json)")
		return
	}
	var p patchJSON
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		writeError(w, http.StatusBadRequest, "request body: "+jsonProblem(err)+
			` (expected {"title": "...", "description": "...", "published": true})`)
		return
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		writeError(w, http.StatusBadRequest, "request body: one JSON object expected")
		return
	}
	if p.Title == nil && p.Description == nil && p.Published == nil {
		writeError(w, http.StatusBadRequest, "nothing to change: set title, description or published")
		return
	}
	for _, c := range []struct {
		name string
		v    *string
		max  int
	}{{"title", p.Title, maxTitle}, {"description", p.Description, maxDescription}} {
		if c.v == nil {
			continue
		}
		*c.v = strings.TrimSpace(*c.v)
		if n := utf8.RuneCountInString(*c.v); n > c.max {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: %d characters, at most %d", c.name, n, c.max))
			return
		}
		if !utf8.ValidString(*c.v) || strings.ContainsFunc(*c.v, isControl) {
			writeError(w, http.StatusBadRequest, c.name+": control characters are not allowed")
			return
		}
	}
	rec, err := s.Store.Update(r.Context(), id, store.Patch{Title: p.Title, Description: p.Description, Published: p.Published})
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "recording not found: "+id)
		return
	}
	if err != nil {
		s.log().Error("recordings: updating the catalogue", "recording", id, "error", err)
		writeError(w, http.StatusInternalServerError, "the change could not be saved; see the server log")
		return
	}
	if p.Published != nil {
		s.log().Info("recording "+map[bool]string{true: "published", false: "unpublished"}[*p.Published], "recording", id)
	}
	if s.Audit != nil {
		var what []string
		if p.Title != nil || p.Description != nil {
			what = append(what, "title/description")
		}
		if p.Published != nil {
			what = append(what, map[bool]string{true: "published", false: "unpublished"}[*p.Published])
		}
		s.Audit.Audit(r, "recording.update", id, strings.Join(what, ", "))
	}
	writeJSON(w, http.StatusOK, s.recordingJSON(rec))
}

// isControl refuses control characters except newlines and tabs (descriptions have
// paragraphs).
func isControl(r rune) bool {
	return r < 0x20 && r != '\n' && r != '\t' && r != '\r' || r == 0x7f
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var me *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		return fmt.Sprintf("%s must be a %s", te.Field, te.Type)
	case errors.As(err, &me):
		return fmt.Sprintf("larger than %d bytes", me.Limit)
	case errors.Is(err, io.EOF):
		return "empty"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "invalid JSON"
}

func (s *Service) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := s.lookup(w, r, id); !ok {
		return
	}
	rec, err := s.remove(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "recording not found: "+id)
		return
	case errors.Is(err, store.ErrInProgress):
		writeError(w, http.StatusConflict, fmt.Sprintf("recording %s is still being written (%s): it can be deleted once its stream has ended", quote(id), rec.State))
		return
	case err != nil:
		s.log().Error("recordings: deleting", "recording", id, "error", err)
		writeError(w, http.StatusInternalServerError, "the recording was removed from the catalogue but its files could not all be deleted; see the server log")
		return
	}
	s.log().Info("recording deleted", "recording", id, "stream", rec.Stream, "size", rec.Size)
	if s.Audit != nil {
		s.Audit.Audit(r, "recording.delete", id, "")
	}
	w.WriteHeader(http.StatusNoContent)
}

// replayJSON is a published recording in the public feed.
type replayJSON struct {
	ID          string    `json:"id"`
	Stream      string    `json:"stream"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Started     time.Time `json:"started"`
	Duration    float64   `json:"duration"`
	URLs        urlsJSON  `json:"urls"`
}

// feed: GET /api/v1/public/replays, the published recordings for the town's website.
func (s *Service) feed(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f.PublishedOnly = true
	recs, total, err := s.Store.List(r.Context(), f)
	if err != nil {
		s.log().Error("replays: listing the catalogue", "error", err)
		writeError(w, http.StatusInternalServerError, "the replays cannot be listed right now")
		return
	}
	list := make([]replayJSON, 0, len(recs))
	for _, rec := range recs {
		list = append(list, replayJSON{ID: rec.ID, Stream: rec.Stream, Title: displayTitle(rec, "en"),
			Description: rec.Description, Started: rec.Started, Duration: rec.Duration, URLs: urlsOf(rec.ID)})
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, struct {
		Replays []replayJSON `json:"replays"`
		page
	}{list, pageOf(f, len(list), total)})
}
