package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
)

const adminPassword = "e2e-admin-password"

// operator is a browser-like client of the operator API: a cookie jar and the CSRF token.
type operator struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

func newOperator(t *testing.T, b *beffroi) *operator {
	jar, _ := cookiejar.New(nil)
	return &operator{t: t, base: "http://" + b.HTTPAddr(), http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// do sends a request; with csrf the session's CSRF token goes along.
func (o *operator) do(method, path, body string, csrf bool) (int, map[string]any, string) {
	o.t.Helper()
	req, _ := http.NewRequest(method, o.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf {
		req.Header.Set("X-CSRF-Token", o.csrf)
	}
	res, err := o.http.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res.StatusCode, m, string(b)
}

func (o *operator) login(name, pw string) {
	o.t.Helper()
	code, m, body := o.do("POST", "/api/v1/login", fmt.Sprintf(`{"name":%q,"password":%q}`, name, pw), false)
	if code != http.StatusOK {
		o.t.Fatalf("login %s: %d %s", name, code, body)
	}
	o.csrf, _ = m["csrf_token"].(string)
}

// TestOperatorAPI runs an event through the operator API as the console does: log in, make a
// stream, publish to the URL it gives with ffmpeg, add a platform (nginx) from the custom
// RTMP preset while live, switch it off and on, and check that no key ever comes back.
func TestOperatorAPI(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	n := startNginx(t)
	b := startBeffroi(t, func(c *config.Config) { c.Admin.Password = adminPassword })
	op := newOperator(t, b)
	op.login("admin", adminPassword)

	code, m, body := op.do("POST", "/api/v1/streams", `{"name":"fete"}`, true)
	if code != http.StatusCreated {
		t.Fatalf("create stream: %d %s", code, body)
	}
	key := m["publish_key"].(string)
	urls := m["publish"].(map[string]any)
	rtmpURL := urls["rtmp"].(string)
	if !strings.HasSuffix(rtmpURL, "/live/"+key) || !strings.Contains(urls["go_live"].(string), "/go-live/fete#key=") {
		t.Fatalf("publish URLs: %v", urls)
	}
	publish(t, t.Context(), rtmpURL, clip, 60)
	waitStream(t, b, "fete", "live", 15*time.Second)

	const platformKey = "nginx-key-5e2a91"
	ingest := strings.TrimSuffix(n.URL(platformKey), "/"+platformKey)
	code, _, body = op.do("POST", "/api/v1/streams/fete/destinations",
		fmt.Sprintf(`{"name":"plateforme","preset":"custom-rtmp","ingest_url":%q,"key":%q}`, ingest, platformKey), true)
	if code != http.StatusCreated {
		t.Fatalf("add destination: %d %s", code, body)
	}
	waitDest(t, b, "fete", "plateforme", outputs.StateLive, 15*time.Second)
	testutil.Eventually(t, 15*time.Second, func() error {
		if recs := n.Recordings(); len(recs) != 1 || fileSize(recs[0]) < 300_000 {
			return fmt.Errorf("nginx recordings: %v", recs)
		}
		return nil
	})
	code, _, body = op.do("PATCH", "/api/v1/streams/fete/destinations/plateforme", `{"enabled":false}`, true)
	if code != http.StatusOK {
		t.Fatalf("switch off: %d %s", code, body)
	}
	waitDest(t, b, "fete", "plateforme", outputs.StateDisabled, 10*time.Second)
	n.WaitClosed(t, 1)
	time.Sleep(time.Until(fileTime(t, n.Recordings()[0]).Add(1100 * time.Millisecond))) // record_unique names by the second
	if code, _, body := op.do("PATCH", "/api/v1/streams/fete/destinations/plateforme", `{"enabled":true}`, true); code != http.StatusOK {
		t.Fatalf("switch on: %d %s", code, body)
	}
	waitDest(t, b, "fete", "plateforme", outputs.StateLive, 15*time.Second)
	testutil.Eventually(t, 15*time.Second, func() error {
		if recs := n.Recordings(); len(recs) != 2 {
			return fmt.Errorf("nginx recordings: %v, want 2", recs)
		}
		return nil
	})
	if code, _, body := op.do("PATCH", "/api/v1/streams/fete/destinations/plateforme", `{"enabled":false}`, true); code != http.StatusOK {
		t.Fatalf("switch off: %d %s", code, body)
	}
	n.WaitClosed(t, 2)
	p := probe(t, n.Recordings()[0])
	if p.Video != "h264" || p.Audio != "aac" {
		t.Fatalf("what the platform received: %+v", p)
	}

	// The session is being recorded: title it.
	code, m, body = op.do("GET", "/api/v1/recordings?stream=fete", "", false)
	recs, _ := m["recordings"].([]any)
	if code != http.StatusOK || len(recs) != 1 {
		t.Fatalf("recordings of the stream: %d %s", code, body)
	}
	id := recs[0].(map[string]any)["id"].(string)
	if code, _, body := op.do("PATCH", "/api/v1/recordings/"+id, `{"title":"Fête de la musique"}`, true); code != http.StatusOK {
		t.Fatalf("title the recording: %d %s", code, body)
	}
	if code, _, _ := op.do("PATCH", "/api/v1/recordings/"+id, `{"title":"x"}`, false); code != http.StatusForbidden {
		t.Fatalf("title without the CSRF token: %d", code)
	}

	// Reads show neither key; the audit log says who did what.
	_, _, list := op.do("GET", "/api/v1/streams", "", false)
	_, _, audit := op.do("GET", "/api/v1/audit", "", false)
	for what, s := range map[string]string{"stream list": list, "audit": audit, "log": b.Logs.String()} {
		testutil.AssertNoSecret(t, what, s, key, platformKey, adminPassword)
	}
	for _, want := range []string{`"stream.create"`, `"destination.create"`, `"destination.disable"`, `"destination.enable"`, `"fete/plateforme"`, `"recording.update"`} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log misses %s:\n%s", want, audit)
		}
	}
}

// TestOperatorAPISecurity: every state-changing route refuses a request without a session,
// with a session but without its CSRF token, and (for admin routes) from an operator; reads
// need a session or a token too; login is rate-limited.
func TestOperatorAPISecurity(t *testing.T) {
	t.Parallel()
	b := startBeffroi(t, func(c *config.Config) { c.Admin.Password = adminPassword })
	admin := newOperator(t, b)
	admin.login("admin", adminPassword)
	if code, _, body := admin.do("POST", "/api/v1/users", `{"name":"lou","role":"operator","password":"operator-password"}`, true); code != http.StatusCreated {
		t.Fatalf("create operator: %d %s", code, body)
	}
	opr := newOperator(t, b)
	opr.login("lou", "operator-password")
	anon := newOperator(t, b)

	type route struct{ method, path, body string }
	operatorRoutes := []route{
		{"POST", "/api/v1/streams", `{"name":"x1"}`},
		{"DELETE", "/api/v1/streams/event", ""},
		{"POST", "/api/v1/streams/event/rotate-key", ""},
		{"POST", "/api/v1/streams/event/destinations", `{"name":"d","url":"rtmp://127.0.0.1:9/a/b"}`},
		{"PATCH", "/api/v1/streams/event/destinations/d", `{"enabled":false}`},
		{"DELETE", "/api/v1/streams/event/destinations/d", ""},
		{"POST", "/api/v1/logout", ""},
		{"POST", "/api/v1/me/password", `{"current":"x","new":"yyyyyyyyyyyy"}`},
	}
	adminRoutes := []route{
		{"POST", "/api/v1/users", `{"name":"z","password":"zzzzzzzzzzzz"}`},
		{"PATCH", "/api/v1/users/1", `{"role":"admin"}`},
		{"DELETE", "/api/v1/users/1", ""},
		{"POST", "/api/v1/tokens", `{"name":"t"}`},
		{"DELETE", "/api/v1/tokens/1", ""},
	}
	for _, r := range append(append([]route{}, operatorRoutes...), adminRoutes...) {
		if code, _, body := anon.do(r.method, r.path, r.body, false); code != http.StatusUnauthorized {
			t.Errorf("%s %s without a session: %d %s", r.method, r.path, code, body)
		}
		if code, _, body := opr.do(r.method, r.path, r.body, false); code != http.StatusForbidden {
			t.Errorf("%s %s without the CSRF token: %d %s", r.method, r.path, code, body)
		}
	}
	for _, r := range adminRoutes {
		if code, _, body := opr.do(r.method, r.path, r.body, true); code != http.StatusForbidden || !strings.Contains(body, "admin") {
			t.Errorf("%s %s by an operator: %d %s", r.method, r.path, code, body)
		}
	}
	for _, p := range []string{"/api/v1/streams", "/api/v1/streams/event", "/api/v1/presets", "/api/v1/users", "/api/v1/audit", "/api/v1/me"} {
		if code, _, _ := anon.do("GET", p, "", false); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %d", p, code)
		}
	}
	if code, _, _ := anon.do("GET", "/healthz", "", false); code != http.StatusOK {
		t.Errorf("/healthz is for everyone: %d", code)
	}
	// The API token from BEFFROI_ADMIN_TOKEN reads without a cookie.
	if _, err := b.get("/api/v1/streams"); err != nil {
		t.Errorf("token read: %v", err)
	}
	// Rate limiting.
	limited := false
	for i := range 12 {
		code, _, _ := anon.do("POST", "/api/v1/login", fmt.Sprintf(`{"name":"admin","password":"guess-%d"}`, i), false)
		if code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("12 wrong passwords were never refused with 429")
	}
	testutil.AssertNoSecret(t, "log", b.Logs.String(), adminPassword, "operator-password", "guess-1")
}
