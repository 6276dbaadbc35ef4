package store

import (
	"context"
	"fmt"

	"github.com/beffroi/beffroi/web/manage"
)

// The store keeps the streams and destinations made in the console.
var _ manage.Store = (*Store)(nil)

// ListStreams implements manage.Store.
func (s *Store) ListStreams(ctx context.Context) ([]manage.Stream, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, publish_key, created, record FROM streams ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var l []manage.Stream
	for rows.Next() {
		var st manage.Stream
		var created int64
		var rec bool
		if err := rows.Scan(&st.Name, &st.PublishKey, &created, &rec); err != nil {
			return nil, err
		}
		st.Created, st.NoRecord = fromMS(created), !rec
		l = append(l, st)
	}
	return l, rows.Err()
}

// CreateStream implements manage.Store.
func (s *Store) CreateStream(ctx context.Context, st manage.Stream) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO streams (name, publish_key, created, record) VALUES (?, ?, ?, ?)`,
		st.Name, st.PublishKey, ms(st.Created), !st.NoRecord)
	if err != nil {
		return fmt.Errorf("stream %q: %w", st.Name, err)
	}
	return nil
}

// SetStreamKey implements manage.Store.
func (s *Store) SetStreamKey(ctx context.Context, name, key string) error {
	if err := s.exec1(ctx, `UPDATE streams SET publish_key = ? WHERE name = ?`, key, name); err != nil {
		return fmt.Errorf("stream %q: %w", name, err)
	}
	return nil
}

// SetStreamRecord implements manage.Store.
func (s *Store) SetStreamRecord(ctx context.Context, name string, on bool) error {
	if err := s.exec1(ctx, `UPDATE streams SET record = ? WHERE name = ?`, on, name); err != nil {
		return fmt.Errorf("stream %q: %w", name, err)
	}
	return nil
}

// DeleteStream implements manage.Store, with the stream's destinations.
func (s *Store) DeleteStream(ctx context.Context, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM destinations WHERE stream = ?`, name); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM stream_sources WHERE stream = ?`, name); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM streams WHERE name = ?`, name); err != nil {
		return err
	}
	return tx.Commit()
}

// ListDestinations implements manage.Store.
func (s *Store) ListDestinations(ctx context.Context) ([]manage.Destination, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT stream, name, url, enabled, allow_private, shape FROM destinations ORDER BY stream, rowid`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var l []manage.Destination
	for rows.Next() {
		var d manage.Destination
		if err := rows.Scan(&d.Stream, &d.Name, &d.URL, &d.Enabled, &d.AllowPrivate, &d.Shape); err != nil {
			return nil, err
		}
		l = append(l, d)
	}
	return l, rows.Err()
}

// SaveDestination implements manage.Store.
func (s *Store) SaveDestination(ctx context.Context, d manage.Destination) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO destinations (stream, name, url, enabled, allow_private, shape) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (stream, name) DO UPDATE SET url = excluded.url, enabled = excluded.enabled, allow_private = excluded.allow_private, shape = excluded.shape`,
		d.Stream, d.Name, d.URL, d.Enabled, d.AllowPrivate, d.Shape)
	return err
}

// DeleteDestination implements manage.Store.
func (s *Store) DeleteDestination(ctx context.Context, stream, name string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM destinations WHERE stream = ? AND name = ?`, stream, name)
	return err
}
