package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beffroi/beffroi/internal/clientip"
	"github.com/beffroi/beffroi/internal/httpjson"
)

// CookieName is the session cookie.
const CookieName = "beffroi_session"

// CSRFHeader carries the session's CSRF token on state-changing requests.
const CSRFHeader = "X-CSRF-Token"

// DefaultSessionTTL is how long a login lasts.
const DefaultSessionTTL = 7 * 24 * time.Hour

// Bounds of what a login may carry, checked before anything else.
const (
	maxLoginName     = 64
	maxLoginPassword = 1024
	maxLoginBody     = 4096
)

// maxConcurrentHashes bounds the password hashes and checks running at once: argon2id takes
// 19 MiB each, so this bounds what a flood of logins can take. Logins beyond it are refused
// at once (503), never queued.
const maxConcurrentHashes = 2

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
	hashes  chan struct{} // one token per hash running (maxConcurrentHashes)
	now     func() time.Time
	// dummyHash is checked against when a login names no user, so that an unknown name
	// takes as long as a wrong password.
	dummyHash string
}

func (s *Service) init() {
	s.once.Do(func() {
		s.limiter = newLimiter()
		s.hashes = make(chan struct{}, maxConcurrentHashes)
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
// everything): 401 without a valid session or token, 403 for a user without the role, 403
// for a session of a user who must choose a new password first (the one-time password of
// the first start), and 403 for a state-changing request made with a session cookie without
// the session's CSRF token. Requests with an API token need no CSRF token: no browser sends
// one on its own.
func (s *Service) Require(need Role, h http.Handler) http.Handler {
	return s.require(need, false, h)
}

// Is reports whether r carries a valid session or API token of a user with role need (admins
// have every role), without refusing anything: for public routes that treat operators
// apart (the console's preview is not counted as a viewer).
func (s *Service) Is(r *http.Request, need Role) bool {
	s.init()
	p := s.authenticate(r)
	return p != nil && p.User.Role.allows(need)
}

// require is Require; pendingOK lets through the sessions that must change their password
// (the routes that let them do it, see who they are, and log out).
func (s *Service) require(need Role, pendingOK bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.init()
		p := s.authenticate(r)
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="beffroi"`)
			httpjson.Error(w, http.StatusUnauthorized, "log in first, or send an API token as Authorization: Bearer <token>")
			return
		}
		if p.Session != nil && p.User.MustChangePassword && !pendingOK {
			httpjson.Error(w, http.StatusForbidden, "choose a new password first: POST /api/v1/me/password {\"current\",\"new\"}")
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
//	POST /api/v1/login              {"name","password"} (application/json) -> session cookie +
//	                                {"user","csrf_token","must_change_password"}
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
	mux.Handle("POST /api/v1/logout", s.require(Operator, true, http.HandlerFunc(s.logout)))
	mux.Handle("GET /api/v1/me", s.require(Operator, true, http.HandlerFunc(s.me)))
	mux.Handle("POST /api/v1/me/password", s.require(Operator, true, http.HandlerFunc(s.changeOwnPassword)))
	mux.Handle("GET /api/v1/users", s.Require(Admin, http.HandlerFunc(s.listUsers)))
	mux.Handle("POST /api/v1/users", s.Require(Admin, http.HandlerFunc(s.createUser)))
	mux.Handle("PATCH /api/v1/users/{id}", s.Require(Admin, http.HandlerFunc(s.updateUser)))
	mux.Handle("DELETE /api/v1/users/{id}", s.Require(Admin, http.HandlerFunc(s.deleteUser)))
	mux.Handle("GET /api/v1/tokens", s.Require(Admin, http.HandlerFunc(s.listTokens)))
	mux.Handle("POST /api/v1/tokens", s.Require(Admin, http.HandlerFunc(s.createToken)))
	mux.Handle("DELETE /api/v1/tokens/{id}", s.Require(Admin, http.HandlerFunc(s.deleteToken)))
	mux.Handle("GET /api/v1/audit", s.Require(Admin, http.HandlerFunc(s.listAudit)))
}

// login checks a name and password. Everything a stranger can make it do is bounded: the
// body and the name's length first, then the limits (counted before the hash), then at most
// maxConcurrentHashes argon2 checks at once.
func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	if !isJSON(r.Header.Get("Content-Type")) {
		// A cross-site form can only send form or text bodies: refusing them stops login CSRF.
		httpjson.Error(w, http.StatusUnsupportedMediaType, "login: send {\"name\",\"password\"} as Content-Type: application/json")
		return
	}
	in, err := readLogin(http.MaxBytesReader(w, r.Body, maxLoginBody))
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "login: "+err.Error())
		return
	}
	client := clientip.Addr(r)
	addr, name := clientip.Key(client), strings.ToLower(in.Name)
	wait, retry := s.limiter.reserve(s.now(), addr, name)
	if retry > 0 {
		s.refused(r, addr, "too many failed logins")
		w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
		httpjson.Error(w, http.StatusTooManyRequests, "too many failed logins: try again in "+retry.Round(time.Second).String())
		return
	}
	if wait > 0 { // the name's delay: slows every guesser of it, refuses no one
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			s.limiter.release(addr)
			return
		}
	}
	select {
	case s.hashes <- struct{}{}:
	default:
		s.limiter.release(addr)
		s.refused(r, addr, "too many logins at once")
		w.Header().Set("Retry-After", "1")
		httpjson.Error(w, http.StatusServiceUnavailable, "too many logins at once: try again in a second")
		return
	}
	u, err := s.Store.UserByName(r.Context(), in.Name)
	ok := false
	if err == nil {
		ok = CheckPassword(u.PasswordHash, in.Password)
	} else {
		CheckPassword(s.dummyHash, in.Password) // same time for an unknown name
	}
	<-s.hashes
	if !ok {
		s.limiter.fail(s.now(), addr, name)
		s.refused(r, addr, "wrong user name or password")
		httpjson.Error(w, http.StatusUnauthorized, "wrong user name or password")
		return
	}
	s.limiter.succeed(addr, name)
	sess, err := s.openSession(w, r, u.ID)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "cannot open a session: "+err.Error())
		return
	}
	s.Log.Info("logged in", "user", u.Name, "remote", remoteHost(r))
	httpjson.Write(w, http.StatusOK, map[string]any{"user": u, "csrf_token": sess.CSRF, "must_change_password": u.MustChangePassword})
}

// openSession makes a session of user id and sets its cookie.
func (s *Service) openSession(w http.ResponseWriter, r *http.Request, id int64) (Session, error) {
	value := NewSecret("", 32)
	sess := Session{IDHash: HashSecret(value), UserID: id, CSRF: NewSecret("", 24),
		Created: s.now().UTC(), Expires: s.now().Add(s.SessionTTL).UTC()}
	if err := s.Store.CreateSession(r.Context(), sess); err != nil {
		return Session{}, err
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.SecureCookies || r.TLS != nil, Expires: sess.Expires,
	})
	return sess, nil
}

// refused writes the "login refused" line: one for the first refusal from an address, then
// at most one a refusalLogEvery with the count, so a flood is a line per burst.
func (s *Service) refused(r *http.Request, addr, reason string) {
	if logNow, n := s.limiter.refused(s.now(), addr); logNow {
		s.Log.Warn("login refused: "+reason, "remote", remoteHost(r), "refusals", n)
	}
}

// isJSON reports whether a Content-Type is application/json (parameters such as charset
// allowed).
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// loginRequest is the body of POST /api/v1/login.
type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// readLogin parses a login body: one JSON object with a name of 1 to maxLoginName bytes and
// a password of 1 to maxLoginPassword bytes, nothing else. Errors say what is wrong and never
// repeat the password.
func readLogin(body io.Reader) (loginRequest, error) {
	var in loginRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return in, fmt.Errorf("the body is larger than %d bytes", maxLoginBody)
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return in, fmt.Errorf("%q must be a string", typ.Field)
		}
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return in, errors.New(`invalid JSON body: only "name" and "password"`)
		}
		return in, errors.New(`invalid JSON body: want {"name","password"}`)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return in, errors.New("invalid JSON body: one object only")
	}
	switch {
	case in.Name == "" || len(in.Name) > maxLoginName:
		return in, fmt.Errorf("name: 1 to %d bytes", maxLoginName)
	case in.Password == "" || len(in.Password) > maxLoginPassword:
		return in, fmt.Errorf("password: 1 to %d bytes", maxLoginPassword)
	}
	return in, nil
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
	out := map[string]any{"user": p.User, "must_change_password": p.User.MustChangePassword}
	if p.Session != nil {
		out["csrf_token"] = p.Session.CSRF
	}
	httpjson.Write(w, http.StatusOK, out)
}

// hashing runs f as one of the maxConcurrentHashes hashes, waiting for a turn while the
// request lasts (these routes are for logged-in users: a turn comes).
func (s *Service) hashing(ctx context.Context, f func()) error {
	select {
	case s.hashes <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashes }()
	f()
	return nil
}

// changeOwnPassword sets the user's new password, ends their other sessions and keeps this
// one; a password that must be changed (the one-time password) stops working here.
func (s *Service) changeOwnPassword(w http.ResponseWriter, r *http.Request) {
	var in struct{ Current, New string }
	if !httpjson.Read(w, r, &in) {
		return
	}
	p := From(r.Context())
	ok := false
	if len(in.Current) <= maxLoginPassword {
		if err := s.hashing(r.Context(), func() { ok = CheckPassword(p.User.PasswordHash, in.Current) }); err != nil {
			return
		}
	}
	if !ok {
		httpjson.Error(w, http.StatusForbidden, "the current password is wrong")
		return
	}
	if in.New == in.Current {
		httpjson.Error(w, http.StatusBadRequest, "the new password must differ from the current one")
		return
	}
	if !s.setPassword(w, r, p.User, in.New) {
		return
	}
	if p.Session != nil { // this browser stays logged in; the others are logged out
		if err := s.Store.CreateSession(r.Context(), *p.Session); err != nil {
			s.Log.Warn("password changed, but this session could not be kept", "user", p.User.Name, "error", err)
		}
	}
	s.Audit(r, "user.password", p.User.Name, "")
	w.WriteHeader(http.StatusNoContent)
}

// setPassword hashes and stores a new password, which a person chose (MustChangePassword
// ends), and ends the user's sessions.
func (s *Service) setPassword(w http.ResponseWriter, r *http.Request, u *User, pw string) bool {
	if len(pw) < MinPasswordLength || len(pw) > maxLoginPassword {
		httpjson.Error(w, http.StatusBadRequest, "the password needs "+strconv.Itoa(MinPasswordLength)+" to "+strconv.Itoa(maxLoginPassword)+" characters")
		return false
	}
	var hash string
	var err error
	if herr := s.hashing(r.Context(), func() { hash, err = HashPassword(pw) }); herr != nil {
		return false
	}
	if err == nil {
		c := *u
		c.PasswordHash, c.MustChangePassword = hash, false
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
	if len(in.Password) < MinPasswordLength || len(in.Password) > maxLoginPassword {
		httpjson.Error(w, http.StatusBadRequest, "the password needs "+strconv.Itoa(MinPasswordLength)+" to "+strconv.Itoa(maxLoginPassword)+" characters")
		return
	}
	if _, err := s.Store.UserByName(r.Context(), in.Name); err == nil {
		httpjson.Error(w, http.StatusConflict, "a user named "+in.Name+" exists already")
		return
	}
	var hash string
	var err error
	if herr := s.hashing(r.Context(), func() { hash, err = HashPassword(in.Password) }); herr != nil {
		return
	}
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

// remoteHost is the client's address as logs and the audit log show it: behind a trusted
// proxy, the client's (clientip).
func remoteHost(r *http.Request) string {
	if a := clientip.Addr(r); a.IsValid() {
		return a.String()
	}
	return r.RemoteAddr
}
