// Package authtest holds what tests of auth and of its stores share: an in-memory Store and
// the conformance test every Store implementation must pass.
package authtest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/beffroi/beffroi/web/auth"
)

// MemStore is an auth.Store in memory, for tests.
type MemStore struct {
	mu       sync.Mutex
	next     int64
	users    map[int64]auth.User
	sessions map[string]auth.Session
	tokens   map[int64]auth.Token
	audit    []auth.AuditEntry
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{users: map[int64]auth.User{}, sessions: map[string]auth.Session{}, tokens: map[int64]auth.Token{}}
}

func (m *MemStore) id() int64 { m.next++; return m.next }

// CountUsers implements auth.Store.
func (m *MemStore) CountUsers(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.users), nil
}

// CreateUser implements auth.Store.
func (m *MemStore) CreateUser(_ context.Context, u *auth.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.users {
		if o.Name == u.Name {
			return fmt.Errorf("user %q exists", u.Name)
		}
	}
	u.ID = m.id()
	m.users[u.ID] = *u
	return nil
}

// UserByName implements auth.Store.
func (m *MemStore) UserByName(_ context.Context, name string) (*auth.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if u.Name == name {
			return &u, nil
		}
	}
	return nil, auth.ErrNotFound
}

// UserByID implements auth.Store.
func (m *MemStore) UserByID(_ context.Context, id int64) (*auth.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.users[id]; ok {
		return &u, nil
	}
	return nil, auth.ErrNotFound
}

// ListUsers implements auth.Store.
func (m *MemStore) ListUsers(context.Context) ([]auth.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var l []auth.User
	for _, u := range m.users {
		l = append(l, u)
	}
	slices.SortFunc(l, func(a, b auth.User) int { return cmp.Compare(a.Name, b.Name) })
	return l, nil
}

// UpdateUser implements auth.Store.
func (m *MemStore) UpdateUser(_ context.Context, u *auth.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.users[u.ID]
	if !ok {
		return auth.ErrNotFound
	}
	o.Role, o.PasswordHash, o.MustChangePassword = u.Role, u.PasswordHash, u.MustChangePassword
	m.users[u.ID] = o
	return nil
}

// DeleteUser implements auth.Store.
func (m *MemStore) DeleteUser(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[id]; !ok {
		return auth.ErrNotFound
	}
	delete(m.users, id)
	for k, s := range m.sessions {
		if s.UserID == id {
			delete(m.sessions, k)
		}
	}
	for k, t := range m.tokens {
		if t.UserID == id {
			delete(m.tokens, k)
		}
	}
	return nil
}

// CreateSession implements auth.Store.
func (m *MemStore) CreateSession(_ context.Context, s auth.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[s.IDHash] = s
	return nil
}

// SessionByHash implements auth.Store.
func (m *MemStore) SessionByHash(_ context.Context, h string) (*auth.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.sessions[h]; ok {
		return &s, nil
	}
	return nil, auth.ErrNotFound
}

// DeleteSession implements auth.Store.
func (m *MemStore) DeleteSession(_ context.Context, h string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, h)
	return nil
}

// DeleteUserSessions implements auth.Store.
func (m *MemStore) DeleteUserSessions(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, s := range m.sessions {
		if s.UserID == id {
			delete(m.sessions, k)
		}
	}
	return nil
}

// CreateToken implements auth.Store.
func (m *MemStore) CreateToken(_ context.Context, t *auth.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t.ID = m.id()
	m.tokens[t.ID] = *t
	return nil
}

// TokenByHash implements auth.Store.
func (m *MemStore) TokenByHash(_ context.Context, h string) (*auth.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tokens {
		if t.Hash == h {
			return &t, nil
		}
	}
	return nil, auth.ErrNotFound
}

// TouchToken implements auth.Store.
func (m *MemStore) TouchToken(_ context.Context, id int64, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[id]
	if !ok {
		return auth.ErrNotFound
	}
	t.LastUsed = &at
	m.tokens[id] = t
	return nil
}

// ListTokens implements auth.Store.
func (m *MemStore) ListTokens(context.Context) ([]auth.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var l []auth.Token
	for _, t := range m.tokens {
		l = append(l, t)
	}
	slices.SortFunc(l, func(a, b auth.Token) int { return cmp.Compare(a.ID, b.ID) })
	return l, nil
}

// DeleteToken implements auth.Store.
func (m *MemStore) DeleteToken(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tokens[id]; !ok {
		return auth.ErrNotFound
	}
	delete(m.tokens, id)
	return nil
}

// AddAudit implements auth.Store.
func (m *MemStore) AddAudit(_ context.Context, e auth.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.ID = m.id()
	m.audit = append(m.audit, e)
	return nil
}

// ListAudit implements auth.Store.
func (m *MemStore) ListAudit(_ context.Context, limit int) ([]auth.AuditEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var l []auth.AuditEntry
	for i := len(m.audit) - 1; i >= 0 && len(l) < limit; i-- {
		l = append(l, m.audit[i])
	}
	return l, nil
}
