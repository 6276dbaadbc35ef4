package watch

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPages(t *testing.T) {
	h := Handler(Options{Mode: ModeHLS, Exists: func(s string) bool { return s == "concert" }})

	resp, body := get(t, h, "/watch/concert")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-mode="hls"`) ||
		!strings.Contains(body, `data-stream="concert"`) || !strings.Contains(body, "/assets/vendor/hls-") {
		t.Fatalf("watch page: %d\n%s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Frame-Options") != "SAMEORIGIN" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'self'") {
		t.Errorf("the watch page may be framed by anyone: %v", resp.Header)
	}
	if !strings.Contains(body, "<h1") {
		t.Error("the watch page has no title")
	}

	resp, body = get(t, h, "/embed/concert")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `class="embed"`) {
		t.Fatalf("embed page: %d\n%s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Frame-Options") != "" || strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors") {
		t.Errorf("the embed page refuses to be framed: %v", resp.Header)
	}
	if strings.Contains(body, "<h1") {
		t.Error("the embed page has the watch page's title: it must be minimal")
	}

	for _, p := range []string{"/watch/nope", "/embed/nope", "/watch/Bad%20Name", "/watch/assets/index.html"} {
		if resp, _ := get(t, h, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	for _, p := range []string{"/watch/assets/watch.js", "/watch/assets/watch.css"} {
		resp, body := get(t, h, p)
		if resp.StatusCode != http.StatusOK || len(body) < 100 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
		if resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("GET %s sets a cookie", p)
		}
	}
}

// TestNoOutsideResources: everything the page loads comes from Beffroi.
func TestNoOutsideResources(t *testing.T) {
	for _, f := range []string{"index.html", "watch.js", "watch.css"} {
		b, err := files.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"http://", "https://", "//cdn", "document.cookie", "localStorage"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q", f, bad)
			}
		}
	}
}

// TestCanonicalFromPublicURL: with http.public_url the pages carry canonical and og:url
// links on it; without, none (never one built from the Host header).
func TestCanonicalFromPublicURL(t *testing.T) {
	h := Handler(Options{PublicURL: "https://live.example.org/"})
	for _, p := range []string{"/watch/concert", "/embed/concert"} {
		_, body := get(t, h, p)
		if !strings.Contains(body, `<link rel="canonical" href="https://live.example.org/watch/concert">`) ||
			!strings.Contains(body, `<meta property="og:url" content="https://live.example.org/watch/concert">`) {
			t.Errorf("GET %s: no canonical link on public_url:\n%s", p, body)
		}
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/watch/concert", nil)
	req.Host = "evil.example"
	Handler(Options{}).ServeHTTP(rec, req)
	if b := rec.Body.String(); strings.Contains(b, "canonical") || strings.Contains(b, "evil.example") {
		t.Errorf("without public_url the page has a canonical link or the Host:\n%s", b)
	}
}
