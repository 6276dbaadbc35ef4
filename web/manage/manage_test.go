package manage_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/presets"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/web/auth"
	"github.com/beffroi/beffroi/web/auth/authtest"
	"github.com/beffroi/beffroi/web/manage"
	"github.com/beffroi/beffroi/web/manage/managetest"
)

const ytKey = "yt-secret-key-1234"

// fakeRecorder remembers the recording switches.
type fakeRecorder struct {
	mu sync.Mutex
	on map[string]bool
}

func (f *fakeRecorder) SetEnabled(stream string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.on[stream] = on
}

func (f *fakeRecorder) get(stream string) (bool, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	on, ok := f.on[stream]
	return on, ok
}

// idlePusher waits for its context: the destination stays connecting/live without a peer.
type idlePusher struct{}

func (idlePusher) Push(ctx context.Context, _ *relay.Reader, p outputs.Progress) error {
	p.Live()
	<-ctx.Done()
	return ctx.Err()
}

var pushers = map[string]outputs.NewPusherFunc{
	"rtmp":  func(*url.URL, outputs.Options) (outputs.Pusher, error) { return idlePusher{}, nil },
	"rtmps": func(*url.URL, outputs.Options) (outputs.Pusher, error) { return idlePusher{}, nil },
}

type fixture struct {
	rec   *fakeRecorder
	reg   *relay.Registry
	outs  *outputs.Manager
	store *managetest.MemStore
	srv   *httptest.Server
	logs  *testutil.LogBuffer
	h     *manage.Handler
}

