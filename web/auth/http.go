package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beffroi/beffroi/internal/httpjson"
)

// CookieName is the session cookie.
const CookieName = "beffroi_session"

// CSRFHeader carries the session's CSRF token on state-changing requests.
const CSRFHeader = "X-CSRF-Token"

// DefaultSessionTTL is how long a login lasts.
const DefaultSessionTTL = 7 * 24 * time.Hour

// Login rate limiting: this many failed logins from one address, or for one user name,
// within the window, and further attempts are refused until the oldest failure leaves it.
const (
	maxFailuresPerAddr = 10
	maxFailuresPerName = 5
	failureWindow      = 5 * time.Minute
)

// Service authenticates requests and serves the account routes.
type Service struct {
	Store Store
	Log   *slog.Logger
	// SecureCookies sets the cookie's Secure flag on every response (Beffroi behind a proxy
	// that terminates TLS). Requests that arrive over TLS get it anyway.
	SecureCookies bool
	// SessionTTL is how long a login lasts; zero means DefaultSessionTTL.
	SessionTTL time.Duration

	once    sync.Once
	limiter *limiter
	now     func() time.Time
	// dummyHash is checked against when a login names no user, so that an unknown name
	// takes as long as a wrong password.
	dummyHash string
}

func (s *Service) init() {
	s.once.Do(func() {
		s.limiter = &limiter{fails: map[string][]time.Time{}}
		s.dummyHash, _ = HashPassword("no such user, no such password")
		if s.now == nil {
			s.now = time.Now
		}
		if s.SessionTTL <= 0 {
			s.SessionTTL = DefaultSessionTTL
		}
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
	})
}

// Principal is who made a request.
type Principal struct {
	User    *User
	Token   *Token   // set when the request carried an API token
	Session *Session // set when it carried a session cookie
}

// Name is how the audit log names the principal.
func (p *Principal) Name() string {
	if p.Token != nil {
		return p.User.Name + " (token " + p.Token.Name + ")"
	}
	return p.User.Name
}

type ctxKey struct{}

// From returns who made the request, or nil.
func From(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}

// authenticate finds the principal of a request: an API token in Authorization, else a
// session cookie. It returns nil when neither is valid.
func (s *Service) authenticate(r *http.Request) *Principal {
	ctx := r.Context()
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		t, err := s.Store.TokenByHash(ctx, HashSecret(strings.TrimSpace(tok)))
		if err != nil {
			return nil
		}
		u, err := s.Store.UserByID(ctx, t.UserID)
		if err != nil {
			return nil
		}
		if t.LastUsed == nil || s.now().Sub(*t.LastUsed) > time.Minute {
			_ = s.Store.TouchToken(ctx, t.ID, s.now().UTC())
		}
		return &Principal{User: u, Token: t}
	}
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	sess, err := s.Store.SessionByHash(ctx, HashSecret(c.Value))
	if err != nil || !s.now().Before(sess.Expires) {
		return nil
	}
	u, err := s.Store.UserByID(ctx, sess.UserID)
	if err != nil {
		return nil
	}
	return &Principal{User: u, Session: sess}
}

