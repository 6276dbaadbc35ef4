// Package auth is who may run Beffroi: operator accounts with roles, login sessions kept in
// an HttpOnly cookie, CSRF protection for every state-changing request made with that
// cookie, API tokens for automation (Authorization: Bearer), login rate limiting and an audit
// log of who changed what.
//
// Secrets are stored only as hashes: passwords with argon2id, session ids and API tokens (long
// random values) with SHA-256. The persistence is behind Store, implemented by the embedded
// database (web/store).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Role is what a user may do.
type Role string

// Roles.
const (
	// Admin manages users, tokens and settings, and does what an operator does.
	Admin Role = "admin"
	// Operator runs streams: destinations on and off, streams, recordings.
	Operator Role = "operator"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == Admin || r == Operator }

// allows reports whether a user of role r may do what needs role need.
func (r Role) allows(need Role) bool { return r == Admin || r == need }

// ErrNotFound is returned by a Store when what is asked does not exist.
var ErrNotFound = errors.New("not found")

// User is an operator account.
type User struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	PasswordHash string    `json:"-"`
	Created      time.Time `json:"created"`
	// MustChangePassword is set while the password is one nobody chose (the one-time password
	// of the first start): its sessions may only choose a new one (POST /api/v1/me/password).
	MustChangePassword bool `json:"must_change_password"`
}

// Session is a logged-in browser. Only the hash of its id is stored.
type Session struct {
	IDHash  string
	UserID  int64
	CSRF    string // the token state-changing requests must echo in X-CSRF-Token
	Created time.Time
	Expires time.Time
}

// Token is an API token. Only the hash of its value is stored; the value is shown once.
type Token struct {
	ID       int64      `json:"id"`
	Name     string     `json:"name"`
	UserID   int64      `json:"user_id"`
	Hash     string     `json:"-"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used,omitempty"`
}

// AuditEntry is one change someone made.
type AuditEntry struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	User   string    `json:"user"`   // name, or "token:<name>", or "system"
	Action string    `json:"action"` // "destination.enable", "user.create", ...
	Target string    `json:"target"` // what it was done to: "concert/youtube"
	Detail string    `json:"detail,omitempty"`
	Remote string    `json:"remote,omitempty"`
}

// Store keeps users, sessions, tokens and the audit log. Methods return ErrNotFound (possibly
// wrapped) when a lookup finds nothing.
type Store interface {
	CountUsers(ctx context.Context) (int, error)
	CreateUser(ctx context.Context, u *User) error // sets u.ID; a taken name is an error
	UserByName(ctx context.Context, name string) (*User, error)
	UserByID(ctx context.Context, id int64) (*User, error)
	ListUsers(ctx context.Context) ([]User, error)
	UpdateUser(ctx context.Context, u *User) error  // role, password hash and MustChangePassword
	DeleteUser(ctx context.Context, id int64) error // and its sessions and tokens

	CreateSession(ctx context.Context, s Session) error
	SessionByHash(ctx context.Context, idHash string) (*Session, error)
	DeleteSession(ctx context.Context, idHash string) error
	DeleteUserSessions(ctx context.Context, userID int64) error

	CreateToken(ctx context.Context, t *Token) error // sets t.ID
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	TouchToken(ctx context.Context, id int64, at time.Time) error
	ListTokens(ctx context.Context) ([]Token, error)
	DeleteToken(ctx context.Context, id int64) error

	AddAudit(ctx context.Context, e AuditEntry) error
	ListAudit(ctx context.Context, limit int) ([]AuditEntry, error) // newest first
}

// Password hashing: argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane),
// encoded as $argon2id$v=19$m=19456,t=2,p=1$salt$hash.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 10

// HashPassword returns the argon2id hash of a password.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches an argon2id hash made by HashPassword.
func CheckPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// NewSecret returns a random value of n bytes, URL-safe, with a prefix saying what it is
// ("bfr_" for API tokens).
func NewSecret(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret is how session ids and API tokens are stored: SHA-256, hex. They are long random
// values, so a fast hash is enough.
func HashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Bootstrap makes the first admin when there is no user yet: named "admin", with
// adminPassword when given, else a generated one-time password that is returned (the caller
// prints it once). The one-time password only lets the admin choose a new one: a session
// opened with it may do nothing else, and it stops working once the new one is set. adminToken, when given, becomes an API token of that admin (for
// automation, as InfluxDB's init token). Once a user exists it does nothing.
func Bootstrap(ctx context.Context, st Store, adminPassword, adminToken string, log *slog.Logger) (oneTime string, err error) {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	pw := adminPassword
	if pw == "" {
		pw = NewSecret("", 12)
		oneTime = pw
	} else if len(pw) < MinPasswordLength {
		return "", fmt.Errorf("BEFFROI_ADMIN_PASSWORD: at least %d characters", MinPasswordLength)
	}
	hash, err := HashPassword(pw)
	if err != nil {
		return "", err
	}
	u := &User{Name: "admin", Role: Admin, PasswordHash: hash, Created: time.Now().UTC(), MustChangePassword: oneTime != ""}
	if err := st.CreateUser(ctx, u); err != nil {
		return "", fmt.Errorf("creating the first admin: %w", err)
	}
	if adminToken != "" {
		if len(adminToken) < 20 {
			return "", errors.New("BEFFROI_ADMIN_TOKEN: at least 20 characters")
		}
		t := &Token{Name: "BEFFROI_ADMIN_TOKEN", UserID: u.ID, Hash: HashSecret(adminToken), Created: time.Now().UTC()}
		if err := st.CreateToken(ctx, t); err != nil {
			return "", fmt.Errorf("creating the admin token: %w", err)
		}
	}
	_ = st.AddAudit(ctx, AuditEntry{Time: time.Now().UTC(), User: "system", Action: "user.create", Target: "admin", Detail: "first start"})
	if log != nil {
		log.Info("first start: created the user \"admin\"")
	}
	return oneTime, nil
}