func newFixture(t *testing.T, store *managetest.MemStore) *fixture {
	t.Helper()
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: time.Minute})
	t.Cleanup(reg.StopAll)
	if _, err := reg.Add("fichier", "file-key-0123"); err != nil {
		t.Fatal(err)
	}
	outs := outputs.NewManager(reg, pushers, outputs.Options{})
	if err := outs.Add("fichier", outputs.DestinationConfig{Name: "facebook", URL: "rtmps://live-api-s.facebook.com:443/rtmp/fb-file-key", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = outs.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	logs := &testutil.LogBuffer{}
	rec := &fakeRecorder{on: map[string]bool{}}
	if err := manage.Load(context.Background(), store, reg, outs, rec, logs.Logger()); err != nil {
		t.Fatal(err)
	}
	set, err := presets.Default()
	if err != nil {
		t.Fatal(err)
	}
	h := &manage.Handler{
		Registry: reg, Outputs: outs, Store: store, Log: logs.Logger(), Recorder: rec, Presets: set,
		Managed: func(stream, dest string) bool { return stream == "fichier" && (dest == "" || dest == "facebook") },
		URLs: func(r *http.Request, stream, key string) manage.PublishURLs {
			return manage.PublishURLs{"rtmp": "rtmp://" + r.Host + "/live/" + key}
		},
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{rec: rec, reg: reg, outs: outs, store: store, srv: srv, logs: logs, h: h}
}

func (f *fixture) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	testutil.AssertNoSecret(t, method+" "+path, string(b), ytKey, "fb-file-key", "file-key-0123")
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res.StatusCode, m
}

func TestMemStoreConformance(t *testing.T) {
	managetest.StoreConformance(t, &managetest.MemStore{})
}

func TestStreamsAndDestinations(t *testing.T) {
	store := &managetest.MemStore{}
	f := newFixture(t, store)

	code, m := f.do(t, "POST", "/api/v1/streams", `{"name":"concert"}`)
	key, _ := m["publish_key"].(string)
	if code != http.StatusCreated || len(key) < 20 || !strings.Contains(m["publish"].(map[string]any)["rtmp"].(string), key) {
		t.Fatalf("create: %d %v", code, m)
	}
	if f.reg.Authenticate(key) != f.reg.Get("concert") {
		t.Fatal("the new key does not publish to the new stream")
	}
	for body, want := range map[string]int{
		`{"name":"concert"}`:  http.StatusConflict,
		`{"name":"Concert!"}`: http.StatusBadRequest,
		`{"nom":"x"}`:         http.StatusBadRequest,
		`not json`:            http.StatusBadRequest,
	} {
		if code, m := f.do(t, "POST", "/api/v1/streams", body); code != want || m["error"] == "" {
			t.Errorf("create %s: %d %v, want %d with an error", body, code, m, want)
		}
	}

	// A destination from the YouTube preset with the platform's key.
	code, m = f.do(t, "POST", "/api/v1/streams/concert/destinations", `{"preset":"youtube","key":"`+ytKey+`"}`)
	if code != http.StatusCreated || m["name"] != "youtube" || m["host"] != "a.rtmps.youtube.com:443" || m["enabled"] != true {
		t.Fatalf("add from preset: %d %v", code, m)
	}
	if st := f.outs.List("concert")[0].State; st != outputs.StateIdle {
		t.Fatalf("a destination of a stream not live is %s, want idle", st)
	}
	for body, want := range map[string]int{
		`{"preset":"youtube","key":"k2"}`:             http.StatusConflict, // same name
		`{"name":"x","url":"http://example.org/a"}`:   http.StatusBadRequest,
		`{"name":"y","preset":"nope","key":"k"}`:      http.StatusBadRequest,
		`{"name":"z","preset":"instagram","key":"k"}`: http.StatusBadRequest, // needs its per-broadcast URL
		`{"name":"w"}`: http.StatusBadRequest,
		`{"name":"v","url":"rtmp://h/a/k","preset":"kick"}`: http.StatusBadRequest,
	} {
		if code, m := f.do(t, "POST", "/api/v1/streams/concert/destinations", body); code != want {
			t.Errorf("add %s: %d %v, want %d", body, code, m, want)
		}
	}
	if code, _ := f.do(t, "POST", "/api/v1/streams/nope/destinations", `{"name":"a","url":"rtmp://h/a/b"}`); code != http.StatusNotFound {
		t.Errorf("add to an unknown stream: %d", code)
	}

	// Switched off and on while live, saved.
	code, m = f.do(t, "PATCH", "/api/v1/streams/concert/destinations/youtube", `{"enabled":false}`)
	if code != http.StatusOK || m["enabled"] != false {
		t.Fatalf("disable: %d %v", code, m)
	}
	if ds, _ := store.ListDestinations(context.Background()); len(ds) != 1 || ds[0].Enabled || !strings.HasSuffix(ds[0].URL, "/"+ytKey) {
		t.Fatalf("stored after disable: %+v", ds)
	}
	if code, m := f.do(t, "PATCH", "/api/v1/streams/concert/destinations/youtube", `{"enabled":true}`); code != http.StatusOK || m["enabled"] != true {
		t.Fatalf("enable: %d %v", code, m)
	}
	// A new key: same destination name, new URL.
	if code, m := f.do(t, "PATCH", "/api/v1/streams/concert/destinations/youtube", `{"preset":"youtube","key":"`+ytKey+`-2","ingest_url":"rtmp://a.rtmp.youtube.com/live2"}`); code != http.StatusOK || m["host"] != "a.rtmp.youtube.com" {
		t.Fatalf("new key: %d %v", code, m)
	}

	// What the configuration file declares is read-only, but can be switched.
	if code, _ := f.do(t, "DELETE", "/api/v1/streams/fichier", ""); code != http.StatusConflict {
		t.Errorf("delete a config stream: %d", code)
	}
	if code, _ := f.do(t, "DELETE", "/api/v1/streams/fichier/destinations/facebook", ""); code != http.StatusConflict {
		t.Errorf("delete a config destination: %d", code)
	}
	if code, _ := f.do(t, "PATCH", "/api/v1/streams/fichier/destinations/facebook", `{"url":"rtmp://h/a/b"}`); code != http.StatusConflict {
		t.Errorf("change a config destination's URL: %d", code)
	}
	if code, m := f.do(t, "PATCH", "/api/v1/streams/fichier/destinations/facebook", `{"enabled":false}`); code != http.StatusOK || m["enabled"] != false {
		t.Errorf("switch off a config destination: %d %v", code, m)
	}
	if code, _ := f.do(t, "POST", "/api/v1/streams/fichier/rotate-key", ""); code != http.StatusConflict {
		t.Errorf("rotate a config stream's key: %d", code)
	}
	// A destination added to a config stream through the API is the API's.
	if code, _ := f.do(t, "POST", "/api/v1/streams/fichier/destinations", `{"name":"twitch","preset":"twitch","key":"tw-key-1"}`); code != http.StatusCreated {
		t.Errorf("add to a config stream: %d", code)
	}

	// Recording switched off, kept; a config stream's switch is for this run only.
	if code, m := f.do(t, "PATCH", "/api/v1/streams/concert", `{"record":false}`); code != http.StatusOK || m["record"] != false {
		t.Fatalf("record off: %d %v", code, m)
	}
	if on, ok := f.rec.get("concert"); !ok || on {
		t.Fatal("the recorder was not switched off")
	}
	if code, _ := f.do(t, "PATCH", "/api/v1/streams/fichier", `{"record":false}`); code != http.StatusOK {
		t.Fatalf("record off on a config stream: %d", code)
	}
	if code, _ := f.do(t, "PATCH", "/api/v1/streams/concert", `{}`); code != http.StatusBadRequest {
		t.Fatalf("empty stream patch: %d", code)
	}

	// Rotating the key.
	code, m = f.do(t, "POST", "/api/v1/streams/concert/rotate-key", "")
	newKey, _ := m["publish_key"].(string)
	if code != http.StatusOK || newKey == "" || newKey == key {
		t.Fatalf("rotate: %d %v", code, m)
	}
	if f.reg.Authenticate(key) != nil || f.reg.Authenticate(newKey) == nil {
		t.Fatal("after rotation the old key works or the new one does not")
	}

	// A restart brings back what the API made.
	g := newFixture(t, store)
	if st := g.reg.Get("concert"); st == nil || g.reg.Authenticate(newKey) != st {
		t.Fatal("the stream made through the API did not come back with its key")
	}
	if on, ok := g.rec.get("concert"); !ok || on {
		t.Fatal("the recording switch did not come back after a restart")
	}
	if _, ok := g.rec.get("fichier"); ok {
		t.Fatal("a config stream's switch was kept")
	}
	if l := g.outs.List("concert"); len(l) != 1 || l[0].Name != "youtube" || l[0].Host != "a.rtmp.youtube.com" {
		t.Fatalf("destinations after restart: %+v", l)
	}
	if l := g.outs.List("fichier"); len(l) != 2 {
		t.Fatalf("config stream's destinations after restart: %+v", l)
	}

	// Deleting.
	if code, _ := f.do(t, "DELETE", "/api/v1/streams/concert/destinations/youtube", ""); code != http.StatusNoContent {
		t.Fatalf("delete destination: %d", code)
	}
	if code, _ := f.do(t, "DELETE", "/api/v1/streams/concert/destinations/youtube", ""); code != http.StatusNotFound {
		t.Fatalf("delete it again: %d", code)
	}
	if code, _ := f.do(t, "DELETE", "/api/v1/streams/concert", ""); code != http.StatusNoContent || f.reg.Get("concert") != nil {
		t.Fatalf("delete stream: %d", code)
	}
	if l, _ := store.ListStreams(context.Background()); len(l) != 0 {
		t.Fatalf("stored streams after deletion: %+v", l)
	}
	testutil.AssertNoSecret(t, "log", f.logs.String(), ytKey, key, newKey, "tw-key-1")
}

// TestAllowPrivateAdminsOnly: allow_private is set, kept and changed by admins only (the role
// auth.Require puts in the request); an operator may take it away, not give it, nor move a
// destination that has it to another address.
func TestAllowPrivateAdminsOnly(t *testing.T) {
	store := &managetest.MemStore{}
	f := newFixture(t, store)
	accounts := &auth.Service{Store: authtest.NewMemStore()}
	tokens := map[auth.Role]string{}
	for _, role := range []auth.Role{auth.Admin, auth.Operator} {
		u := &auth.User{Name: string(role), Role: role, Created: time.Now()}
		if err := accounts.Store.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		secret := "token-of-the-" + string(role) + "-0123456789"
		if err := accounts.Store.CreateToken(t.Context(), &auth.Token{Name: "t", UserID: u.ID, Hash: auth.HashSecret(secret), Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		tokens[role] = secret
	}
	h := *f.h
	h.Protect = func(x http.Handler) http.Handler { return accounts.Require(auth.Operator, x) }
	mux := http.NewServeMux()
	h.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(role auth.Role, method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokens[role])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		testutil.AssertNoSecret(t, method+" "+path, string(b), "town-key-1", "town-key-2")
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return res.StatusCode, m
	}
	stored := func() manage.Destination {
		t.Helper()
		ds, _ := store.ListDestinations(t.Context())
		for _, d := range ds {
			if d.Name == "mairie" {
				return d
			}
		}
		t.Fatal("the destination is not stored")
		return manage.Destination{}
	}
	if code, m := do(auth.Operator, "POST", "/api/v1/streams", `{"name":"concert"}`); code != http.StatusCreated {
		t.Fatalf("create the stream: %d %v", code, m)
	}
	const dests = "/api/v1/streams/concert/destinations"
	const add = `{"name":"mairie","url":"rtmp://10.0.0.5/live/town-key-1","allow_private":true}`

	if code, m := do(auth.Operator, "POST", dests, add); code != http.StatusForbidden || !strings.Contains(m["error"].(string), "only an admin") {
		t.Fatalf("an operator adds a private destination: %d %v", code, m)
	}
	if len(f.outs.List("concert")) != 0 {
		t.Fatal("the refused destination was added")
	}
	code, m := do(auth.Admin, "POST", dests, add)
	if code != http.StatusCreated || m["allow_private"] != true {
		t.Fatalf("an admin adds a private destination: %d %v", code, m)
	}
	if d := stored(); !d.AllowPrivate {
		t.Fatalf("stored without allow_private: %+v", d)
	}
	// Switching it is an operator's job, and keeps the opt-in.
	if code, m := do(auth.Operator, "PATCH", dests+"/mairie", `{"enabled":false}`); code != http.StatusOK || m["allow_private"] != true {
		t.Fatalf("an operator disables it: %d %v", code, m)
	}
	if d := stored(); !d.AllowPrivate || d.Enabled {
		t.Fatalf("stored after disable: %+v", d)
	}
	// Its URL is an admin's.
	if code, m := do(auth.Operator, "PATCH", dests+"/mairie", `{"url":"rtmp://169.254.169.254/live/town-key-2"}`); code != http.StatusForbidden {
		t.Fatalf("an operator moves a private destination: %d %v", code, m)
	}
	if code, m := do(auth.Admin, "PATCH", dests+"/mairie", `{"url":"rtmp://10.0.0.6/live/town-key-2"}`); code != http.StatusOK || m["allow_private"] != true || m["host"] != "10.0.0.6" {
		t.Fatalf("an admin moves it: %d %v", code, m)
	}
	// An operator may take the opt-in away, not give it back.
	if code, m := do(auth.Operator, "PATCH", dests+"/mairie", `{"allow_private":false}`); code != http.StatusOK || m["allow_private"] != nil {
		t.Fatalf("an operator takes the opt-in away: %d %v", code, m)
	}
	if d := stored(); d.AllowPrivate || d.URL != "rtmp://10.0.0.6/live/town-key-2" {
		t.Fatalf("stored after the opt-in was taken away: %+v", d)
	}
	if code, m := do(auth.Operator, "PATCH", dests+"/mairie", `{"allow_private":true}`); code != http.StatusForbidden {
		t.Fatalf("an operator gives the opt-in: %d %v", code, m)
	}
	if code, m := do(auth.Admin, "PATCH", dests+"/mairie", `{"allow_private":true}`); code != http.StatusOK || m["allow_private"] != true {
		t.Fatalf("an admin gives the opt-in: %d %v", code, m)
	}
	// Without the opt-in, an operator may move it.
	if code, m := do(auth.Operator, "POST", dests, `{"name":"public","url":"rtmp://a.rtmp.youtube.com/live2/town-key-1"}`); code != http.StatusCreated || m["allow_private"] != nil {
		t.Fatalf("an operator adds a public destination: %d %v", code, m)
	}
	if code, m := do(auth.Operator, "PATCH", dests+"/public", `{"url":"rtmp://b.rtmp.youtube.com/live2/town-key-2"}`); code != http.StatusOK {
		t.Fatalf("an operator changes a public destination's URL: %d %v", code, m)
	}
	// A restart keeps the opt-in.
	g := newFixture(t, store)
	l := g.outs.List("concert")
	if len(l) != 2 {
		t.Fatalf("after a restart: %+v", l)
	}
	for _, s := range l {
		if (s.Name == "mairie") != s.AllowPrivate {
			t.Errorf("after a restart: %+v", s)
		}
	}
	testutil.AssertNoSecret(t, "log", f.logs.String(), "town-key-1", "town-key-2")
}
