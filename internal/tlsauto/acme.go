package tlsauto

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// DefaultRenewInterval is how often ACME checks whether the certificate is due for renewal
// (certmagic's own default, Caddy's renew_interval).
const DefaultRenewInterval = certmagic.DefaultRenewCheckInterval

// ACMEConfig says which certificate to get and from whom.
type ACMEConfig struct {
	// Domain is the name the certificate is for (tls.domain).
	Domain string
	// Email is the ACME account's contact (tls.email); may be empty.
	Email string
	// CA is the ACME directory URL (tls.acme_ca); empty: Let's Encrypt.
	CA string
	// CARoots, when not nil, are the roots trusted for the ACME server's own HTTPS
	// (tls.acme_ca_root: a private CA, a test server) instead of the system's.
	CARoots *x509.CertPool
	// Dir keeps the account key, the certificates and their keys (<data_dir>/acme); it is
	// made readable by its owner only.
	Dir string
	// HTTPAddr and HTTPSAddr are the listeners the CA's validation reaches (tls.http_listen,
	// tls.https_listen): HTTP-01 is answered on the first (Handler), TLS-ALPN-01 on the
	// second (TLSConfig). An empty HTTPAddr turns HTTP-01 off.
	HTTPAddr, HTTPSAddr string
	// RenewInterval is how often renewal is considered; default DefaultRenewInterval.
	RenewInterval time.Duration
	// RenewalWindowRatio is the part of a certificate's lifetime, at its end, in which it is
	// renewed when the CA gives no renewal window (ARI); default certmagic's, a third.
	RenewalWindowRatio float64
	Logger             *slog.Logger
}

// ACME obtains the certificate of one domain over ACME, keeps it in its directory, renews it
// in the background and serves it to TLS handshakes; the renewed certificate is served at
// once, with no restart.
type ACME struct {
	domain string
	log    *slog.Logger
	cache  *certmagic.Cache
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
	stop   sync.Once

	mu          sync.Mutex
	lastErr     error     // the last attempt to obtain or renew that failed, until one succeeds
	lastErrAt   time.Time // when
	lastRenewal time.Time // the last certificate obtained, by this process
}

// NewACME prepares the certificate's management; Run starts it.
func NewACME(c ACMEConfig) (*ACME, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	// The account key and the certificates' keys are in there: the owner only, even if the
	// directory was made before with other permissions.
	if err := os.Chmod(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if c.RenewInterval <= 0 {
		c.RenewInterval = DefaultRenewInterval
	}
	m := &ACME{domain: c.Domain, log: c.Logger}
	// certmagic logs with zap; what an operator needs (obtained, renewed, failed and why)
	// comes through OnEvent instead, in Beffroi's own log.
	nop := zap.NewNop()
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		RenewCheckInterval: c.RenewInterval,
		Logger:             nop,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		RenewalWindowRatio: c.RenewalWindowRatio,
		Storage:            &certmagic.FileStorage{Path: c.Dir},
		OnEvent:            m.onEvent,
		DefaultServerName:  c.Domain,
		Logger:             nop,
	})
	tmpl := certmagic.ACMEIssuer{
		CA:           c.CA,
		Email:        c.Email,
		Agreed:       true,
		TrustedRoots: c.CARoots,
		Logger:       nop,
	}
	if tmpl.CA == "" {
		tmpl.CA = certmagic.LetsEncryptProductionCA
	}
	// The solvers bind these ports only if nothing does; Beffroi's own listeners hold them
	// and answer the challenges (Handler, TLSConfig), which certmagic expects when the
	// address is taken.
	if c.HTTPAddr == "" {
		tmpl.DisableHTTPChallenge = true
	} else if host, port, err := splitPort(c.HTTPAddr); err == nil {
		tmpl.ListenHost, tmpl.AltHTTPPort = host, port
	}
	if host, port, err := splitPort(c.HTTPSAddr); err == nil {
		tmpl.AltTLSALPNPort = port
		if tmpl.ListenHost == "" {
			tmpl.ListenHost = host
		}
	}
	m.issuer = certmagic.NewACMEIssuer(m.magic, tmpl)
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

func splitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	return host, port, err
}

// Run loads the certificate from the directory, obtains it if there is none (or renews it if
// due), renews it in the background until ctx is cancelled, then stops. Failures are retried
// with backoff (a CA or a DNS record not ready yet does not stop Beffroi): Status reports them.
func (m *ACME) Run(ctx context.Context) error {
	defer m.Close()
	if err := m.magic.ManageAsync(ctx, []string{m.domain}); err != nil {
		return fmt.Errorf("tls.domain %s: %w", m.domain, err)
	}
	<-ctx.Done()
	return nil
}

// Close stops the background renewals (Run does it when it returns).
func (m *ACME) Close() {
	m.stop.Do(m.cache.Stop)
}

// onEvent notes and logs what certmagic did; it runs synchronously in certmagic's
// goroutines, so it only takes m.mu.
func (m *ACME) onEvent(_ context.Context, event string, data map[string]any) error {
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_obtaining":
		m.log.Debug("tls: obtaining a certificate", "domain", m.domain, "renewal", renewal)
	case "cert_obtained":
		m.mu.Lock()
		m.lastErr, m.lastRenewal = nil, time.Now()
		m.mu.Unlock()
		m.log.Info("tls: certificate obtained", "domain", m.domain, "renewal", renewal, "ca", data["issuer"])
	case "cert_failed":
		err, _ := data["error"].(error)
		if err == nil {
			err = errors.New("unknown error")
		}
		m.mu.Lock()
		m.lastErr, m.lastErrAt = err, time.Now()
		m.mu.Unlock()
		// ACME problems name the domain and the challenge, never the account key.
		m.log.Error("tls: cannot obtain a certificate (retrying)", "domain", m.domain, "renewal", renewal, "error", err.Error())
	}
	return nil
}

// TLSConfig is the configuration of a listener that serves the certificate: h2 and
// http/1.1 first, then acme-tls/1 for TLS-ALPN-01 validations.
func (m *ACME) TLSConfig() *tls.Config {
	c := m.magic.TLSConfig()
	c.NextProtos = append([]string{"h2", "http/1.1"}, c.NextProtos...)
	c.MinVersion = tls.VersionTLS12
	return c
}

// GetCertificate is tls.Config's GetCertificate, for listeners that speak no ALPN (RTMPS).
func (m *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.magic.GetCertificate(hello)
}

// Handler answers the HTTP-01 validations of the CA and hands every other request to next.
func (m *ACME) Handler(next http.Handler) http.Handler {
	return m.issuer.HTTPChallengeHandler(next)
}

// Status describes the certificate served and the last failure to obtain or renew one, for
// /healthz: no certificate yet, an expired one or one close to its end fails.
func (m *ACME) Status() (string, error) {
	var leaf *x509.Certificate
	if certs := m.cache.AllMatchingCertificates(m.domain); len(certs) > 0 {
		for _, c := range certs {
			if c.Leaf != nil && (leaf == nil || c.Leaf.NotAfter.After(leaf.NotAfter)) {
				leaf = c.Leaf
			}
		}
	}
	m.mu.Lock()
	lastErr, lastErrAt, lastRenewal := m.lastErr, m.lastErrAt, m.lastRenewal
	m.mu.Unlock()
	detail, err := describe(leaf, time.Now())
	if leaf == nil {
		err = fmt.Errorf("no certificate for %s yet", m.domain)
	}
	detail = "acme: " + detail
	if !lastRenewal.IsZero() {
		detail += ", obtained " + lastRenewal.UTC().Format(time.RFC3339)
	}
	if lastErr != nil {
		detail += fmt.Sprintf("; last attempt failed at %s: %v", lastErrAt.UTC().Format(time.RFC3339), lastErr)
		if err != nil {
			err = fmt.Errorf("%w (last attempt: %w)", err, lastErr)
		}
	}
	return detail, err
}

// LoadRoots reads a PEM file of CA certificates (tls.acme_ca_root) into a pool.
func LoadRoots(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", file)
	}
	return pool, nil
}
