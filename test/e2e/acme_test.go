package e2e

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
)

// acmeDomain is the name Beffroi gets its certificate for in TestHTTPSByACME: the test's DNS
// server (pebble-challtestsrv) answers 127.0.0.1 for it, and Chromium maps it there.
const acmeDomain = "live.beffroi.test"

// pebbleCA is a letsencrypt/pebble ACME server on loopback ports, with pebble-challtestsrv as
// the DNS server its validation authority asks.
type pebbleCA struct {
	Directory  string         // the ACME directory URL
	RootFile   string         // PEM of the certificate pebble's own HTTPS is served with
	serverPool *x509.CertPool // trusts that certificate
	mgmt       string         // the management interface (its issuing roots)
}

// requirePebble returns the paths of pebble and pebble-challtestsrv, or skips the test
// (fails it with BEFFROI_E2E=require) when they are not installed.
func requirePebble(t *testing.T) (pebble, challtestsrv string) {
	t.Helper()
	var missing []string
	find := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		missing = append(missing, name)
		return ""
	}
	pebble, challtestsrv = find("pebble"), find("pebble-challtestsrv")
	if len(missing) > 0 {
		msg := strings.Join(missing, ", ") + " not installed (go install github.com/letsencrypt/pebble/v2/cmd/...@v2.10.3, or run .ci/run)"
		if os.Getenv("BEFFROI_E2E") == "require" {
			t.Fatal(msg + "; BEFFROI_E2E=require")
		}
		t.Skip(msg)
	}
	return pebble, challtestsrv
}

// startPebble runs pebble, validating HTTP-01 on httpPort and TLS-ALPN-01 on tlsPort of
// 127.0.0.1, issuing certificates valid for validity.
func startPebble(t *testing.T, httpPort, tlsPort int, validity time.Duration) *pebbleCA {
	t.Helper()
	pebble, challtestsrv := requirePebble(t)
	dir := t.TempDir()
	certFile, keyFile, pool := testutil.SelfSignedFiles(t)
	dns := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	startProcess(t, t.Context(), "pebble-challtestsrv", challtestsrv,
		"-dnsserver", dns, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-management", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	listen, mgmt := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": httpPort, "tlsPort": tlsPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
		"profiles": map[string]any{"default": map[string]any{
			"description": "short-lived, to see renewals", "validityPeriod": int(validity.Seconds()),
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	// No sleep before validations, and no nonce rejected on purpose: the test is about
	// issuance and renewal, not about the client's retries.
	p := startProcess(t, t.Context(), "pebble", "env", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0",
		pebble, "-config", confFile, "-dnsserver", dns)
	ca := &pebbleCA{Directory: "https://" + listen + "/dir", RootFile: certFile, serverPool: pool, mgmt: mgmt}
	testutil.Eventually(t, 20*time.Second, func() error {
		if p.Exited() {
			t.Fatalf("pebble exited: %v\n%s", p.err, p.stderr.String())
		}
		_, err := ca.get(ca.Directory)
		return err
	})
	return ca
}

func (ca *pebbleCA) get(url string) ([]byte, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.serverPool, MinVersion: tls.VersionTLS12},
	}}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, err
}

