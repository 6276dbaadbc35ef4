package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/tlsauto"
	"github.com/beffroi/beffroi/web"
)

// HTTPS served by Beffroi itself (the tls section): the certificate comes from ACME
// (tls.domain) or from files (tls.cert, tls.key); the one HTTP handler is served on
// tls.https_listen as well as on http.addr, tls.http_listen redirects to it (and answers the
// ACME HTTP-01 validations), and RTMPS gets the same certificate unless rtmps.cert is set.

// certSource is where the HTTPS and RTMPS listeners get their certificate.
type certSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Status describes the certificate for /healthz, and fails when there is none or it is
	// about to expire.
	Status() (string, error)
}

// httpsServers are the HTTPS listener, the redirecting HTTP listener and their certificate.
type httpsServers struct {
	certs certSource
	acme  *tlsauto.ACME // nil with certificate files
	tlsc  *tls.Config

	srv      *http.Server
	ln       net.Listener
	redirect *http.Server
	rln      net.Listener // nil when tls.http_listen is ""
}

// newCertificates prepares the certificate of the tls section (nil when it has none).
func newCertificates(c config.TLS, dataDir string, log *slog.Logger) (*httpsServers, error) {
	switch {
	case c.Domain != "":
		acmeConfig := tlsauto.ACMEConfig{
			Domain: c.Domain, Email: c.Email, CA: c.ACMECA, Dir: filepath.Join(dataDir, "acme"),
			HTTPAddr: c.HTTPListen, HTTPSAddr: c.HTTPSListen, RenewInterval: c.RenewInterval, Logger: log,
		}
		if c.ACMECARoot != "" {
			roots, err := tlsauto.LoadRoots(c.ACMECARoot)
			if err != nil {
				return nil, fmt.Errorf("tls.acme_ca_root: %w", err)
			}
			acmeConfig.CARoots = roots
		}
		m, err := tlsauto.NewACME(acmeConfig)
		if err != nil {
			return nil, err
		}
		return &httpsServers{certs: m, acme: m, tlsc: m.TLSConfig()}, nil
	case c.Cert != "":
		f, err := tlsauto.NewFiles(c.Cert, c.Key)
		if err != nil {
			return nil, err
		}
		return &httpsServers{certs: f, tlsc: &tls.Config{
			GetCertificate: f.GetCertificate, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12,
		}}, nil
	}
	return nil, nil
}

// rtmpsConfig is the RTMPS listener's TLS configuration with the tls section's certificate.
func (h *httpsServers) rtmpsConfig() *tls.Config {
	return &tls.Config{GetCertificate: h.certs.GetCertificate, MinVersion: tls.VersionTLS12}
}

// listen binds the HTTPS and redirect listeners and makes their servers around handler.
func (h *httpsServers) listen(c config.Config, handler http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", c.TLS.HTTPSListen)
	if err != nil {
		return fmt.Errorf("https: listen %s: %w", c.TLS.HTTPSListen, err)
	}
	if h.srv, err = httpServer(c.HTTP, handler, log); err != nil {
		_ = ln.Close()
		return err
	}
	h.srv.TLSConfig = h.tlsc
	h.ln = limitListener(ln, c.HTTP.MaxConnections)
	if c.TLS.HTTPListen == "" {
		return nil
	}
	rln, err := net.Listen("tcp", c.TLS.HTTPListen)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("http redirect: listen %s: %w", c.TLS.HTTPListen, err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	redirect := redirectToHTTPS(c.TLS.Domain, port)
	if h.acme != nil {
		redirect = h.acme.Handler(redirect)
	}
	h.redirect = &http.Server{
		Handler: redirect, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: c.HTTP.IdleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	h.rln = limitListener(rln, c.HTTP.MaxConnections)
	return nil
}

// close releases the listeners of a server that never ran (New failed after listen).
func (h *httpsServers) close() {
	if h.ln != nil {
		_ = h.ln.Close()
	}
	if h.rln != nil {
		_ = h.rln.Close()
	}
	if h.acme != nil {
		h.acme.Close()
	}
}

// components are what Run serves: HTTPS, the redirect, the certificate's renewals.
func (h *httpsServers) components() []Component {
	if h == nil {
		return nil
	}
	cs := []Component{{"https", func(ctx context.Context) error {
		return serve(ctx, h.srv, func() error { return h.srv.ServeTLS(h.ln, "", "") })
	}}}
	if h.redirect != nil {
		cs = append(cs, Component{"http redirect", func(ctx context.Context) error {
			return serve(ctx, h.redirect, func() error { return h.redirect.Serve(h.rln) })
		}})
	}
	if h.acme != nil {
		cs = append(cs, Component{"certificates", h.acme.Run})
	}
	return cs
}

// serve runs srv until ctx is cancelled, then lets requests in flight finish for up to 5 s.
func serve(ctx context.Context, srv *http.Server, run func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- run() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// redirectToHTTPS sends every request to the same path over HTTPS: on domain when set (never
// to a name a stranger put in Host), else on the request's host; on port unless it is 443.
func redirectToHTTPS(domain, port string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := domain
		if host == "" {
			host = r.Host
			if h, _, err := net.SplitHostPort(r.Host); err == nil {
				host = h
			}
		}
		if host == "" {
			http.Error(w, "HTTPS only: use https://", http.StatusBadRequest)
			return
		}
		if port != "443" {
			host = net.JoinHostPort(host, port)
		}
		code := http.StatusPermanentRedirect // keeps the method and body (a WHIP POST)
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), code)
	})
}

// certificateCheck is /healthz's "certificate" check (none without a tls section).
func (h *httpsServers) certificateCheck() []web.HealthCheck {
	if h == nil {
		return nil
	}
	return []web.HealthCheck{{Name: "certificate", Check: func(context.Context) (string, error) { return h.certs.Status() }}}
}

// logListeners logs the HTTPS and redirect listeners' addresses.
func (h *httpsServers) logListeners(log *slog.Logger) {
	if h == nil {
		return
	}
	log.Info("listening", "protocol", "https", "addr", h.addr())
	if h.rln != nil {
		log.Info("listening", "protocol", "http-redirect", "addr", h.redirectAddr())
	}
}

func (h *httpsServers) addr() string {
	if h == nil {
		return ""
	}
	return h.ln.Addr().String()
}

func (h *httpsServers) redirectAddr() string {
	if h == nil || h.rln == nil {
		return ""
	}
	return h.rln.Addr().String()
}
