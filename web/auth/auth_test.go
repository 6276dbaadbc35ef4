package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/web/auth"
	"github.com/beffroi/beffroi/web/auth/authtest"
)

func TestMemStoreConformance(t *testing.T) { authtest.StoreConformance(t, authtest.NewMemStore()) }

func TestPasswordHash(t *testing.T) {
	h, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "correct") {
		t.Fatalf("hash %q", h)
	}
	if !auth.CheckPassword(h, "correct horse battery") || auth.CheckPassword(h, "correct horse batterz") {
		t.Fatal("CheckPassword")
	}
	h2, _ := auth.HashPassword("correct horse battery")
	if h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "$argon2id$", "$argon2id$v=19$m=99999999,t=2,p=1$AAAA$AAAA", "$bcrypt$x$y$z$w"} {
		if auth.CheckPassword(bad, "x") {
			t.Fatalf("CheckPassword accepted %q", bad)
		}
	}
}

const adminPassword = "s3cret-admin-pw"

type fixture struct {
	srv   *httptest.Server
	store *authtest.MemStore
	logs  *testutil.LogBuffer
}

// newFixture serves the account routes and two protected routes: GET/POST /op (operator)
// and POST /admin (admin).
func newFixture(t *testing.T, adminToken string) *fixture {
	t.Helper()
	st := authtest.NewMemStore()
	logs := &testutil.LogBuffer{}
	if _, err := auth.Bootstrap(context.Background(), st, adminPassword, adminToken, logs.Logger()); err != nil {
		t.Fatal(err)
	}
	svc := &auth.Service{Store: st, Log: logs.Logger()}
	mux := http.NewServeMux()
	svc.Routes(mux)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc.Audit(r, "test.change", "thing", "")
		_, _ = io.WriteString(w, "done by "+auth.From(r.Context()).Name())
	})
	mux.Handle("/op", svc.Require(auth.Operator, ok))
	mux.Handle("POST /admin", svc.Require(auth.Admin, ok))
	mux.HandleFunc("/is-operator", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strconv.FormatBool(svc.Is(r, auth.Operator)))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: st, logs: logs}
}

type client struct {
	t    *testing.T
	f    *fixture
	http *http.Client
	csrf string
}

func (f *fixture) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, f: f, http: &http.Client{Jar: jar}}
}

func (c *client) do(method, path, body string, hdr ...string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.f.srv.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (c *client) login(name, pw string) int {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"name": name, "password": pw})
	code, body := c.do("POST", "/api/v1/login", string(b))
	if code == http.StatusOK {
		var out struct {
			CSRF string `json:"csrf_token"`
		}
		_ = json.Unmarshal([]byte(body), &out)
		c.csrf = out.CSRF
	}
	return code
}