// Require wraps h so that it serves only requests from a user with role need (admins may do
// everything): 401 without a valid session or token, 403 for a user without the role, and
// 403 for a state-changing request made with a session cookie without the session's CSRF
// token. Requests with an API token need no CSRF token: no browser sends one on its own.
func (s *Service) Require(need Role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.init()
		p := s.authenticate(r)
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="beffroi"`)
			httpjson.Error(w, http.StatusUnauthorized, "log in first, or send an API token as Authorization: Bearer <token>")
			return
		}
		if !p.User.Role.allows(need) {
			httpjson.Error(w, http.StatusForbidden, "this needs the "+string(need)+" role; you are "+string(p.User.Role))
			return
		}
		if p.Session != nil && !safeMethod(r.Method) {
			got := r.Header.Get(CSRFHeader)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.Session.CSRF)) != 1 {
				httpjson.Error(w, http.StatusForbidden, "missing or wrong CSRF token: reload the page")
				return
			}
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// Audit records a change made by the request's principal.
func (s *Service) Audit(r *http.Request, action, target, detail string) {
	s.init()
	who := "system"
	if p := From(r.Context()); p != nil {
		who = p.Name()
	}
	e := AuditEntry{Time: s.now().UTC(), User: who, Action: action, Target: target, Detail: detail, Remote: remoteHost(r)}
	if err := s.Store.AddAudit(r.Context(), e); err != nil {
		s.Log.Warn("audit log: cannot record a change", "action", action, "error", err)
	}
}

// Routes serves the account routes on mux:
//
//	POST /api/v1/login              {"name","password"} -> session cookie + {"user","csrf_token"}
//	POST /api/v1/logout
//	GET  /api/v1/me                 -> {"user","csrf_token"}
//	POST /api/v1/me/password        {"current","new"}
//	GET  /api/v1/users              (admin)
//	POST /api/v1/users              {"name","role","password"} (admin)
//	PATCH /api/v1/users/{id}        {"role","password"} (admin)
//	DELETE /api/v1/users/{id}       (admin)
//	GET  /api/v1/tokens             (admin)
//	POST /api/v1/tokens             {"name"} -> {"token": ..., "value": shown once} (admin)
//	DELETE /api/v1/tokens/{id}      (admin)
//	GET  /api/v1/audit?limit=N      (admin)
func (s *Service) Routes(mux *http.ServeMux) {
	s.init()
	mux.HandleFunc("POST /api/v1/login", s.login)
	mux.Handle("POST /api/v1/logout", s.Require(Operator, http.HandlerFunc(s.logout)))
	mux.Handle("GET /api/v1/me", s.Require(Operator, http.HandlerFunc(s.me)))
	mux.Handle("POST /api/v1/me/password", s.Require(Operator, http.HandlerFunc(s.changeOwnPassword)))
	mux.Handle("GET /api/v1/users", s.Require(Admin, http.HandlerFunc(s.listUsers)))
	mux.Handle("POST /api/v1/users", s.Require(Admin, http.HandlerFunc(s.createUser)))
	mux.Handle("PATCH /api/v1/users/{id}", s.Require(Admin, http.HandlerFunc(s.updateUser)))
	mux.Handle("DELETE /api/v1/users/{id}", s.Require(Admin, http.HandlerFunc(s.deleteUser)))
	mux.Handle("GET /api/v1/tokens", s.Require(Admin, http.HandlerFunc(s.listTokens)))
	mux.Handle("POST /api/v1/tokens", s.Require(Admin, http.HandlerFunc(s.createToken)))
	mux.Handle("DELETE /api/v1/tokens/{id}", s.Require(Admin, http.HandlerFunc(s.deleteToken)))
	mux.Handle("GET /api/v1/audit", s.Require(Admin, http.HandlerFunc(s.listAudit)))
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ Name, Password string }
	if !httpjson.Read(w, r, &in) {
		return
	}
	addr, name := "addr:"+remoteHost(r), "name:"+strings.ToLower(in.Name)
	if wait := s.limiter.blocked(s.now(), addr, maxFailuresPerAddr, name, maxFailuresPerName); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		httpjson.Error(w, http.StatusTooManyRequests, "too many failed logins: try again in "+wait.Round(time.Second).String())
		return
	}
	u, err := s.Store.UserByName(r.Context(), in.Name)
	ok := false
	if err == nil {
		ok = CheckPassword(u.PasswordHash, in.Password)
	} else {
		CheckPassword(s.dummyHash, in.Password) // same time for an unknown name
	}
	if !ok {
		s.limiter.fail(s.now(), addr, name)
		s.Log.Warn("login refused: wrong user name or password", "remote", remoteHost(r))
		httpjson.Error(w, http.StatusUnauthorized, "wrong user name or password")
		return
	}
	s.limiter.reset(name)
	id := NewSecret("", 32)
	sess := Session{IDHash: HashSecret(id), UserID: u.ID, CSRF: NewSecret("", 24),
		Created: s.now().UTC(), Expires: s.now().Add(s.SessionTTL).UTC()}
	if err := s.Store.CreateSession(r.Context(), sess); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "cannot open a session: "+err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.SecureCookies || r.TLS != nil, Expires: sess.Expires,
	})
	s.Log.Info("logged in", "user", u.Name, "remote", remoteHost(r))
	httpjson.Write(w, http.StatusOK, map[string]any{"user": u, "csrf_token": sess.CSRF})
}

func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	if p := From(r.Context()); p.Session != nil {
		_ = s.Store.DeleteSession(r.Context(), p.Session.IDHash)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, MaxAge: -1,
		SameSite: http.SameSiteLaxMode, Secure: s.SecureCookies || r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) me(w http.ResponseWriter, r *http.Request) {
	p := From(r.Context())
	out := map[string]any{"user": p.User}
	if p.Session != nil {
		out["csrf_token"] = p.Session.CSRF
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (s *Service) changeOwnPassword(w http.ResponseWriter, r *http.Request) {
	var in struct{ Current, New string }
	if !httpjson.Read(w, r, &in) {
		return
	}
	p := From(r.Context())
	if !CheckPassword(p.User.PasswordHash, in.Current) {
		httpjson.Error(w, http.StatusForbidden, "the current password is wrong")
		return
	}
	if !s.setPassword(w, r, p.User, in.New) {
		return
	}
	s.Audit(r, "user.password", p.User.Name, "")
	w.WriteHeader(http.StatusNoContent)
}

// setPassword hashes and stores a new password and ends the user's other sessions.
func (s *Service) setPassword(w http.ResponseWriter, r *http.Request, u *User, pw string) bool {
	if len(pw) < MinPasswordLength {
		httpjson.Error(w, http.StatusBadRequest, "the password needs at least "+strconv.Itoa(MinPasswordLength)+" characters")
		return false
	}
	hash, err := HashPassword(pw)
	if err == nil {
		c := *u
		c.PasswordHash = hash
		err = s.Store.UpdateUser(r.Context(), &c)
	}
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "cannot save the password: "+err.Error())
		return false
	}
	_ = s.Store.DeleteUserSessions(r.Context(), u.ID)
	return true
}

func (s *Service) listUsers(w http.ResponseWriter, r *http.Request) {
	l, err := s.Store.ListUsers(r.Context())
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	if l == nil {
		l = []User{}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"users": l})
}

func (s *Service) createUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     string `json:"name"`
		Role     Role   `json:"role"`
		Password string `json:"password"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	in.Name = strings.TrimSpace(in.Name)
	if !validName(in.Name) {
		httpjson.Error(w, http.StatusBadRequest, "name: 1 to 64 letters, digits, '.', '-', '_' or '@'")
		return
	}
	if in.Role == "" {
		in.Role = Operator
	}
	if !in.Role.Valid() {
		httpjson.Error(w, http.StatusBadRequest, `role: "admin" or "operator"`)
		return
	}
	if len(in.Password) < MinPasswordLength {
		httpjson.Error(w, http.StatusBadRequest, "the password needs at least "+strconv.Itoa(MinPasswordLength)+" characters")
		return
	}
	if _, err := s.Store.UserByName(r.Context(), in.Name); err == nil {
		httpjson.Error(w, http.StatusConflict, "a user named "+in.Name+" exists already")
		return
	}
	hash, err := HashPassword(in.Password)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	u := &User{Name: in.Name, Role: in.Role, PasswordHash: hash, Created: s.now().UTC()}
	if err := s.Store.CreateUser(r.Context(), u); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "cannot create the user: "+err.Error())
		return
	}
	s.Audit(r, "user.create", u.Name, "role "+string(u.Role))
	httpjson.Write(w, http.StatusCreated, u)
}

