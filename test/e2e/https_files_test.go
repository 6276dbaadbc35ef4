package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
)

// TestHTTPSFromFiles: with tls.cert and tls.key (no domain), Beffroi serves HTTPS with that
// certificate, RTMPS uses it too (no rtmps.cert), plain HTTP on tls.http_listen redirects to
// the HTTPS port of the host asked, and /healthz describes the certificate.
func TestHTTPSFromFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped under -short")
	}
	certFile, keyFile, pool := testutil.SelfSignedFiles(t)
	b := startBeffroi(t, func(c *config.Config) {
		c.TLS.Cert, c.TLS.Key = certFile, keyFile
		c.TLS.HTTPSListen, c.TLS.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}}
	var h struct {
		Checks map[string]struct{ Status, Detail string }
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		resp, err := client.Get("https://" + b.HTTPSAddr() + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			return fmt.Errorf("served over %s, want HTTP/2", resp.Proto)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz: %s", resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(&h)
	})
	if c := h.Checks["certificate"]; c.Status != "ok" || !strings.HasPrefix(c.Detail, `files: localhost, issued by "beffroi test"`) {
		t.Errorf("/healthz certificate check: %+v", c)
	}
	if l := h.Checks["listeners"]; !strings.Contains(l.Detail, "https "+b.HTTPSAddr()) || !strings.Contains(l.Detail, "http redirect "+b.HTTPRedirectAddr()) {
		t.Errorf("/healthz listeners: %q, want https and the redirect with their addresses", l.Detail)
	}

	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", b.RTMPSAddr(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("RTMPS with the tls section's certificate: %v", err)
	}
	conn.Close()

	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := noFollow.Get("http://" + b.HTTPRedirectAddr() + "/watch/event")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := net.SplitHostPort(b.HTTPSAddr())
	if want := "https://127.0.0.1:" + port + "/watch/event"; resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
		t.Errorf("GET over HTTP: %s to %q, want 301 to %q", resp.Status, resp.Header.Get("Location"), want)
	}
}
