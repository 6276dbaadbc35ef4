package store

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/web/manage"
)

// TestConsoleSources: a backup source added to a console stream through the API gets its own
// key, is kept by the store in order, comes back at the next start, and goes with its stream.
func TestConsoleSources(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s := open(t, path)
	if err := s.CreateStream(ctx, manage.Stream{Name: "concert", PublishKey: "pk-concert-0123", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	reg := relay.NewRegistry(relay.RegistryOptions{})
	if _, err := reg.Add("concert", "pk-concert-0123"); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&manage.Handler{Registry: reg, Store: s, Sources: s}).Routes(mux)
	post := func(body string) (int, string) {
		req := httptest.NewRequest("POST", "/api/v1/streams/concert/sources", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	for _, name := range []string{"phone", "drone"} {
		if code, body := post(`{"name":"` + name + `"}`); code != http.StatusCreated || !strings.Contains(body, `"publish_key"`) {
			t.Fatalf("add source %s: %d %s", name, code, body)
		}
	}
	if code, _ := post(`{"name":"phone"}`); code != http.StatusConflict {
		t.Errorf("a second source named phone: %d, want 409", code)
	}
	if code, _ := post(`{"name":"Not A Name"}`); code != http.StatusBadRequest {
		t.Errorf("a bad source name: %d, want 400", code)
	}
	list, err := s.ListSources(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "phone" || list[1].Name != "drone" {
		t.Fatalf("stored sources %+v, %v; want phone then drone", list, err)
	}
	if st, name := reg.AuthenticateSource(list[0].PublishKey); st == nil || name != "phone" {
		t.Errorf("the phone's key does not publish to the phone: %v %q", st, name)
	}

	req := httptest.NewRequest("DELETE", "/api/v1/streams/concert/sources/drone", nil)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("delete drone: %d %s", rec.Code, rec.Body)
	}

	// The next start.
	reg2 := relay.NewRegistry(relay.RegistryOptions{})
	if _, err := reg2.Add("concert", "pk-concert-0123"); err != nil {
		t.Fatal(err)
	}
	if err := manage.LoadSources(ctx, s, reg2, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := reg2.Get("concert").Sources(); len(got) != 2 || got[1].Name != "phone" {
		t.Errorf("sources after a restart: %+v, want primary and phone", got)
	}
	if err := s.DeleteStream(ctx, "concert"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListSources(ctx); len(list) != 0 {
		t.Errorf("sources left after their stream was deleted: %+v", list)
	}
}