func TestSessionsCSRFAndRoles(t *testing.T) {
	f := newFixture(t, "")
	anon := f.client(t)
	if code, body := anon.do("POST", "/op", "{}"); code != http.StatusUnauthorized || !strings.Contains(body, "log in") {
		t.Fatalf("no session: %d %s", code, body)
	}
	if code, _ := anon.do("GET", "/api/v1/me", ""); code != http.StatusUnauthorized {
		t.Fatalf("me without session: %d", code)
	}

	admin := f.client(t)
	if code := admin.login("admin", "wrong password"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	if code := admin.login("admin", adminPassword); code != http.StatusOK || admin.csrf == "" {
		t.Fatalf("login: %d, csrf %q", code, admin.csrf)
	}
	// The cookie is HttpOnly and SameSite.
	res, _ := http.Post(f.srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"name":"admin","password":"`+adminPassword+`"}`))
	res.Body.Close()
	sc := res.Header.Get("Set-Cookie")
	if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
		t.Fatalf("Set-Cookie %q", sc)
	}
	if code, _ := admin.do("GET", "/op", ""); code != http.StatusOK {
		t.Fatalf("GET with a session: %d", code)
	}
	if code, body := admin.do("POST", "/op", "{}"); code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Fatalf("POST without CSRF token: %d %s", code, body)
	}
	if code, _ := admin.do("POST", "/op", "{}", auth.CSRFHeader, "forged"); code != http.StatusForbidden {
		t.Fatalf("POST with a wrong CSRF token: %d", code)
	}
	if code, body := admin.do("POST", "/op", "{}", auth.CSRFHeader, admin.csrf); code != http.StatusOK || body != "done by admin" {
		t.Fatalf("POST with the CSRF token: %d %s", code, body)
	}

	// An operator made by the admin can run streams but not administer.
	code, body := admin.do("POST", "/api/v1/users", `{"name":"lou","role":"operator","password":"operator-pw-1"}`, auth.CSRFHeader, admin.csrf)
	if code != http.StatusCreated || strings.Contains(body, "operator-pw-1") || strings.Contains(body, "argon2") {
		t.Fatalf("create user: %d %s", code, body)
	}
	if code, _ := admin.do("POST", "/api/v1/users", `{"name":"lou","password":"operator-pw-1"}`, auth.CSRFHeader, admin.csrf); code != http.StatusConflict {
		t.Fatalf("a taken name: %d", code)
	}
	if code, _ := admin.do("POST", "/api/v1/users", `{"name":"x","password":"short"}`, auth.CSRFHeader, admin.csrf); code != http.StatusBadRequest {
		t.Fatalf("a short password: %d", code)
	}
	op := f.client(t)
	if code := op.login("lou", "operator-pw-1"); code != http.StatusOK {
		t.Fatalf("operator login: %d", code)
	}
	if code, _ := op.do("POST", "/op", "{}", auth.CSRFHeader, op.csrf); code != http.StatusOK {
		t.Fatalf("operator on an operator route: %d", code)
	}
	if code, body := op.do("POST", "/admin", "{}", auth.CSRFHeader, op.csrf); code != http.StatusForbidden || !strings.Contains(body, "admin role") {
		t.Fatalf("operator on an admin route: %d %s", code, body)
	}
	if code, _ := op.do("GET", "/api/v1/users", ""); code != http.StatusForbidden {
		t.Fatalf("operator lists users: %d", code)
	}
	// A session of one user does not carry another's CSRF token.
	if code, _ := op.do("POST", "/op", "{}", auth.CSRFHeader, admin.csrf); code != http.StatusForbidden {
		t.Fatalf("another session's CSRF token: %d", code)
	}

	// The last admin cannot be demoted or deleted.
	if code, _ := admin.do("PATCH", "/api/v1/users/1", `{"role":"operator"}`, auth.CSRFHeader, admin.csrf); code != http.StatusConflict {
		t.Fatalf("demoting the last admin: %d", code)
	}
	// Logout ends the session.
	if code, _ := op.do("POST", "/api/v1/logout", "", auth.CSRFHeader, op.csrf); code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := op.do("GET", "/op", ""); code != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", code)
	}

	// The audit log names who changed what.
	code, body = admin.do("GET", "/api/v1/audit", "")
	if code != http.StatusOK || !strings.Contains(body, `"user.create"`) || !strings.Contains(body, `"lou"`) || !strings.Contains(body, `"test.change"`) {
		t.Fatalf("audit: %d %s", code, body)
	}
	testutil.AssertNoSecret(t, "log", f.logs.String(), adminPassword, "operator-pw-1")
}

func TestAPITokens(t *testing.T) {
	const initToken = "bootstrap-token-0123456789"
	f := newFixture(t, initToken)
	c := f.client(t)
	// The init token works without any CSRF token: it is not a cookie.
	code, body := c.do("POST", "/admin", "{}", "Authorization", "Bearer "+initToken)
	if code != http.StatusOK || !strings.Contains(body, "token BEFFROI_ADMIN_TOKEN") {
		t.Fatalf("init token: %d %s", code, body)
	}
	code, body = c.do("POST", "/api/v1/tokens", `{"name":"website"}`, "Authorization", "Bearer "+initToken)
	var made struct {
		Token struct{ ID int64 }
		Value string
	}
	_ = json.Unmarshal([]byte(body), &made)
	if code != http.StatusCreated || !strings.HasPrefix(made.Value, "bfr_") {
		t.Fatalf("create token: %d %s", code, body)
	}
	if code, _ := c.do("GET", "/op", "", "Authorization", "Bearer "+made.Value); code != http.StatusOK {
		t.Fatalf("new token: %d", code)
	}
	_, list := c.do("GET", "/api/v1/tokens", "", "Authorization", "Bearer "+made.Value)
	if strings.Contains(list, made.Value) || strings.Contains(list, initToken) || !strings.Contains(list, "website") {
		t.Fatalf("token list shows a value or misses a name: %s", list)
	}
	if code, _ := c.do("DELETE", "/api/v1/tokens/"+itoa(made.Token.ID), "", "Authorization", "Bearer "+initToken); code != http.StatusNoContent {
		t.Fatalf("delete token: %d", code)
	}
	if code, _ := c.do("GET", "/op", "", "Authorization", "Bearer "+made.Value); code != http.StatusUnauthorized {
		t.Fatalf("deleted token: %d", code)
	}
	if code, _ := c.do("GET", "/op", "", "Authorization", "Bearer not-a-token"); code != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d", code)
	}
}

// TestIs: a public route can tell an operator's request (a valid token or session of an
// operator or admin) from anyone else's without refusing either.
func TestIs(t *testing.T) {
	const initToken = "bootstrap-token-0123456789"
	f := newFixture(t, initToken)
	c := f.client(t)
	for _, tt := range []struct {
		hdr  []string
		want string
	}{
		{nil, "false"},
		{[]string{"Authorization", "Bearer not-a-token"}, "false"},
		{[]string{"Authorization", "Bearer " + initToken}, "true"},
		{[]string{"Cookie", auth.CookieName + "=forged"}, "false"},
	} {
		if code, body := c.do("GET", "/is-operator", "", tt.hdr...); code != http.StatusOK || body != tt.want {
			t.Errorf("%v: %d %s, want %s", tt.hdr, code, body, tt.want)
		}
	}
}

func itoa(i int64) string { b, _ := json.Marshal(i); return string(b) }

func TestLoginRateLimited(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	limited := false
	for i := range 8 {
		code := c.login("admin", "guess-"+itoa(int64(i)))
		if code == http.StatusTooManyRequests {
			limited = true
			break
		}
		if code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, code)
		}
	}
	if !limited {
		t.Fatal("8 wrong passwords in a row were never refused with 429")
	}
	// Even the right password waits now: a guesser cannot tell.
	if code := c.login("admin", adminPassword); code != http.StatusTooManyRequests {
		t.Fatalf("right password while limited: %d", code)
	}
}

func TestBootstrap(t *testing.T) {
	st := authtest.NewMemStore()
	pw, err := auth.Bootstrap(context.Background(), st, "", "", nil)
	if err != nil || len(pw) < 12 {
		t.Fatalf("one-time password %q, %v", pw, err)
	}
	u, err := st.UserByName(context.Background(), "admin")
	if err != nil || u.Role != auth.Admin || !auth.CheckPassword(u.PasswordHash, pw) {
		t.Fatalf("admin: %+v, %v", u, err)
	}
	// A second start changes nothing and prints nothing.
	if pw2, err := auth.Bootstrap(context.Background(), st, "another-password", "", nil); err != nil || pw2 != "" {
		t.Fatalf("second start: %q, %v", pw2, err)
	}
	if _, err := auth.Bootstrap(context.Background(), authtest.NewMemStore(), "short", "", nil); err == nil {
		t.Fatal("a short BEFFROI_ADMIN_PASSWORD was accepted")
	}
}
