package auth_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/clientip"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/web/auth"
	"github.com/beffroi/beffroi/web/auth/authtest"
)

// clientFrom is a client of f whose connections leave from the loopback address src
// (127.0.0.2: "another address" of the same machine).
func (f *fixture) clientFrom(t *testing.T, src string) *client {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, f: f, http: &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second}}
}

// peakRSS is the process's peak resident memory (VmHWM) in bytes.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// TestLoginFlood: 1,000 concurrent anonymous logins (for "admin" and for random names) from
// one address leave the process's peak memory under 150 MB (its RSS, and its Go heap, which
// is what counts under the race detector), at most the per-address limit
// of them are ever checked, the flood writes one log line, and the real admin logs in from
// another address right after.
func TestLoginFlood(t *testing.T) {
	const flood = 1000
	f := newFixture(t, "")
	runtime.GC()
	// Start the peak afresh (Linux: 5 resets VmHWM), so that what earlier tests took counts
	// not; where it cannot, the peak since the start is still a bound.
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	before := peakRSS(t)

	// The Go heap's peak, sampled while the flood lasts (the race detector leaves it as it is).
	var heapPeak uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			heapPeak = max(heapPeak, sample[0].Value.Uint64())
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()

	// Each attacker is one raw connection and one goroutine: the test's own side stays small
	// beside what it measures.
	host := strings.TrimPrefix(f.srv.URL, "http://")
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range flood {
		wg.Go(func() {
			name := "admin"
			if i%2 == 1 {
				name = fmt.Sprintf("stranger-%d", i)
			}
			body := fmt.Sprintf(`{"name":%q,"password":"guess-%d"}`, name, i)
			req := fmt.Sprintf("POST /api/v1/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", host, len(body), body)
			<-start
			code := 0
			if conn, err := net.DialTimeout("tcp", host, 30*time.Second); err == nil {
				_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
				if _, err := io.WriteString(conn, req); err == nil {
					if res, err := http.ReadResponse(bufio.NewReaderSize(conn, 1024), nil); err == nil {
						res.Body.Close()
						code = res.StatusCode
						if (code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable) && res.Header.Get("Retry-After") == "" {
							code = -code // refused without saying when to come back
						}
					}
				}
				conn.Close()
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	close(stopSampling)
	<-sampled
	peak := peakRSS(t)
	t.Logf("answers %v; peak heap %d MB; peak RSS %d MB (%d MB before the flood, race detector %v)", codes, heapPeak>>20, peak>>20, before>>20, raceEnabled)
	if n := codes[http.StatusTooManyRequests] + codes[http.StatusServiceUnavailable] + codes[http.StatusUnauthorized]; n != flood {
		t.Fatalf("answers %v: want only 401, 429 and 503 (with Retry-After)", codes)
	}
	if codes[http.StatusUnauthorized] > 10 {
		t.Fatalf("%d logins were checked, beyond the per-address limit of 10: attempts are not counted before hashing", codes[http.StatusUnauthorized])
	}
	if heapPeak > 150<<20 {
		t.Fatalf("peak heap %d MB during the flood, want under 150 MB", heapPeak>>20)
	}
	if !raceEnabled && peak > 150<<20 {
		t.Fatalf("peak RSS %d MB during the flood, want under 150 MB", peak>>20)
	}
	if n := f.logs.Count("login refused"); n != 1 {
		t.Fatalf("%d \"login refused\" lines for one burst from one address, want 1:\n%s", n, f.logs.String())
	}

	// The console stays usable: the admin, from another address, logs in and works.
	admin := f.clientFrom(t, "127.0.0.2")
	if code := admin.login("admin", adminPassword); code != http.StatusOK {
		t.Fatalf("the admin after the flood: %d", code)
	}
	if code, _ := admin.do("GET", "/op", ""); code != http.StatusOK {
		t.Fatalf("the admin's session after the flood: %d", code)
	}
}

// TestAdminNotLockedOut: a stranger guessing the admin's password from one address ends up
// refused there, with the right password too, while the admin logs in from another.
func TestAdminNotLockedOut(t *testing.T) {
	f := newFixture(t, "")
	stranger := f.client(t)
	limited := false
	for i := range 40 {
		code := stranger.login("admin", "guess-"+strconv.Itoa(i))
		if code == http.StatusTooManyRequests {
			limited = true
			continue
		}
		if code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	if !limited {
		t.Fatal("40 wrong passwords from one address were never refused with 429")
	}
	if code := stranger.login("admin", adminPassword); code != http.StatusTooManyRequests {
		t.Fatalf("the right password from the guesser's address: %d, want 429", code)
	}
	admin := f.clientFrom(t, "127.0.0.2")
	if code := admin.login("admin", adminPassword); code != http.StatusOK {
		t.Fatalf("the admin from another address: %d", code)
	}
	// The refusals from the guesser's address made one line, which names its address.
	if n := f.logs.Count("login refused"); n != 1 || f.logs.Count("login refused", "remote=127.0.0.1") != 1 {
		t.Fatalf("%d \"login refused\" lines, want 1 naming 127.0.0.1:\n%s", n, f.logs.String())
	}
}

// TestLoginBehindTrustedProxy: behind a proxy in http.trusted_proxies, the limits, the log
// and the audit log see the client's address, not the proxy's.
func TestLoginBehindTrustedProxy(t *testing.T) {
	st := authtest.NewMemStore()
	logs := &testutil.LogBuffer{}
	if _, err := auth.Bootstrap(context.Background(), st, adminPassword, "", nil); err != nil {
		t.Fatal(err)
	}
	svc := &auth.Service{Store: st, Log: logs.Logger()}
	mux := http.NewServeMux()
	svc.Routes(mux)
	mux.Handle("POST /op", svc.Require(auth.Operator, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc.Audit(r, "test.change", "thing", "")
	})))
	srv := httptest.NewServer(clientip.Middleware([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, mux))
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, store: st, logs: logs}

	guesser := f.client(t)
	xffGuesser := []string{"X-Forwarded-For", "127.0.0.50"}
	limited := false
	for i := range 20 {
		b, _ := json.Marshal(map[string]string{"name": "admin", "password": "guess-" + strconv.Itoa(i)})
		if code, _ := guesser.do("POST", "/api/v1/login", string(b), xffGuesser...); code == http.StatusTooManyRequests {
			limited = true
		}
	}
	if !limited {
		t.Fatal("20 wrong passwords from one client behind the proxy were never refused")
	}
	// Another client behind the same proxy is another address.
	admin := f.client(t)
	b, _ := json.Marshal(map[string]string{"name": "admin", "password": adminPassword})
	code, body := admin.do("POST", "/api/v1/login", string(b), "X-Forwarded-For", "127.0.0.51")
	if code != http.StatusOK {
		t.Fatalf("the admin behind the proxy: %d %s", code, body)
	}
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	_ = json.Unmarshal([]byte(body), &out)
	if code, _ := admin.do("POST", "/op", "{}", auth.CSRFHeader, out.CSRF, "X-Forwarded-For", "127.0.0.51"); code != http.StatusOK {
		t.Fatalf("POST /op: %d", code)
	}
	if logs.Count("login refused", "remote=127.0.0.50") != 1 || logs.Count("logged in", "remote=127.0.0.51") != 1 {
		t.Fatalf("the log does not name the clients:\n%s", logs.String())
	}
	l, _ := st.ListAudit(context.Background(), 10)
	if len(l) == 0 || l[0].Action != "test.change" || l[0].Remote != "127.0.0.51" {
		t.Fatalf("audit %+v: want the client's address 127.0.0.51", l)
	}
}

// TestLoginNeedsJSON: a login must say it is JSON, which a cross-site form cannot.
func TestLoginNeedsJSON(t *testing.T) {
	f := newFixture(t, "")
	good := `{"name":"admin","password":"` + adminPassword + `"}`
	for _, ct := range []string{"", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", "application/jsonx"} {
		res, err := http.Post(f.srv.URL+"/api/v1/login", ct, strings.NewReader(good))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnsupportedMediaType || res.Header.Get("Set-Cookie") != "" {
			t.Fatalf("Content-Type %q: %d, cookie %q; want 415 and no session", ct, res.StatusCode, res.Header.Get("Set-Cookie"))
		}
	}
	res, err := http.Post(f.srv.URL+"/api/v1/login", "application/json; charset=utf-8", strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("application/json; charset=utf-8: %d", res.StatusCode)
	}
}

// TestLoginBounds: oversized names, passwords and bodies are refused before any check, so
// they never become limiter keys nor hashes, and the refusals do not echo the password.
func TestLoginBounds(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	long := strings.Repeat("n", 65)
	for _, body := range []string{
		`{"name":"` + long + `","password":"x"}`,
		`{"name":"admin","password":"` + strings.Repeat("p", 1025) + `"}`,
		`{"name":"admin","password":"` + strings.Repeat("p", 5000) + `"}`,
		`{"name":"","password":"x"}`,
		`{"name":"admin","password":"x","extra":1}`,
		`{"name":"admin","password":"x"} {}`,
		`{"name":1,"password":"x"}`,
		`not json`,
	} {
		code, out := c.do("POST", "/api/v1/login", body)
		if code != http.StatusBadRequest {
			t.Fatalf("%.60s: %d %s", body, code, out)
		}
		if strings.Contains(out, "ppppp") || strings.Contains(out, long) {
			t.Fatalf("the answer echoes the request: %s", out)
		}
	}
	// None of these counted: the right password still works at once.
	if code := c.login("admin", adminPassword); code != http.StatusOK {
		t.Fatalf("login after refused bodies: %d", code)
	}
	if n := f.logs.Count("login refused"); n != 0 {
		t.Fatalf("malformed bodies made %d refusal lines", n)
	}
}

// TestFirstLoginMustChangePassword: the one-time password of the first start opens a session
// that may only choose a new password; then the one-time password stops working.
func TestFirstLoginMustChangePassword(t *testing.T) {
	const initToken = "bootstrap-token-0123456789"
	st := authtest.NewMemStore()
	logs := &testutil.LogBuffer{}
	oneTime, err := auth.Bootstrap(context.Background(), st, "", initToken, logs.Logger())
	if err != nil || oneTime == "" {
		t.Fatalf("bootstrap: %q, %v", oneTime, err)
	}
	svc := &auth.Service{Store: st, Log: logs.Logger()}
	mux := http.NewServeMux()
	svc.Routes(mux)
	mux.Handle("/op", svc.Require(auth.Operator, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, store: st, logs: logs}

	c := f.client(t)
	b, _ := json.Marshal(map[string]string{"name": "admin", "password": oneTime})
	code, body := c.do("POST", "/api/v1/login", string(b))
	var in struct {
		CSRF string `json:"csrf_token"`
		Must bool   `json:"must_change_password"`
	}
	_ = json.Unmarshal([]byte(body), &in)
	if code != http.StatusOK || !in.Must {
		t.Fatalf("login with the one-time password: %d %s; want must_change_password", code, body)
	}
	c.csrf = in.CSRF
	for _, m := range []string{"GET", "POST"} {
		if code, body := c.do(m, "/op", "{}", auth.CSRFHeader, c.csrf); code != http.StatusForbidden || !strings.Contains(body, "new password") {
			t.Fatalf("%s /op before the change: %d %s", m, code, body)
		}
	}
	if code, body := c.do("GET", "/api/v1/users", ""); code != http.StatusForbidden || !strings.Contains(body, "new password") {
		t.Fatalf("GET /api/v1/users before the change: %d %s", code, body)
	}
	if code, body := c.do("GET", "/api/v1/me", ""); code != http.StatusOK || !strings.Contains(body, `"must_change_password": true`) {
		t.Fatalf("GET /api/v1/me before the change: %d %s", code, body)
	}
	// The API token BEFFROI_ADMIN_TOKEN was chosen by the operator: it works as it is.
	if code, _ := c.do("GET", "/op", "", "Authorization", "Bearer "+initToken); code != http.StatusOK {
		t.Fatalf("the init token while the password must change: %d", code)
	}
	b, _ = json.Marshal(map[string]string{"current": oneTime, "new": oneTime})
	if code, _ := c.do("POST", "/api/v1/me/password", string(b), auth.CSRFHeader, c.csrf); code != http.StatusBadRequest {
		t.Fatalf("the one-time password as the new one: %d", code)
	}
	const chosen = "chosen-by-the-admin-1"
	b, _ = json.Marshal(map[string]string{"current": oneTime, "new": chosen})
	if code, body := c.do("POST", "/api/v1/me/password", string(b), auth.CSRFHeader, c.csrf); code != http.StatusNoContent {
		t.Fatalf("change: %d %s", code, body)
	}
	// This session goes on, now unrestricted.
	if code, body := c.do("POST", "/op", "{}", auth.CSRFHeader, c.csrf); code != http.StatusOK {
		t.Fatalf("POST /op after the change: %d %s", code, body)
	}
	if code, body := c.do("GET", "/api/v1/me", ""); code != http.StatusOK || !strings.Contains(body, `"must_change_password": false`) {
		t.Fatalf("GET /api/v1/me after the change: %d %s", code, body)
	}
	other := f.client(t)
	if code := other.login("admin", oneTime); code != http.StatusUnauthorized {
		t.Fatalf("the one-time password after the change: %d", code)
	}
	b, _ = json.Marshal(map[string]string{"name": "admin", "password": chosen})
	if code, body := other.do("POST", "/api/v1/login", string(b)); code != http.StatusOK || !strings.Contains(body, `"must_change_password": false`) {
		t.Fatalf("login with the new password: %d %s", code, body)
	}
	testutil.AssertNoSecret(t, "log", logs.String(), oneTime, chosen)
}

// TestChosenAdminPasswordNeedsNoChange: BEFFROI_ADMIN_PASSWORD is the operator's choice.
func TestChosenAdminPasswordNeedsNoChange(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	b, _ := json.Marshal(map[string]string{"name": "admin", "password": adminPassword})
	if code, body := c.do("POST", "/api/v1/login", string(b)); code != http.StatusOK || !strings.Contains(body, `"must_change_password": false`) {
		t.Fatalf("login: %d %s", code, body)
	}
	if code, _ := c.do("GET", "/op", ""); code != http.StatusOK {
		t.Fatalf("GET /op: %d", code)
	}
}
