package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openRaw opens the file at path with the store's own settings but applies only steps, as an
// older Beffroi would have.
func openRaw(t *testing.T, path string, steps []migration, now time.Time) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrate(context.Background(), db, path, steps, now, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
}

// An existing database is copied aside before migrations run; the copy is the older version,
// with its data, readable by its owner only.
func TestOpenBacksUpBeforeMigrating(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	old := time.Date(2026, 11, 27, 14, 23, 1, 0, time.UTC)
	steps := migrations()
	openRaw(t, path, steps[:2], old)
	// Data written by the older version, and left in the write-ahead log: the backup must
	// hold it too.
	func() {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `INSERT INTO streams (name, publish_key, created) VALUES ('concert', 'k', 1)`); err != nil {
			t.Fatal(err)
		}
	}()

	var logs bytes.Buffer
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s, err := Open(ctx, path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(ctx); v != steps[len(steps)-1].version {
		t.Fatalf("migrated to %d", v)
	}
	bak := path + ".bak-2-20261201T090000Z"
	if !strings.Contains(logs.String(), "backed up before migrating") || !strings.Contains(logs.String(), bak) {
		t.Fatalf("no log line naming the backup:\n%s", logs.String())
	}
	fi, err := os.Stat(bak)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := sql.Open("sqlite", "file:"+bak+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var v, n int
	if err := b.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != 2 {
		t.Fatalf("backup at version %d, %v", v, err)
	}
	if err := b.QueryRowContext(ctx, `SELECT COUNT(*) FROM streams WHERE name = 'concert'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("backup has %d streams, %v", n, err)
	}
	// The backup is the older schema: no column of migration 3.
	if _, err := b.ExecContext(ctx, `SELECT record FROM streams`); err == nil {
		t.Error("the backup has the new column: it was taken after migrating")
	}

	// Nothing to migrate, no backup; a new database has nothing to back up either.
	_ = s.Close()
	s2 := open(t, path)
	_ = s2.Close()
	fresh := filepath.Join(dir, "fresh.db")
	_ = open(t, fresh).Close()
	baks, _ := filepath.Glob(filepath.Join(dir, "*.bak-*"))
	if len(baks) != 1 {
		t.Fatalf("backups %v, want only %s", baks, bak)
	}
}

// When the backup cannot be written, nothing is migrated and the error says so.
func TestOpenRefusesToMigrateWithoutBackup(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	openRaw(t, path, migrations()[:1], now)
	// The backup's name is taken by something that is not an empty file.
	taken := path + ".bak-1-20261201T090000Z"
	if err := os.WriteFile(taken, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, path, Options{Now: func() time.Time { return now }})
	if err == nil || !strings.Contains(err.Error(), "cannot back up the database before migrating it from version 1") ||
		!strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("got %v", err)
	}
	if data, _ := os.ReadFile(taken); string(data) != "not a database" {
		t.Error("the file in the way was changed")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != 1 {
		t.Fatalf("database at version %d after a refused migration, %v", v, err)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s := open(t, path)
	if err := s.Check(ctx); err != nil {
		t.Fatalf("healthy database: %v", err)
	}

	// The same file opened read-only, as when the service's user cannot write it or its
	// disk was mounted read-only.
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_txlock", "immediate")
	ro, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	rs := &Store{db: ro}
	err = rs.Check(ctx)
	if !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only database: %v", err)
	}
	_ = ro.Close()

	_ = s.Close()
	err = s.Check(ctx)
	if err == nil || errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("closed database: %v", err)
	}
	if strings.Contains(err.Error(), path) {
		t.Fatalf("the error names the file: %v", err)
	}
}

// Inspect reads the version without migrating; it refuses a newer database as Open does.
func TestInspect(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	latest := migrations()[len(migrations())-1].version
	if sc, err := Inspect(ctx, path); err != nil || sc.Exists || sc.Latest != latest {
		t.Fatalf("no file: %+v, %v", sc, err)
	}
	openRaw(t, path, migrations()[:1], time.Now())
	if sc, err := Inspect(ctx, path); err != nil || !sc.Exists || sc.Version != 1 || sc.Latest != latest {
		t.Fatalf("old database: %+v, %v", sc, err)
	}
	if baks, _ := filepath.Glob(path + ".bak-*"); len(baks) != 0 {
		t.Fatalf("Inspect made a backup: %v", baks)
	}
	s := open(t, path)
	if _, err := s.db.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (999, 'future', 0)"); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := Inspect(ctx, path); err == nil || !strings.Contains(err.Error(), "newer than this Beffroi knows") {
		t.Fatalf("newer database: %v", err)
	}
}

// TestMigrationsNumbered: the steps are numbered 1, 2, 3 ... in order. migrate skips every
// step at or below the database's version, so a step numbered out of order (branches merged
// in another order than their numbers) would never run on a database already past it.
func TestMigrationsNumbered(t *testing.T) {
	for i, m := range migrations() {
		if m.version != i+1 {
			t.Fatalf("migration %d (%s) is at place %d of the list: steps must be numbered in order, from 1, without a gap", m.version, m.name, i+1)
		}
	}
}
