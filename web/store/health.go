package store

import (
	"context"
	"errors"
	"fmt"
)

// sqliteReadOnly is SQLITE_READONLY, the primary result code of a write refused because the
// database was opened read-only (a file the service's user cannot write, a read-only mount).
const sqliteReadOnly = 8

// ErrReadOnly says the database answers but refuses writes.
var ErrReadOnly = errors.New("database is read-only")

// Check reports whether the database answers and would take a write, for /healthz: in a
// transaction it rolls back, it runs a write that matches no row, which SQLite still refuses
// on a read-only database, so it changes nothing. A database that refuses writes gives an error wrapping ErrReadOnly. The error
// never names the file.
func (s *Store) Check(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		if isReadOnly(err) {
			return fmt.Errorf("%w: %w", ErrReadOnly, err)
		}
		return fmt.Errorf("database does not answer: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version < 0`); err != nil {
		if isReadOnly(err) {
			return fmt.Errorf("%w: %w", ErrReadOnly, err)
		}
		return fmt.Errorf("database does not answer: %w", err)
	}
	return nil
}

// isReadOnly reports whether err is SQLite's SQLITE_READONLY (or one of its extended codes).
func isReadOnly(err error) bool {
	var coded interface{ Code() int }
	return errors.As(err, &coded) && coded.Code()&0xff == sqliteReadOnly
}