// Roots returns pebble's issuing root (made at its start), which the certificates it
// issues chain to.
func (ca *pebbleCA) Roots(t *testing.T) *x509.CertPool {
	t.Helper()
	body, err := ca.get("https://" + ca.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(body) {
		t.Fatalf("pebble's root is not PEM: %q", body)
	}
	return pool
}

// servedChain is the certificate chain a TLS server at addr presents for acmeDomain, verified
// against roots.
func servedChain(addr string, roots *x509.CertPool) ([]*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, &tls.Config{
		ServerName: acmeDomain, RootCAs: roots, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates, nil
}

// TestHTTPSByACME: Beffroi, with tls.domain and a real ACME server on loopback (pebble),
// gets its certificate over ACME by itself, serves HTTPS with it (the go-live page in headless
// Chromium that trusts only pebble's CA: the page opens the camera, which needs a secure
// context, and goes live over WHIP on HTTPS), redirects plain HTTP, gives RTMPS the same
// certificate and reports it in /healthz; the certificate, short-lived, is renewed and the new
// one is served, on HTTPS and RTMPS, by the same process.
func TestHTTPSByACME(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	httpPort, httpsPort := freePort(t), freePort(t)
	ca := startPebble(t, httpPort, httpsPort, 20*time.Second)
	roots := ca.Roots(t)

	dataDir := t.TempDir()
	conf := processConfig(dataDir, fmt.Sprintf(`streams:
  - name: event
    publish_key: %s
tls:
  domain: %s
  email: communication@ville-exemple.fr
  acme_ca: %s
  acme_ca_root: %s
  https_listen: 127.0.0.1:%d
  http_listen: 127.0.0.1:%d
  renew_interval: 1s
`, publishKey, acmeDomain, ca.Directory, ca.RootFile, httpsPort, httpPort))
	b := startBeffroiProcessWith(t, "beffroi", dataDir, conf)
	https := fmt.Sprintf("127.0.0.1:%d", httpsPort)
	rtmps := listenAddr(t, b, "rtmps")

	// Issued by pebble: the chain the HTTPS port serves verifies against pebble's root.
	var first []*x509.Certificate
	testutil.Eventually(t, 30*time.Second, func() (err error) {
		first, err = servedChain(https, roots)
		return err
	})
	leaf := first[0]
	t.Logf("issued: serial %x by %q, %s to %s", leaf.SerialNumber, leaf.Issuer.CommonName, leaf.NotBefore, leaf.NotAfter)
	if !strings.HasPrefix(leaf.Issuer.CommonName, "Pebble Intermediate CA") || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeDomain {
		t.Errorf("certificate for %v issued by %q, want %s by pebble's intermediate", leaf.DNSNames, leaf.Issuer.CommonName, acmeDomain)
	}
	if len(first) < 2 {
		t.Fatalf("the server sent %d certificate(s), want the leaf and pebble's intermediate", len(first))
	}

	// RTMPS has the ACME certificate too (this one or its renewal, if it came already).
	if chain, err := servedChain(rtmps, roots); err != nil {
		t.Errorf("RTMPS %s: %v", rtmps, err)
	} else if chain[0].Issuer.CommonName != leaf.Issuer.CommonName {
		t.Errorf("RTMPS serves a certificate issued by %q", chain[0].Issuer.CommonName)
	}

	// Plain HTTP redirects to HTTPS, on the configured domain whatever the Host said.
	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/go-live/event?x=1", httpPort), nil)
	req.Host = "attacker.example"
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := fmt.Sprintf("https://%s:%d/go-live/event?x=1", acmeDomain, httpsPort); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
		t.Errorf("GET over HTTP: %s to %q, want 301 to %q", resp.Status, resp.Header.Get("Location"), want)
	}

	// /healthz over HTTPS names the certificate.
	checkCertificateHealth(t, https, roots)

	// The go-live page over HTTPS in Chromium, which knows acmeDomain only from a resolver
	// rule and trusts no CA but pebble's (by its intermediate's and root's public keys).
	spki := spkiHash(first[1]) + "," + spkiHash(rootOf(t, ca))
	chromiumArgs, _ := json.Marshal([]string{
		"--host-resolver-rules=MAP " + acmeDomain + " 127.0.0.1",
		"--ignore-certificate-errors-spki-list=" + spki,
	})
	page := fmt.Sprintf("https://%s:%d/go-live/event#key=%s", acmeDomain, httpsPort, publishKey)
	events := runGoLive(t, page, 3, 0, "", "BEFFROI_CHROMIUM_ARGS="+string(chromiumArgs))
	e, ok := findEvent(events, "tls")
	if !ok {
		t.Fatal("the go-live page reported no TLS connection")
	}
	var served struct {
		Issuer, Protocol string
		SecureContext    bool
	}
	if err := json.Unmarshal([]byte(e.Text), &served); err != nil {
		t.Fatal(err)
	}
	// (pebble's intermediate has a name of its own, made at its start.)
	if served.Issuer != first[1].Subject.CommonName || !served.SecureContext {
		t.Errorf("Chromium was served %+v, want a certificate issued by %q, in a secure context", served, first[1].Subject.CommonName)
	}
	if _, ok := findEvent(events, "connected"); !ok {
		t.Error("the go-live page did not go live over HTTPS")
	}

	// Renewal: a certificate of another serial comes, on HTTPS and RTMPS, in the same process.
	var renewed []*x509.Certificate
	testutil.Eventually(t, 60*time.Second, func() (err error) {
		if b.Exited() {
			t.Fatalf("beffroi exited: %v", b.err)
		}
		if renewed, err = servedChain(https, roots); err != nil {
			return err
		}
		if renewed[0].SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			return errors.New("still the first certificate")
		}
		return nil
	})
	t.Logf("renewed: serial %x, %s to %s", renewed[0].SerialNumber, renewed[0].NotBefore, renewed[0].NotAfter)
	testutil.Eventually(t, 30*time.Second, func() error {
		chain, err := servedChain(rtmps, roots)
		if err != nil {
			return err
		}
		if chain[0].SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			return errors.New("RTMPS still serves the first certificate")
		}
		return nil
	})
	if !strings.Contains(b.stderr.String(), `"renewal":true`) {
		t.Error(`no "tls: certificate obtained" log line with renewal true`)
	}
	checkCertificateHealth(t, https, roots)

	// The account key and the certificates' keys are in <data_dir>/acme, for its owner only.
	acme := filepath.Join(dataDir, "acme")
	if st, err := os.Stat(acme); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, mode %v, want 0700", acme, err, st.Mode().Perm())
	}
	keys := 0
	_ = filepath.WalkDir(acme, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".key") {
			keys++
			if st, err := os.Stat(path); err == nil && st.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", path, st.Mode().Perm())
			}
		}
		return nil
	})
	if keys < 2 {
		t.Errorf("%d key files in %s, want the account's and the certificate's", keys, acme)
	}
	if strings.Contains(b.stderr.String(), "PRIVATE KEY") {
		t.Error("a private key reached the log")
	}
}

