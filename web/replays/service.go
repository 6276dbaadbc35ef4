package replays

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/beffroi/beffroi/internal/httpjson"
	"github.com/beffroi/beffroi/web/store"
)

// Service serves recordings and replays. Set its fields, then Mount it; Run sweeps old
// recordings away.
type Service struct {
	Store *store.Store
	// FFmpeg makes the thumbnails; default "ffmpeg".
	FFmpeg string
	// Retention says which recordings the sweep deletes; the zero value deletes nothing.
	Retention Policy
	// SweepEvery is the time between two retention sweeps; default 10 minutes.
	SweepEvery time.Duration
	Logger     *slog.Logger
	// Now replaces time.Now in tests.
	Now func() time.Time
	// Audit, when set, records who changed or deleted a recording (auth.Service does).
	Audit interface {
		Audit(r *http.Request, action, target, detail string)
	}
	// PublicURL is the base URL the public reaches Beffroi by (http.public_url): the embed
	// code and canonical link of the replay pages. Empty: the pages are the same whatever
	// the Host (they are publicly cacheable), and the player page's script completes the
	// embed code with the address the browser used.
	PublicURL string
	// Removed, when set, hears of every recording deleted (by an operator or the retention
	// sweep) once its row is gone: the story clips (web/clips) go with it.
	Removed func(id string)

	// Objects, when set (record.storage: s3), is where recordings go once written: the
	// files no longer on the disk are served from it, the MP4 and thumbnails made are
	// uploaded to it, and deleting a recording deletes its objects first.
	Objects Objects
	// Presign answers requests for files only in Objects with a redirect to a presigned
	// URL (record.s3.presign) instead of streaming them.
	Presign bool

	operator func(http.Handler) http.Handler
	mu       sync.Mutex
	builds   map[string]*build  // MP4s and thumbnails being made, by file path
	base     context.Context    // builds run under it; Run cancels it when it returns
	running  sync.WaitGroup     // the builds
	ffmpegs  chan struct{}      // bounds the thumbnails made at once
	noThumb  map[string]bool    // recordings whose thumbnail failed: not retried by the sweep
	pages    *template.Template // the public pages (ui/*.html), parsed by Mount
	pagesErr error              // why they did not parse (embedded: never, the tests see to it)
}

// Mount adds every route to mux. operator guards the operator routes (the recordings API,
// unpublished replay files); nil lets every request through, until the console brings
// accounts.
func (s *Service) Mount(mux *http.ServeMux, operator func(http.Handler) http.Handler) {
	s.operator = operator
	s.pages, s.pagesErr = parsePages()
	op := func(h http.HandlerFunc) http.Handler {
		if operator == nil {
			return h
		}
		return operator(h)
	}
	mux.Handle("GET /api/v1/recordings", op(s.list))
	mux.Handle("GET /api/v1/recordings/{id}", op(s.get))
	mux.Handle("PATCH /api/v1/recordings/{id}", op(s.patch))
	mux.Handle("DELETE /api/v1/recordings/{id}", op(s.delete))
	mux.HandleFunc("GET /api/v1/public/replays", s.feed)
	mux.HandleFunc("GET /recordings/{name}", s.mp4)
	mux.HandleFunc("GET /recordings/{id}/{file}", s.file)
	mux.HandleFunc("GET /replays", s.listPage)
	mux.HandleFunc("GET /replays/{id}", s.playerPage)
	mux.HandleFunc("GET /embed/replays/{id}", s.embedPage)
	mux.HandleFunc("GET /replays/assets/{file}", s.asset)
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// idRE is what a recording ID may be: it is a directory name and a URL path segment.
var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func validID(id string) bool { return idRE.MatchString(id) && !containsDotDot(id) }

func containsDotDot(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && s[i+1] == '.' {
			return true
		}
	}
	return false
}

// lookup finds a recording for a public or operator route, answering 400 or 404 itself.
func (s *Service) lookup(w http.ResponseWriter, r *http.Request, id string) (store.Recording, bool) {
	if !validID(id) {
		writeError(w, http.StatusBadRequest, "invalid recording id "+quote(id)+": use letters, digits, '.', '-' and '_'")
		return store.Recording{}, false
	}
	rec, err := s.Store.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "recording not found: "+id)
		return rec, false
	}
	if err != nil {
		s.log().Error("recordings: reading the catalogue", "recording", id, "error", err)
		writeError(w, http.StatusInternalServerError, "the recordings catalogue cannot be read; see the server log")
		return rec, false
	}
	return rec, true
}

// asOperator runs serve when the Operator middleware lets r through, and answers 404 (the
// answer for a recording that does not exist) when it does not: an unpublished recording
// is invisible to the public, not forbidden.
func (s *Service) asOperator(w http.ResponseWriter, r *http.Request, id string, serve http.HandlerFunc) {
	if s.operator == nil {
		serve(w, r)
		return
	}
	passed := false
	gate := &discard{h: http.Header{}}
	s.operator(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		passed = true
		serve(w, r)
	})).ServeHTTP(gate, r)
	if !passed {
		writeError(w, http.StatusNotFound, "recording not found: "+id)
	}
}

// discard is the ResponseWriter the Operator middleware answers a refused request to.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// remove deletes a recording: its row, then its directory. It refuses a recording in
// progress with store.ErrInProgress.
func (s *Service) remove(ctx context.Context, id string) (store.Recording, error) {
	if rec, err := s.removeObjects(ctx, id); err != nil {
		return rec, err
	}
	rec, err := s.Store.Delete(ctx, id)
	if err != nil {
		return rec, err
	}
	if s.Removed != nil {
		s.Removed(rec.ID)
	}
	// The directory is the recorder's <root>/<id>: refuse anything else rather than
	// remove a tree the catalogue should not point at.
	if rec.Dir == "" || filepath.Base(filepath.Clean(rec.Dir)) != rec.ID {
		return rec, errors.New("recording " + quote(id) + ": its directory " + quote(rec.Dir) + " is not <recordings>/" + id + "; files left in place")
	}
	if err := os.RemoveAll(rec.Dir); err != nil {
		return rec, err
	}
	return rec, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) { httpjson.Write(w, code, v) }

func writeError(w http.ResponseWriter, code int, msg string) { httpjson.Error(w, code, msg) }

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}