func (s *Service) userFromPath(w http.ResponseWriter, r *http.Request) *User {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "user id: a number")
		return nil
	}
	u, err := s.Store.UserByID(r.Context(), id)
	if err != nil {
		httpjson.Error(w, http.StatusNotFound, "no such user")
		return nil
	}
	return u
}

func (s *Service) updateUser(w http.ResponseWriter, r *http.Request) {
	u := s.userFromPath(w, r)
	if u == nil {
		return
	}
	var in struct {
		Role     *Role   `json:"role"`
		Password *string `json:"password"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.Role != nil {
		if !in.Role.Valid() {
			httpjson.Error(w, http.StatusBadRequest, `role: "admin" or "operator"`)
			return
		}
		if u.Role == Admin && *in.Role != Admin && s.lastAdmin(r.Context(), u.ID) {
			httpjson.Error(w, http.StatusConflict, "this is the last admin: make another admin first")
			return
		}
		c := *u
		c.Role = *in.Role
		if err := s.Store.UpdateUser(r.Context(), &c); err != nil {
			httpjson.Error(w, http.StatusInternalServerError, err.Error())
			return
		}
		u = &c
		s.Audit(r, "user.role", u.Name, "role "+string(u.Role))
	}
	if in.Password != nil {
		if !s.setPassword(w, r, u, *in.Password) {
			return
		}
		s.Audit(r, "user.password", u.Name, "reset by an admin")
	}
	httpjson.Write(w, http.StatusOK, u)
}

func (s *Service) lastAdmin(ctx context.Context, id int64) bool {
	l, err := s.Store.ListUsers(ctx)
	if err != nil {
		return true
	}
	for _, o := range l {
		if o.Role == Admin && o.ID != id {
			return false
		}
	}
	return true
}

func (s *Service) deleteUser(w http.ResponseWriter, r *http.Request) {
	u := s.userFromPath(w, r)
	if u == nil {
		return
	}
	if u.Role == Admin && s.lastAdmin(r.Context(), u.ID) {
		httpjson.Error(w, http.StatusConflict, "this is the last admin: make another admin first")
		return
	}
	if err := s.Store.DeleteUser(r.Context(), u.ID); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.Audit(r, "user.delete", u.Name, "")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) listTokens(w http.ResponseWriter, r *http.Request) {
	l, err := s.Store.ListTokens(r.Context())
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	if l == nil {
		l = []Token{}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"tokens": l})
}

func (s *Service) createToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 100 {
		httpjson.Error(w, http.StatusBadRequest, "name: what the token is for, 1 to 100 characters")
		return
	}
	value := NewSecret("bfr_", 32)
	t := &Token{Name: in.Name, UserID: From(r.Context()).User.ID, Hash: HashSecret(value), Created: s.now().UTC()}
	if err := s.Store.CreateToken(r.Context(), t); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.Audit(r, "token.create", in.Name, "")
	// The value is shown this once; only its hash is kept.
	httpjson.Write(w, http.StatusCreated, map[string]any{"token": t, "value": value})
}

func (s *Service) deleteToken(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "token id: a number")
		return
	}
	if err := s.Store.DeleteToken(r.Context(), id); err != nil {
		if errors.Is(err, ErrNotFound) {
			httpjson.Error(w, http.StatusNotFound, "no such token")
			return
		}
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.Audit(r, "token.delete", r.PathValue("id"), "")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) listAudit(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	l, err := s.Store.ListAudit(r.Context(), limit)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	if l == nil {
		l = []AuditEntry{}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"audit": l})
}

func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, c := range n {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		digit := c >= '0' && c <= '9'
		if !letter && !digit && !strings.ContainsRune(".-_@", c) {
			return false
		}
	}
	return true
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// limiter counts failed logins per key within failureWindow.
type limiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time
}

// blocked returns how long to wait when one of the keys has reached its limit (keys and
// limits alternate: key, limit, key, limit).
func (l *limiter) blocked(now time.Time, keysAndLimits ...any) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for i := 0; i+1 < len(keysAndLimits); i += 2 {
		k, limit := keysAndLimits[i].(string), keysAndLimits[i+1].(int)
		recent := l.prune(now, k)
		if len(recent) >= limit {
			if w := recent[len(recent)-limit].Add(failureWindow).Sub(now); w > wait {
				wait = w
			}
		}
	}
	return wait
}

func (l *limiter) prune(now time.Time, k string) []time.Time {
	list := l.fails[k]
	i := 0
	for i < len(list) && now.Sub(list[i]) >= failureWindow {
		i++
	}
	list = list[i:]
	if len(list) == 0 {
		delete(l.fails, k)
		return nil
	}
	l.fails[k] = list
	return list
}

func (l *limiter) fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) > 100000 { // under a flood, forget rather than grow without bound
		clear(l.fails)
	}
	for _, k := range keys {
		l.fails[k] = append(l.prune(now, k), now)
	}
}

func (l *limiter) reset(k string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, k)
}
