package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/beffroi/beffroi/web/auth"
)

// The store keeps the operators' accounts, sessions, API tokens and the audit log.
var _ auth.Store = (*Store)(nil)

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return auth.ErrNotFound
	}
	return err
}

// CountUsers implements auth.Store.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// CreateUser implements auth.Store.
func (s *Store) CreateUser(ctx context.Context, u *auth.User) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created, must_change_password) VALUES (?, ?, ?, ?, ?)`,
		u.Name, string(u.Role), u.PasswordHash, ms(u.Created), u.MustChangePassword)
	if err != nil {
		return fmt.Errorf("user %q: %w", u.Name, err)
	}
	u.ID, err = res.LastInsertId()
	return err
}

const userCols = `id, name, role, password_hash, created, must_change_password`

func scanUser(row interface{ Scan(...any) error }) (*auth.User, error) {
	var u auth.User
	var role string
	var created int64
	if err := row.Scan(&u.ID, &u.Name, &role, &u.PasswordHash, &created, &u.MustChangePassword); err != nil {
		return nil, notFound(err)
	}
	u.Role, u.Created = auth.Role(role), fromMS(created)
	return &u, nil
}

// UserByName implements auth.Store.
func (s *Store) UserByName(ctx context.Context, name string) (*auth.User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
}

// UserByID implements auth.Store.
func (s *Store) UserByID(ctx context.Context, id int64) (*auth.User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// ListUsers implements auth.Store.
func (s *Store) ListUsers(ctx context.Context) ([]auth.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var l []auth.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		l = append(l, *u)
	}
	return l, rows.Err()
}

// exec runs a statement that must change one row.
func (s *Store) exec1(ctx context.Context, q string, args ...any) error {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return auth.ErrNotFound
	}
	return nil
}

// UpdateUser implements auth.Store.
func (s *Store) UpdateUser(ctx context.Context, u *auth.User) error {
	return s.exec1(ctx, `UPDATE users SET role = ?, password_hash = ?, must_change_password = ? WHERE id = ?`,
		string(u.Role), u.PasswordHash, u.MustChangePassword, u.ID)
}

// DeleteUser implements auth.Store; its sessions and tokens go with it.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.exec1(ctx, `DELETE FROM users WHERE id = ?`, id)
}

// CreateSession implements auth.Store. Expired sessions are swept at the same time.
func (s *Store) CreateSession(ctx context.Context, ss auth.Session) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires < ?`, ms(s.now())); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, csrf, created, expires) VALUES (?, ?, ?, ?, ?)`,
		ss.IDHash, ss.UserID, ss.CSRF, ms(ss.Created), ms(ss.Expires))
	return err
}

// SessionByHash implements auth.Store.
func (s *Store) SessionByHash(ctx context.Context, h string) (*auth.Session, error) {
	var ss auth.Session
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT id_hash, user_id, csrf, created, expires FROM sessions WHERE id_hash = ?`, h).
		Scan(&ss.IDHash, &ss.UserID, &ss.CSRF, &created, &expires)
	if err != nil {
		return nil, notFound(err)
	}
	ss.Created, ss.Expires = fromMS(created), fromMS(expires)
	return &ss, nil
}

// DeleteSession implements auth.Store.
func (s *Store) DeleteSession(ctx context.Context, h string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, h)
	return err
}

// DeleteUserSessions implements auth.Store.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	return err
}

// CreateToken implements auth.Store.
func (s *Store) CreateToken(ctx context.Context, t *auth.Token) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens (name, user_id, hash, created) VALUES (?, ?, ?, ?)`,
		t.Name, t.UserID, t.Hash, ms(t.Created))
	if err != nil {
		return err
	}
	t.ID, err = res.LastInsertId()
	return err
}

const tokenCols = `id, name, user_id, hash, created, last_used`

func scanToken(row interface{ Scan(...any) error }) (*auth.Token, error) {
	var t auth.Token
	var created int64
	var last sql.NullInt64
	if err := row.Scan(&t.ID, &t.Name, &t.UserID, &t.Hash, &created, &last); err != nil {
		return nil, notFound(err)
	}
	t.Created = fromMS(created)
	if last.Valid {
		lu := fromMS(last.Int64)
		t.LastUsed = &lu
	}
	return &t, nil
}

// TokenByHash implements auth.Store.
func (s *Store) TokenByHash(ctx context.Context, h string) (*auth.Token, error) {
	return scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = ?`, h))
}

// TouchToken implements auth.Store.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	return s.exec1(ctx, `UPDATE api_tokens SET last_used = ? WHERE id = ?`, ms(at), id)
}

// ListTokens implements auth.Store.
func (s *Store) ListTokens(ctx context.Context) ([]auth.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var l []auth.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		l = append(l, *t)
	}
	return l, rows.Err()
}

// DeleteToken implements auth.Store.
func (s *Store) DeleteToken(ctx context.Context, id int64) error {
	return s.exec1(ctx, `DELETE FROM api_tokens WHERE id = ?`, id)
}

// AddAudit implements auth.Store.
func (s *Store) AddAudit(ctx context.Context, e auth.AuditEntry) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit_log (time, user, action, target, detail, remote) VALUES (?, ?, ?, ?, ?, ?)`,
		ms(e.Time), e.User, e.Action, e.Target, e.Detail, e.Remote)
	return err
}

// ListAudit implements auth.Store.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]auth.AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, time, user, action, target, detail, remote FROM audit_log ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var l []auth.AuditEntry
	for rows.Next() {
		var e auth.AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.User, &e.Action, &e.Target, &e.Detail, &e.Remote); err != nil {
			return nil, err
		}
		e.Time = fromMS(t)
		l = append(l, e)
	}
	return l, rows.Err()
}
