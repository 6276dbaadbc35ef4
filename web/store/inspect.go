package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
)

// Schema is what Inspect finds of a database file.
type Schema struct {
	// Exists is false when there is no file yet: the first start makes it.
	Exists bool
	// Version is the newest migration applied to the file; Latest the newest this Beffroi
	// has. Version < Latest: the next start migrates it, after a backup.
	Version, Latest int
}

// Inspect reads the schema version of the database at path without changing anything (it
// opens the file read-only and applies no migration), for `beffroi config check` before an
// upgrade. A database from a newer Beffroi is an error, as Open would make it.
func Inspect(ctx context.Context, path string) (Schema, error) {
	steps := migrations()
	sc := Schema{Latest: steps[len(steps)-1].version}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return sc, nil
	} else if err != nil {
		return sc, fmt.Errorf("database %s: %w", path, err)
	}
	sc.Exists = true
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return sc, fmt.Errorf("database %s: %w", path, err)
	}
	defer func() { _ = db.Close() }()
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return sc, fmt.Errorf("database %s: %w", path, err)
	}
	if tables == 0 {
		return sc, nil // an empty file: the first start fills it
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&sc.Version); err != nil {
		return sc, fmt.Errorf("database %s: schema version: %w", path, err)
	}
	if sc.Version > sc.Latest {
		return sc, fmt.Errorf("database %s: at schema version %d, newer than this Beffroi knows (%d): run a newer Beffroi or restore a backup", path, sc.Version, sc.Latest)
	}
	return sc, nil
}
