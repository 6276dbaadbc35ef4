package app

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/beffroi/beffroi/config"
)

// TestHTTPServerClientAddress: the server's handler sees the client of X-Forwarded-For when
// the peer is a trusted proxy, and the peer otherwise (the addresses are strings in requests
// built here: nothing is dialled).
func TestHTTPServerClientAddress(t *testing.T) {
	report := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.RemoteAddr) })
	for _, tt := range []struct {
		name    string
		trusted []string
		peer    string
		want    string
	}{
		{"trusted proxy", []string{"127.0.0.1"}, "127.0.0.1:4242", "198.51.100.9:0"},
		{"untrusted peer", []string{"127.0.0.1"}, "192.0.2.1:4242", "192.0.2.1:4242"},
		{"no trusted proxy", nil, "127.0.0.1:4242", "127.0.0.1:4242"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default().HTTP
			c.TrustedProxies = tt.trusted
			srv, err := httpServer(c, report, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.peer
			req.Header.Set("X-Forwarded-For", "203.0.113.1, 198.51.100.9")
			srv.Handler.ServeHTTP(rec, req)
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("the handler saw %q, want %q", got, tt.want)
			}
		})
	}
	c := config.Default().HTTP
	c.TrustedProxies = []string{"not-an-address"}
	if _, err := httpServer(c, report, nil); err == nil || !strings.Contains(err.Error(), "http.trusted_proxies") {
		t.Errorf("a bad trusted proxy: %v", err)
	}
}

// TestPublishURLs: the go-live link carries the key in its fragment; http.public_url, when
// set, is the base of the links whatever the Host; without it the request's host is used.
func TestPublishURLs(t *testing.T) {
	const key = "k3y+/="
	cfg := config.Default()
	a := &App{cfg: cfg}
	req := httptest.NewRequest(http.MethodPost, "/api/v1/streams", nil)
	req.Host = "192.168.1.20:8080"
	u := a.publishURLs(req, "fete", key)
	if got, want := u["go_live"], "http://192.168.1.20:8080/go-live/fete#key=k3y%2B%2F%3D"; got != want {
		t.Errorf("go_live on the LAN: %q, want %q", got, want)
	}
	if got, want := u["whip"], "http://192.168.1.20:8080/whip/fete"; got != want {
		t.Errorf("whip on the LAN: %q, want %q", got, want)
	}
	req.TLS = &tls.ConnectionState{}
	if got := a.publishURLs(req, "fete", key)["whip"]; !strings.HasPrefix(got, "https://") {
		t.Errorf("whip over TLS: %q", got)
	}

	cfg.HTTP.PublicURL = "https://live.example.org/"
	req.Host = "evil.example"
	u = a.publishURLs(req, "fete", key)
	if got, want := u["go_live"], "https://live.example.org/go-live/fete#key=k3y%2B%2F%3D"; got != want {
		t.Errorf("go_live with public_url: %q, want %q", got, want)
	}
	for k, v := range u {
		if strings.Contains(v, "evil") || strings.Contains(v, "?key=") {
			t.Errorf("%s: %q", k, v)
		}
	}
}
