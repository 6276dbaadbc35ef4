package tlsauto

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
)

// A certificate replaced on disk (a renewal by certbot) is served once the files are looked
// at again, without a restart; a half-written one leaves the previous pair serving.
func TestFilesReadAgain(t *testing.T) {
	certFile, keyFile, _ := testutil.SelfSignedFiles(t)
	f, err := NewFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	first := serial(t, f)

	newCert, newKey, _ := testutil.SelfSignedFiles(t)
	replace(t, newCert, certFile)
	replace(t, newKey, keyFile)
	if got := serial(t, f); got != first {
		t.Fatalf("the files were read again before %s", fileCheckInterval)
	}
	f.mu.Lock()
	f.checked = time.Now().Add(-fileCheckInterval) // as if the interval had passed
	f.mu.Unlock()
	second := serial(t, f)
	if second == first {
		t.Fatal("the replaced certificate is not served")
	}

	// A certificate file cut in the middle of a write: the previous pair goes on.
	if err := os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\nMIIB"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(certFile, future, future); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.checked = time.Now().Add(-fileCheckInterval)
	f.mu.Unlock()
	if got := serial(t, f); got != second {
		t.Errorf("serial %s after a broken file, want the previous %s", got, second)
	}
	detail, err := f.Status()
	if err != nil || !strings.Contains(detail, "cannot read the files again") || !strings.Contains(detail, "beffroi test") {
		t.Errorf("Status() = %q, %v; want the served certificate and the failed reading", detail, err)
	}

	if _, err := NewFiles(certFile, keyFile); err == nil || !strings.HasPrefix(err.Error(), "tls.cert and tls.key: ") {
		t.Errorf("NewFiles with a broken certificate: %v, want an error naming tls.cert and tls.key", err)
	}
}

func serial(t *testing.T, f *Files) string {
	t.Helper()
	c, err := f.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber.String()
}

// replace moves from over to, with a modification time later than the previous file's.
func replace(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(to, later, later); err != nil {
		t.Fatal(err)
	}
}

func TestDescribe(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	leaf := func(notBefore, notAfter time.Time) *x509.Certificate {
		c := &x509.Certificate{NotBefore: notBefore, NotAfter: notAfter, DNSNames: []string{"live.example.org"}}
		c.Issuer.CommonName = "R11"
		return c
	}
	day := 24 * time.Hour
	for _, tt := range []struct {
		name    string
		leaf    *x509.Certificate
		wantErr string
	}{
		{"fresh", leaf(now.Add(-day), now.Add(89*day)), ""},
		{"in the renewal window", leaf(now.Add(-70*day), now.Add(20*day)), ""},
		{"last tenth", leaf(now.Add(-85*day), now.Add(5*day)), "certificate for live.example.org expires in 120h0m0s and was not renewed"},
		{"expired", leaf(now.Add(-91*day), now.Add(-day)), "certificate for live.example.org expired at 2026-12-02T12:00:00Z"},
		{"none", nil, "no certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			detail, err := describe(tt.leaf, now)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if tt.leaf != nil && detail != `live.example.org, issued by "R11", expires `+tt.leaf.NotAfter.Format(time.RFC3339) {
				t.Errorf("detail %q", detail)
			}
		})
	}
}

// Before the first certificate comes (the CA not reached yet), the ACME status fails and
// says so; the account directory is for its owner only.
func TestACMEStatusBeforeTheCertificate(t *testing.T) {
	dir := t.TempDir() + "/acme"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := NewACME(ACMEConfig{Domain: "live.example.org", CA: "https://127.0.0.1:1/dir", Dir: dir,
		HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("%s: mode %v (%v), want 0700", dir, st.Mode().Perm(), err)
	}
	if _, err := m.Status(); err == nil || err.Error() != "no certificate for live.example.org yet" {
		t.Errorf("Status() error %v, want no certificate yet", err)
	}
	conn, peer := net.Pipe() // a handshake has a connection; certmagic logs its address
	defer conn.Close()
	defer peer.Close()
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "live.example.org", Conn: conn}); err == nil {
		t.Error("a certificate was served before any was obtained")
	}
}
