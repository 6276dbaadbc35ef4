package replays_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/recordingtest"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/web"
	"github.com/beffroi/beffroi/web/replays"
	"github.com/beffroi/beffroi/web/store"
)

// fixture is a finished 8 s recording made once and copied for every test that needs files.
var fixture struct {
	once sync.Once
	dir  string
	in   record.Info
}

func recording(t *testing.T, root, id, stream string, started time.Time, state record.State) record.Info {
	t.Helper()
	recordingtest.RequireTools(t, "ffmpeg", "ffprobe")
	fixture.once.Do(func() {
		dir, err := os.MkdirTemp("", "beffroi-replays-")
		if err != nil {
			t.Fatal(err)
		}
		fixture.dir = dir
		fixture.in = recordingtest.MakeRecording(t, dir, record.Info{ID: "template", Stream: "main"},
			recordingtest.RecordingPart{Size: "640x360", Seconds: 8})
	})
	dst := filepath.Join(root, id)
	if err := os.CopyFS(dst, os.DirFS(fixture.in.Dir)); err != nil {
		t.Fatal(err)
	}
	in := fixture.in
	in.ID, in.Stream, in.Started, in.State, in.Dir = id, stream, started, state, dst
	in.Ended = started.Add(time.Duration(in.Duration * float64(time.Second)))
	if state == record.Recording {
		in.Ended = time.Time{}
	}
	if err := record.WriteInfo(in); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// operatorHeader stands in for the console's accounts: requests carrying it are operators.
const operatorHeader = "X-Test-Operator"

func operatorOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(operatorHeader) != "yes" {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, `{"error":"log in first"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type env struct {
	t     *testing.T
	url   string
	store *store.Store
	svc   *replays.Service
	logs  *testutil.LogBuffer
	root  string
}

func newEnv(t *testing.T, operator func(http.Handler) http.Handler) *env {
	t.Helper()
	logs := &testutil.LogBuffer{}
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), store.FileName), store.Options{Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := &replays.Service{Store: st, Logger: logs.Logger()}
	srv := web.New(web.Options{Registry: relay.NewRegistry(relay.RegistryOptions{}), Replays: svc, Operator: operator})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{t: t, url: hs.URL, store: st, svc: svc, logs: logs, root: t.TempDir()}
}

type response struct {
	code int
	h    http.Header
	body []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
}

func (r response) errorMessage(t *testing.T) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	r.json(t, &e)
	if e.Error == "" {
		t.Fatalf("no error message in %q", r.body)
	}
	return e.Error
}

func (e *env) do(method, path, body string, hdr ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

type listJSON struct {
	Recordings []struct {
		ID        string `json:"id"`
		Stream    string `json:"stream"`
		Title     string `json:"title"`
		State     string `json:"state"`
		Published bool   `json:"published"`
		URLs      struct {
			MP4 string `json:"mp4"`
		} `json:"urls"`
	} `json:"recordings"`
	Total      int  `json:"total"`
	NextOffset *int `json:"next_offset"`
}

func TestAPIListFiltersAndPages(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	day := time.Date(2026, 10, 1, 19, 0, 0, 0, time.UTC)
	for i := range 7 {
		stream := []string{"main", "council"}[i%2]
		in := record.Info{ID: fmt.Sprintf("%s-%d", stream, i), Stream: stream, Started: day.AddDate(0, 0, i),
			Ended: day.AddDate(0, 0, i).Add(time.Hour), Duration: 3600, State: record.Finished, Dir: "/srv/secret-path/" + fmt.Sprint(i)}
		if err := e.store.Upsert(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	r := e.do("GET", "/api/v1/recordings", "")
	var l listJSON
	r.json(t, &l)
	if r.code != 200 || l.Total != 7 || len(l.Recordings) != 7 || l.Recordings[0].ID != "main-6" || l.Recordings[6].ID != "main-0" {
		t.Fatalf("list: %d %s", r.code, r.body)
	}
	if bytes.Contains(r.body, []byte("secret-path")) || bytes.Contains(r.body, []byte(`"dir"`)) {
		t.Fatalf("the API shows a file system path: %s", r.body)
	}
	if l.Recordings[0].URLs.MP4 != "/recordings/main-6.mp4" {
		t.Fatalf("urls: %+v", l.Recordings[0].URLs)
	}

	l = listJSON{}
	e.do("GET", "/api/v1/recordings?stream=council", "").json(t, &l)
	if l.Total != 3 || l.Recordings[0].ID != "council-5" {
		t.Fatalf("stream filter: %+v", l)
	}
	l = listJSON{}
	e.do("GET", "/api/v1/recordings?from=2026-10-02&to=2026-10-04", "").json(t, &l)
	if l.Total != 3 || l.Recordings[0].ID != "council-3" || l.Recordings[2].ID != "council-1" {
		t.Fatalf("date filter (to includes its day): %+v", l)
	}
	l = listJSON{}
	e.do("GET", "/api/v1/recordings?from=2026-10-03T00:00:00Z", "").json(t, &l)
	if l.Total != 5 {
		t.Fatalf("from a time: %+v", l)
	}

	var ids []string
	path := "/api/v1/recordings?limit=3"
	for range 5 {
		var p listJSON
		e.do("GET", path, "").json(t, &p)
		for _, rec := range p.Recordings {
			ids = append(ids, rec.ID)
		}
		if p.NextOffset == nil {
			break
		}
		path = fmt.Sprintf("/api/v1/recordings?limit=3&offset=%d", *p.NextOffset)
	}
	if strings.Join(ids, ",") != "main-6,council-5,main-4,council-3,main-2,council-1,main-0" {
		t.Fatalf("pages: %v", ids)
	}

	for q, want := range map[string]string{
		"limit=0":                       "limit",
		"limit=abc":                     "limit",
		"offset=-1":                     "offset",
		"from=yesterday":                "from",
		"from=2026-10-05&to=2026-10-01": "to must be after from",
	} {
		r := e.do("GET", "/api/v1/recordings?"+q, "")
		if msg := r.errorMessage(t); r.code != 400 || !strings.Contains(msg, want) {
			t.Errorf("?%s: %d %q", q, r.code, msg)
		}
	}
}

func TestAPIGetPatchDelete(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	done := recording(t, e.root, "main-done", "main", now.Add(-2*time.Hour), record.Finished)
	live := recording(t, e.root, "main-live", "main", now, record.Recording)
	for _, in := range []record.Info{done, live} {
		e.store.Recorded(in)
	}

	r := e.do("GET", "/api/v1/recordings/main-done", "")
	var got struct {
		ID, Title, State string
		Published        bool
		Duration         float64
	}
	r.json(t, &got)
	if r.code != 200 || got.ID != "main-done" || got.State != "finished" || got.Duration < 7 {
		t.Fatalf("get: %d %s", r.code, r.body)
	}
	if msg := e.do("GET", "/api/v1/recordings/nope", "").errorMessage(t); !strings.Contains(msg, "not found") {
		t.Fatalf("unknown id: %q", msg)
	}
	for _, bad := range []string{"..%2F..%2Fetc", "a%20b", "..", "-x"} {
		r := e.do("GET", "/api/v1/recordings/"+bad, "")
		if r.code != 400 && r.code != 404 {
			t.Errorf("id %q: %d %s", bad, r.code, r.body)
		}
	}
	if r := e.do("GET", "/api/v1/recordings/..%2F..%2Fetc", ""); r.code != 400 || !strings.Contains(r.errorMessage(t), "invalid recording id") {
		t.Fatalf("traversal: %d %s", r.code, r.body)
	}

	r = e.do("PATCH", "/api/v1/recordings/main-done", `{"title":"  Concert du 14 juillet ","description":"Place des Héros","published":true}`)
	r.json(t, &got)
	if r.code != 200 || got.Title != "Concert du 14 juillet" || !got.Published {
		t.Fatalf("patch: %d %s", r.code, r.body)
	}
	for body, want := range map[string]string{
		`{"title":`:           "invalid JSON",
		`{"titel":"x"}`:       "unknown field",
		`{"published":"yes"}`: "published must be a bool",
		`{}`:                  "nothing to change",
		`{"title":"` + strings.Repeat("x", 201) + `"}`: "at most 200",
		`{"title":"a"} {"title":"b"}`:                  "one JSON object",
		`[1]`:                                          "must be a",
	} {
		r := e.do("PATCH", "/api/v1/recordings/main-done", body)
		if msg := r.errorMessage(t); r.code != 400 || !strings.Contains(msg, want) {
			t.Errorf("PATCH %.40s: %d %q, want %q", body, r.code, msg, want)
		}
	}
	if rec, _ := e.store.Get(ctx, "main-done"); rec.Title != "Concert du 14 juillet" || !rec.Published {
		t.Fatalf("a bad PATCH changed the recording: %+v", rec)
	}
	// The recorder's later updates keep what the operator set.
	done.Size++
	e.store.Recorded(done)
	if rec, _ := e.store.Get(ctx, "main-done"); rec.Title != "Concert du 14 juillet" || !rec.Published || rec.Size != done.Size {
		t.Fatalf("after Recorded: %+v", rec)
	}

	r = e.do("DELETE", "/api/v1/recordings/main-live", "")
	if msg := r.errorMessage(t); r.code != 409 || !strings.Contains(msg, "still being written") {
		t.Fatalf("delete in progress: %d %q", r.code, msg)
	}
	if _, err := os.Stat(live.Dir); err != nil {
		t.Fatalf("the recording in progress lost its files: %v", err)
	}
	if r := e.do("DELETE", "/api/v1/recordings/main-done", ""); r.code != 204 {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	if _, err := os.Stat(done.Dir); !os.IsNotExist(err) {
		t.Fatalf("files left after delete: %v", err)
	}
	if r := e.do("GET", "/api/v1/recordings/main-done", ""); r.code != 404 {
		t.Fatalf("after delete: %d", r.code)
	}
	if r := e.do("DELETE", "/api/v1/recordings/main-done", ""); r.code != 404 {
		t.Fatalf("delete twice: %d", r.code)
	}
	if r := e.do("GET", "/api/v1/recordings", ""); !bytes.Contains(r.body, []byte("main-live")) {
		t.Fatalf("the other recording went too: %s", r.body)
	}
}

func TestUnpublishedIsInvisibleToThePublic(t *testing.T) {
	e := newEnv(t, operatorOnly)
	now := time.Now().UTC()
	for _, id := range []string{"hidden", "shown"} {
		e.store.Recorded(recording(t, e.root, id, "main", now.Add(-time.Hour), record.Finished))
	}
	pub := true
	if _, err := e.store.Update(context.Background(), "shown", store.Patch{Published: &pub}); err != nil {
		t.Fatal(err)
	}
	op := []string{operatorHeader, "yes"}

	// The operator API asks the Operator middleware.
	if r := e.do("GET", "/api/v1/recordings", ""); r.code != 401 {
		t.Fatalf("API without an operator: %d", r.code)
	}
	if r := e.do("DELETE", "/api/v1/recordings/shown", ""); r.code != 401 {
		t.Fatalf("DELETE without an operator: %d", r.code)
	}
	if r := e.do("GET", "/api/v1/recordings", "", op...); r.code != 200 {
		t.Fatalf("API as operator: %d", r.code)
	}

	for _, path := range []string{
		"/recordings/hidden/index.m3u8", "/recordings/hidden/init-0.mp4", "/recordings/hidden/seg-0.m4s",
		"/recordings/hidden.mp4", "/recordings/hidden/thumb.jpg",
		"/replays/hidden", "/embed/replays/hidden",
	} {
		r := e.do("GET", path, "")
		if r.code != 404 {
			t.Errorf("public GET %s: %d, want 404", path, r.code)
		}
		if bytes.Contains(r.body, []byte("hidden.mp4")) || r.h.Get("WWW-Authenticate") != "" {
			t.Errorf("public GET %s gives the recording away: %s", path, r.body)
		}
	}
	// An operator may play it before publishing; the public pages stay for published ones.
	if r := e.do("GET", "/recordings/hidden/index.m3u8", "", op...); r.code != 200 || r.h.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("operator playlist: %d %v", r.code, r.h)
	}
	if r := e.do("GET", "/replays/hidden", "", op...); r.code != 404 {
		t.Fatalf("operator on the public page of an unpublished recording: %d", r.code)
	}

	if r := e.do("GET", "/recordings/shown/index.m3u8", ""); r.code != 200 || r.h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("published playlist: %d %v", r.code, r.h)
	}
	var feed struct {
		Replays []struct{ ID string } `json:"replays"`
		Total   int                   `json:"total"`
	}
	r := e.do("GET", "/api/v1/public/replays", "")
	r.json(t, &feed)
	if feed.Total != 1 || len(feed.Replays) != 1 || feed.Replays[0].ID != "shown" {
		t.Fatalf("feed: %s", r.body)
	}
	list := e.do("GET", "/replays", "")
	if list.code != 200 || !bytes.Contains(list.body, []byte("/replays/shown")) || bytes.Contains(list.body, []byte("hidden")) {
		t.Fatalf("/replays: %d %s", list.code, list.body)
	}
}

func TestDelivery(t *testing.T) {
	e := newEnv(t, nil)
	in := recording(t, e.root, "concert", "main", time.Now().Add(-time.Hour), record.Finished)
	e.store.Recorded(in)
	pub := true
	if _, err := e.store.Update(context.Background(), "concert", store.Patch{Published: &pub}); err != nil {
		t.Fatal(err)
	}
	for path, ct := range map[string]string{
		"/recordings/concert/index.m3u8": "application/vnd.apple.mpegurl",
		"/recordings/concert/init-0.mp4": "video/mp4",
		"/recordings/concert/seg-1.m4s":  "video/iso.segment",
	} {
		r := e.do("GET", path, "")
		if r.code != 200 || r.h.Get("Content-Type") != ct || !strings.HasPrefix(r.h.Get("Cache-Control"), "public") || len(r.body) == 0 {
			t.Errorf("GET %s: %d %q %q", path, r.code, r.h.Get("Content-Type"), r.h.Get("Cache-Control"))
		}
	}
	for _, path := range []string{"/recordings/concert/recording.json", "/recordings/concert/..%2Frecording.json", "/recordings/concert/seg-99.m4s", "/recordings/concert.avi"} {
		if r := e.do("GET", path, ""); r.code != 404 {
			t.Errorf("GET %s: %d, want 404", path, r.code)
		}
	}

	// Concurrent first requests wait for one build.
	var wg sync.WaitGroup
	sizes := make([]int, 4)
	for i := range sizes {
		wg.Go(func() {
			r := e.do("GET", "/recordings/concert.mp4", "")
			if r.code != 200 || r.h.Get("Content-Type") != "video/mp4" {
				t.Errorf("mp4: %d %s", r.code, r.h)
			}
			sizes[i] = len(r.body)
		})
	}
	wg.Wait()
	if n := e.logs.Count("replay MP4 made"); n != 1 {
		t.Fatalf("the MP4 was made %d times", n)
	}
	fi, err := os.Stat(filepath.Join(in.Dir, replays.MP4File))
	if err != nil || sizes[0] != int(fi.Size()) || sizes[3] != sizes[0] {
		t.Fatalf("cached MP4: %v, served %v", err, sizes)
	}
	left, _ := filepath.Glob(filepath.Join(in.Dir, ".*tmp*"))
	if len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	// Range requests, so browsers seek.
	r := e.do("GET", "/recordings/concert.mp4", "", "Range", "bytes=1000-1999")
	if r.code != 206 || len(r.body) != 1000 || r.h.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("range: %d %d %v", r.code, len(r.body), r.h)
	}
	if r := e.do("GET", "/recordings/concert.mp4?download=1", ""); !strings.Contains(r.h.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %v", r.h)
	}
	// The thumbnail: a JPEG, made once, noted in the catalogue.
	r = e.do("GET", "/recordings/concert/thumb.jpg", "")
	if r.code != 200 || r.h.Get("Content-Type") != "image/jpeg" || !bytes.HasPrefix(r.body, []byte{0xff, 0xd8}) {
		t.Fatalf("thumbnail: %d %v", r.code, r.h)
	}
	if rec, _ := e.store.Get(context.Background(), "concert"); !rec.Thumbnail {
		t.Fatal("the catalogue does not know the thumbnail exists")
	}

	// The recording in progress has no MP4 yet, with a reason.
	live := recording(t, e.root, "live", "main", time.Now(), record.Recording)
	e.store.Recorded(live)
	r = e.do("GET", "/recordings/live.mp4", "")
	if msg := r.errorMessage(t); r.code != 409 || !strings.Contains(msg, "still being written") {
		t.Fatalf("mp4 in progress: %d %q", r.code, msg)
	}
	if r := e.do("GET", "/recordings/live/index.m3u8", ""); r.h.Get("Cache-Control") != "private, no-store" && r.h.Get("Cache-Control") != "no-cache" {
		t.Fatalf("playlist in progress: %v", r.h)
	}
}

// TestThumbnailOfAudioOnlyRecording: a recording ffmpeg cannot make a thumbnail of answers
// 404 with a message, and ffmpeg is not run again for it.
func TestThumbnailOfAudioOnlyRecording(t *testing.T) {
	e := newEnv(t, nil)
	in := recording(t, e.root, "broken", "main", time.Now().Add(-time.Hour), record.Finished)
	// Keep only the playlist: nothing ffmpeg can decode.
	for _, f := range []string{"init-0.mp4", "seg-0.m4s"} {
		if err := os.Remove(filepath.Join(in.Dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	e.store.Recorded(in)
	for range 3 {
		r := e.do("GET", "/recordings/broken/thumb.jpg", "")
		if msg := r.errorMessage(t); r.code != 404 || !strings.Contains(msg, "no thumbnail") {
			t.Fatalf("thumbnail: %d %q", r.code, msg)
		}
	}
	if n := e.logs.Count("replay thumbnail: cannot make it"); n != 1 {
		t.Fatalf("ffmpeg ran %d times for the same recording:\n%s", n, e.logs.String())
	}
	// Nothing else is disturbed: the playlist is still served.
	if r := e.do("GET", "/recordings/broken/index.m3u8", ""); r.code != 200 {
		t.Fatalf("playlist: %d", r.code)
	}
}
