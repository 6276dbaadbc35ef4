package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// FileName is the database's file name inside the data directory.
const FileName = "beffroi.db"

// Store is the embedded database. Its methods are safe for concurrent use.
type Store struct {
	db  *sql.DB
	log *slog.Logger
	now func() time.Time
}

// Options tune Open; the zero value is fine.
type Options struct {
	Logger *slog.Logger
	// Now replaces time.Now in tests.
	Now func() time.Time
}

// Open opens (creating it if needed) the database at path and migrates its schema to the
// newest version, after copying an existing database to <path>.bak-<version>-<time> when
// there is anything to migrate (migrate). A database it cannot open, or one written by a
// newer Beffroi, is an error that names the file.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	s := &Store{log: o.Logger, now: o.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	// The database holds publish keys and platform stream keys: create it readable by its
	// owner only (SQLite gives its -wal and -shm files the database file's mode).
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
		_ = f.Close()
	}
	// WAL lets readers (the API) go on while the recorder writes; busy_timeout makes a writer
	// wait for another instead of failing; immediate transactions take the write lock at
	// BEGIN, so two writers never deadlock upgrading a read lock.
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(5000)", "foreign_keys(ON)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	s.db = db
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	if mode != "wal" {
		_ = db.Close()
		return nil, fmt.Errorf("database %s: cannot use write-ahead logging (journal_mode %q); is it on a network filesystem?", path, mode)
	}
	if err := migrate(ctx, db, path, migrations(), s.now(), s.log); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// SchemaVersion returns the version of the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Errors the store returns; callers compare with errors.Is.
var (
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("not found")
	// ErrInProgress: the recording is still being written and cannot be deleted.
	ErrInProgress = errors.New("recording in progress")
)
