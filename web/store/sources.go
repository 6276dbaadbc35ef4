package store

import (
	"context"
	"fmt"

	"github.com/beffroi/beffroi/web/manage"
)

// The store keeps the backup sources of the streams made in the console.
var _ manage.SourceStore = (*Store)(nil)

// ListSources implements manage.SourceStore: every stream's sources, by priority.
func (s *Store) ListSources(ctx context.Context) ([]manage.Source, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT stream, name, publish_key, created FROM stream_sources ORDER BY stream, priority, created`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var l []manage.Source
	for rows.Next() {
		var src manage.Source
		var created int64
		if err := rows.Scan(&src.Stream, &src.Name, &src.PublishKey, &created); err != nil {
			return nil, err
		}
		src.Created = fromMS(created)
		l = append(l, src)
	}
	return l, rows.Err()
}

// CreateSource implements manage.SourceStore: the source comes after the stream's others.
func (s *Store) CreateSource(ctx context.Context, src manage.Source) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO stream_sources (stream, name, publish_key, priority, created)
		VALUES (?, ?, ?, (SELECT COALESCE(MAX(priority), 0) + 1 FROM stream_sources WHERE stream = ?), ?)`,
		src.Stream, src.Name, src.PublishKey, src.Stream, ms(src.Created))
	if err != nil {
		return fmt.Errorf("source %q of stream %q: %w", src.Name, src.Stream, err)
	}
	return nil
}

// DeleteSource implements manage.SourceStore.
func (s *Store) DeleteSource(ctx context.Context, stream, name string) error {
	if err := s.exec1(ctx, `DELETE FROM stream_sources WHERE stream = ? AND name = ?`, stream, name); err != nil {
		return fmt.Errorf("source %q of stream %q: %w", name, stream, err)
	}
	return nil
}
