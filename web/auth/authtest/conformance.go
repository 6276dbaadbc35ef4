package authtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/beffroi/beffroi/web/auth"
)

// StoreConformance checks that st (empty) behaves as auth.Store says.
func StoreConformance(t *testing.T, st auth.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if n, err := st.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("CountUsers on an empty store: %d, %v", n, err)
	}
	a := &auth.User{Name: "camille", Role: auth.Admin, PasswordHash: "h1", Created: now}
	if err := st.CreateUser(ctx, a); err != nil || a.ID == 0 {
		t.Fatalf("CreateUser: %v, id %d", err, a.ID)
	}
	if err := st.CreateUser(ctx, &auth.User{Name: "camille", Role: auth.Operator, PasswordHash: "h"}); err == nil {
		t.Fatal("CreateUser accepted a taken name")
	}
	o := &auth.User{Name: "lou", Role: auth.Operator, PasswordHash: "h2", Created: now}
	if err := st.CreateUser(ctx, o); err != nil {
		t.Fatal(err)
	}
	if u, err := st.UserByName(ctx, "lou"); err != nil || u.ID != o.ID || u.Role != auth.Operator || u.PasswordHash != "h2" || !u.Created.Equal(now) {
		t.Fatalf("UserByName: %+v, %v", u, err)
	}
	if _, err := st.UserByName(ctx, "nobody"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("UserByName of nobody: %v, want ErrNotFound", err)
	}
	if _, err := st.UserByID(ctx, 9999); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("UserByID of nobody: %v, want ErrNotFound", err)
	}
	if u, _ := st.UserByName(ctx, "lou"); u == nil || u.MustChangePassword {
		t.Fatalf("MustChangePassword set on a user made without it: %+v", u)
	}
	o.Role, o.PasswordHash, o.MustChangePassword = auth.Admin, "h3", true
	if err := st.UpdateUser(ctx, o); err != nil {
		t.Fatal(err)
	}
	if u, _ := st.UserByID(ctx, o.ID); u == nil || u.Role != auth.Admin || u.PasswordHash != "h3" || !u.MustChangePassword {
		t.Fatalf("after UpdateUser: %+v", u)
	}
	o.MustChangePassword = false
	if err := st.UpdateUser(ctx, o); err != nil {
		t.Fatal(err)
	}
	if u, _ := st.UserByName(ctx, "lou"); u == nil || u.MustChangePassword {
		t.Fatalf("MustChangePassword not cleared by UpdateUser: %+v", u)
	}
	m := &auth.User{Name: "first", Role: auth.Admin, PasswordHash: "h4", Created: now, MustChangePassword: true}
	if err := st.CreateUser(ctx, m); err != nil {
		t.Fatal(err)
	}
	if u, _ := st.UserByID(ctx, m.ID); u == nil || !u.MustChangePassword {
		t.Fatalf("CreateUser lost MustChangePassword: %+v", u)
	}
	if err := st.DeleteUser(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if l, err := st.ListUsers(ctx); err != nil || len(l) != 2 {
		t.Fatalf("ListUsers: %+v, %v", l, err)
	}

	s := auth.Session{IDHash: "sess1", UserID: o.ID, CSRF: "c1", Created: now, Expires: now.Add(time.Hour)}
	if err := st.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got, err := st.SessionByHash(ctx, "sess1"); err != nil || got.UserID != o.ID || got.CSRF != "c1" || !got.Expires.Equal(s.Expires) {
		t.Fatalf("SessionByHash: %+v, %v", got, err)
	}
	if _, err := st.SessionByHash(ctx, "nope"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("SessionByHash of nothing: %v", err)
	}
	_ = st.CreateSession(ctx, auth.Session{IDHash: "sess2", UserID: o.ID, CSRF: "c2", Created: now, Expires: now.Add(time.Hour)})
	if err := st.DeleteSession(ctx, "sess1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionByHash(ctx, "sess1"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatal("a deleted session is still there")
	}
	if err := st.DeleteUserSessions(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionByHash(ctx, "sess2"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatal("DeleteUserSessions left a session")
	}

	tok := &auth.Token{Name: "ci", UserID: a.ID, Hash: "th", Created: now}
	if err := st.CreateToken(ctx, tok); err != nil || tok.ID == 0 {
		t.Fatalf("CreateToken: %v", err)
	}
	if got, err := st.TokenByHash(ctx, "th"); err != nil || got.ID != tok.ID || got.LastUsed != nil {
		t.Fatalf("TokenByHash: %+v, %v", got, err)
	}
	if err := st.TouchToken(ctx, tok.ID, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.TokenByHash(ctx, "th"); got == nil || got.LastUsed == nil || !got.LastUsed.Equal(now.Add(time.Minute)) {
		t.Fatalf("after TouchToken: %+v", got)
	}
	if l, _ := st.ListTokens(ctx); len(l) != 1 {
		t.Fatalf("ListTokens: %+v", l)
	}
	if err := st.DeleteToken(ctx, 9999); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("DeleteToken of nothing: %v", err)
	}

	for i, action := range []string{"a1", "a2", "a3"} {
		if err := st.AddAudit(ctx, auth.AuditEntry{Time: now.Add(time.Duration(i) * time.Second), User: "camille", Action: action, Target: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := st.ListAudit(ctx, 2); err != nil || len(l) != 2 || l[0].Action != "a3" || l[1].Action != "a2" {
		t.Fatalf("ListAudit: %+v, %v", l, err)
	}

	// Deleting a user deletes its sessions and tokens.
	_ = st.CreateSession(ctx, auth.Session{IDHash: "sess3", UserID: a.ID, Created: now, Expires: now.Add(time.Hour)})
	if err := st.DeleteUser(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TokenByHash(ctx, "th"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatal("a deleted user's token still works")
	}
	if _, err := st.SessionByHash(ctx, "sess3"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatal("a deleted user's session still works")
	}
	if n, _ := st.CountUsers(ctx); n != 1 {
		t.Fatalf("CountUsers after a deletion: %d", n)
	}
}
