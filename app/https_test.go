package app

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRedirectToHTTPS(t *testing.T) {
	for _, tt := range []struct {
		name, domain, port, method, host, target string
		code                                     int
		location                                 string
	}{
		{"domain, port 443", "live.example.org", "443", http.MethodGet, "live.example.org", "/go-live/event?a=1", http.StatusMovedPermanently, "https://live.example.org/go-live/event?a=1"},
		{"never a stranger's Host", "live.example.org", "443", http.MethodGet, "evil.example", "/", http.StatusMovedPermanently, "https://live.example.org/"},
		{"other port", "live.example.org", "8443", http.MethodHead, "live.example.org:80", "/hls/event/index.m3u8", http.StatusMovedPermanently, "https://live.example.org:8443/hls/event/index.m3u8"},
		{"a POST keeps its method", "live.example.org", "443", http.MethodPost, "live.example.org", "/whip/event", http.StatusPermanentRedirect, "https://live.example.org/whip/event"},
		{"files: the request's host", "", "443", http.MethodGet, "192.0.2.10:80", "/console", http.StatusMovedPermanently, "https://192.0.2.10/console"},
		{"files: no host", "", "443", http.MethodGet, "", "/", http.StatusBadRequest, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			r.Host = tt.host
			w := httptest.NewRecorder()
			redirectToHTTPS(tt.domain, tt.port).ServeHTTP(w, r)
			if w.Code != tt.code || w.Header().Get("Location") != tt.location {
				t.Errorf("%d to %q, want %d to %q", w.Code, w.Header().Get("Location"), tt.code, tt.location)
			}
		})
	}
}