// checkCertificateHealth checks that /healthz over HTTPS reports the certificate as sound.
func checkCertificateHealth(t *testing.T, addr string, roots *x509.CertPool) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: acmeDomain, RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	testutil.Eventually(t, 10*time.Second, func() error {
		resp, err := c.Get("https://" + addr + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var h struct {
			Checks map[string]struct {
				Status, Detail, Error string
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			return err
		}
		cert := h.Checks["certificate"]
		if cert.Status != "ok" || !strings.Contains(cert.Detail, acmeDomain) || !strings.Contains(cert.Detail, "Pebble") {
			return fmt.Errorf("/healthz certificate check: %+v", cert)
		}
		return nil
	})
}

// listenAddr is the address a Beffroi process logged for protocol ("listening").
func listenAddr(t *testing.T, b *beffroiProcess, protocol string) string {
	t.Helper()
	for l := range strings.Lines(b.stderr.String()) {
		var e struct{ Msg, Protocol, Addr string }
		if json.Unmarshal([]byte(l), &e) == nil && e.Msg == "listening" && e.Protocol == protocol {
			return e.Addr
		}
	}
	t.Fatalf("no %s listener in the log", protocol)
	return ""
}

// rootOf is pebble's issuing root certificate.
func rootOf(t *testing.T, ca *pebbleCA) *x509.Certificate {
	t.Helper()
	body, err := ca.get("https://" + ca.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		t.Fatalf("pebble's root is not PEM: %q", body)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// spkiHash is a certificate's public key hash as Chromium's
// --ignore-certificate-errors-spki-list takes it.
func spkiHash(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
