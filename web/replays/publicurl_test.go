package replays_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/web/store"
)

// TestReplayPagesIgnoreHost: the replay pages are publicly cacheable, so no Host header
// reaches them. Without http.public_url the embed code names no host (the page's script
// completes it); with it, the embed code, canonical and og links use it.
func TestReplayPagesIgnoreHost(t *testing.T) {
	e := newEnv(t, operatorOnly)
	e.store.Recorded(recording(t, e.root, "shown", "main", time.Now().UTC().Add(-time.Hour), record.Finished))
	pub := true
	if _, err := e.store.Update(context.Background(), "shown", store.Patch{Published: &pub}); err != nil {
		t.Fatal(err)
	}
	const evil = "evil.example"
	get := func(path string) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
		req.Host = evil // anyone's to set; a cache in front keys on the path
		req.Header.Set("X-Forwarded-Host", evil)
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{resp.StatusCode, resp.Header, b}
	}

	r := get("/replays/shown")
	if r.code != 200 {
		t.Fatalf("replay page: %d %s", r.code, r.body)
	}
	if bytes.Contains(r.body, []byte(evil)) {
		t.Fatalf("the Host header reached a publicly cacheable page:\n%s", r.body)
	}
	if !bytes.Contains(r.body, []byte(`src="/embed/replays/shown"`)) || !bytes.Contains(r.body, []byte("data-relative")) {
		t.Errorf("without public_url the embed code should be relative, for the script to complete:\n%s", r.body)
	}
	if bytes.Contains(r.body, []byte(`rel="canonical"`)) {
		t.Error("a canonical link without public_url")
	}

	e.svc.PublicURL = "https://live.example.org/"
	for _, path := range []string{"/replays/shown", "/embed/replays/shown"} {
		r := get(path)
		if r.code != 200 || bytes.Contains(r.body, []byte(evil)) {
			t.Fatalf("GET %s: %d, or the Host header in it:\n%s", path, r.code, r.body)
		}
		if !bytes.Contains(r.body, []byte(`<link rel="canonical" href="https://live.example.org/replays/shown">`)) ||
			!bytes.Contains(r.body, []byte(`<meta property="og:url" content="https://live.example.org/replays/shown">`)) {
			t.Errorf("GET %s: no canonical or og:url on public_url:\n%s", path, r.body)
		}
	}
	r = get("/replays/shown")
	if !bytes.Contains(r.body, []byte(`src="https://live.example.org/embed/replays/shown"`)) || bytes.Contains(r.body, []byte("data-relative")) {
		t.Errorf("the embed code does not use public_url:\n%s", r.body)
	}
}
