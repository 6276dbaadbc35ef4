package tlsauto

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// fileCheckInterval is how often Files looks at its files' modification times: a certificate
// renewed on disk (certbot, the town's own PKI) is served within that time, without a restart.
const fileCheckInterval = 30 * time.Second

// Files serves the certificate of a PEM certificate file (with its chain) and its key file,
// read again once they change.
type Files struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time // of the files last read (the later of the two)
	checked time.Time // when the modification times were last looked at
	lastErr error     // the last reading that failed (the previous certificate is kept)
}

// NewFiles reads the key pair; a pair that cannot be read is an error.
func NewFiles(certFile, keyFile string) (*Files, error) {
	f := &Files{certFile: certFile, keyFile: keyFile}
	if err := f.load(time.Now()); err != nil {
		return nil, err
	}
	return f, nil
}

// load reads the pair if it changed since the last reading; under f.mu or before f is shared.
func (f *Files) load(now time.Time) error {
	f.checked = now
	mod, err := f.modified()
	if err != nil {
		return err
	}
	if f.cert != nil && !mod.After(f.modTime) {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		// crypto/tls describes the problem, never the key material.
		return fmt.Errorf("tls.cert and tls.key: %w", err)
	}
	f.cert, f.modTime = &pair, mod
	return nil
}

func (f *Files) modified() (time.Time, error) {
	var latest time.Time
	for _, name := range []string{f.certFile, f.keyFile} {
		st, err := os.Stat(name)
		if err != nil {
			return time.Time{}, err
		}
		if st.ModTime().After(latest) {
			latest = st.ModTime()
		}
	}
	return latest, nil
}

// GetCertificate is tls.Config's GetCertificate: the key pair, read again if its files
// changed (looked at every fileCheckInterval at most).
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) >= fileCheckInterval {
		// A file half-written by a renewal fails to load: the previous pair goes on serving.
		f.lastErr = f.load(now)
	}
	return f.cert, nil
}

// Status describes the certificate served, for /healthz; see describe.
func (f *Files) Status() (string, error) {
	f.mu.Lock()
	cert, lastErr := f.cert, f.lastErr
	f.mu.Unlock()
	detail, err := describe(cert.Leaf, time.Now())
	if lastErr != nil {
		detail += "; cannot read the files again: " + lastErr.Error()
	}
	return "files: " + detail, err
}

// describe says which certificate is served and until when, and fails when it has expired or
// is in the last tenth of its lifetime (renewal should have happened long before: ACME
// clients renew with a third left).
func describe(leaf *x509.Certificate, now time.Time) (string, error) {
	if leaf == nil {
		return "", errors.New("no certificate")
	}
	name := leaf.Subject.CommonName
	if len(leaf.DNSNames) > 0 {
		name = leaf.DNSNames[0]
	}
	detail := fmt.Sprintf("%s, issued by %q, expires %s", name, leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))
	lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
	switch left := leaf.NotAfter.Sub(now); {
	case left <= 0:
		return detail, fmt.Errorf("certificate for %s expired at %s", name, leaf.NotAfter.UTC().Format(time.RFC3339))
	case left < lifetime/10:
		return detail, fmt.Errorf("certificate for %s expires in %s and was not renewed", name, left.Round(time.Second))
	}
	return detail, nil
}
