package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beffroi/beffroi/outputs/record"
)

// The store is the recorder's catalogue.
var _ record.Catalog = (*Store)(nil)

// Recording is one row of the catalogue: what the recorder reported plus what operators
// set (title, description, published).
type Recording struct {
	ID          string
	Stream      string
	Title       string
	Description string
	Started     time.Time
	Ended       time.Time // zero while recording
	Duration    float64   // seconds
	Size        int64     // bytes
	Segments    int
	State       record.State
	Published   bool
	Thumbnail   bool   // thumb.jpg was made
	Dir         string // the recording's directory
}

// InProgress reports whether the recorder may still write to the recording.
func (r Recording) InProgress() bool {
	return r.State == record.Recording || r.State == record.Paused
}

// Recorded upserts the recorder's view of a recording. It never touches the title, the
// description or the published flag, which belong to operators. Errors are logged: the
// recorder must not stop recording because the catalogue failed.
func (s *Store) Recorded(in record.Info) {
	if err := s.Upsert(context.Background(), in); err != nil {
		s.log.Error("recordings catalogue: cannot record a change", "recording", in.ID, "error", err)
	}
}

// Upsert is Recorded with its error.
func (s *Store) Upsert(ctx context.Context, in record.Info) error {
	if in.ID == "" {
		return errors.New("recording without an id")
	}
	now := s.now().UnixMilli()
	var ended any
	if !in.Ended.IsZero() {
		ended = in.Ended.UnixMilli()
	}
	_, err := s.db.ExecContext(ctx, `
INSERT INTO recordings (id, stream, started, ended, duration, size, segments, state, dir, created, updated)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
	stream = excluded.stream, started = excluded.started, ended = excluded.ended,
	duration = excluded.duration, size = excluded.size, segments = excluded.segments,
	state = excluded.state, dir = excluded.dir, updated = excluded.updated`,
		in.ID, in.Stream, in.Started.UnixMilli(), ended, in.Duration, in.Size, in.Segments, string(in.State), in.Dir, now, now)
	if err != nil {
		return fmt.Errorf("recording %q: %w", in.ID, err)
	}
	return nil
}

const recordingColumns = `id, stream, title, description, started, ended, duration, size, segments, state, published, thumbnail, dir`

func scanRecording(row interface{ Scan(...any) error }) (Recording, error) {
	var r Recording
	var started int64
	var ended sql.NullInt64
	var state string
	err := row.Scan(&r.ID, &r.Stream, &r.Title, &r.Description, &started, &ended, &r.Duration, &r.Size,
		&r.Segments, &state, &r.Published, &r.Thumbnail, &r.Dir)
	if err != nil {
		return r, err
	}
	r.Started = time.UnixMilli(started).UTC()
	if ended.Valid {
		r.Ended = time.UnixMilli(ended.Int64).UTC()
	}
	r.State = record.State(state)
	return r, nil
}

// Get returns one recording, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Recording, error) {
	r, err := scanRecording(s.db.QueryRowContext(ctx, `SELECT `+recordingColumns+` FROM recordings WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

// Filter selects recordings for List. Zero fields select everything.
type Filter struct {
	Stream        string
	From, To      time.Time // started in [From, To)
	PublishedOnly bool
	Limit, Offset int // Limit 0 means no limit
}

// List returns the recordings Filter selects, newest first, and how many match in all
// (ignoring Limit and Offset).
func (s *Store) List(ctx context.Context, f Filter) ([]Recording, int, error) {
	var where []string
	var args []any
	if f.Stream != "" {
		where = append(where, "stream = ?")
		args = append(args, f.Stream)
	}
	if !f.From.IsZero() {
		where = append(where, "started >= ?")
		args = append(args, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		where = append(where, "started < ?")
		args = append(args, f.To.UnixMilli())
	}
	if f.PublishedOnly {
		where = append(where, "published = 1")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM recordings`+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+recordingColumns+` FROM recordings`+cond+
		` ORDER BY started DESC, id DESC LIMIT ? OFFSET ?`, append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = rows.Close() }()
	list := []Recording{}
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, 0, err
		}
		list = append(list, r)
	}
	return list, total, rows.Err()
}

// Patch holds the operator's changes to a recording; nil fields are left as they are.
type Patch struct {
	Title       *string
	Description *string
	Published   *bool
}

// Update applies p and returns the recording as it now is, or ErrNotFound.
func (s *Store) Update(ctx context.Context, id string, p Patch) (Recording, error) {
	var set []string
	var args []any
	if p.Title != nil {
		set = append(set, "title = ?")
		args = append(args, *p.Title)
	}
	if p.Description != nil {
		set = append(set, "description = ?")
		args = append(args, *p.Description)
	}
	if p.Published != nil {
		set = append(set, "published = ?")
		args = append(args, *p.Published)
	}
	set = append(set, "updated = ?")
	args = append(args, s.now().UnixMilli(), id)
	res, err := s.db.ExecContext(ctx, `UPDATE recordings SET `+strings.Join(set, ", ")+` WHERE id = ?`, args...)
	if err != nil {
		return Recording{}, fmt.Errorf("recording %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Recording{}, ErrNotFound
	}
	return s.Get(ctx, id)
}

// SetThumbnail records whether the recording's thumbnail exists.
func (s *Store) SetThumbnail(ctx context.Context, id string, ok bool) error {
	_, err := s.db.ExecContext(ctx, `UPDATE recordings SET thumbnail = ? WHERE id = ?`, ok, id)
	return err
}

// Delete removes a recording's row and returns it (so the caller can remove its files).
// It refuses, with ErrInProgress, a recording the recorder is still writing, and returns
// ErrNotFound for an unknown id. The check and the removal are one statement, so a
// recording that starts being written meanwhile is never removed.
func (s *Store) Delete(ctx context.Context, id string) (Recording, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return r, err
	}
	if r.InProgress() {
		return r, ErrInProgress
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM recordings WHERE id = ? AND state NOT IN (?, ?)`,
		id, string(record.Recording), string(record.Paused))
	if err != nil {
		return r, fmt.Errorf("recording %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// It changed between the two statements: look again to say why.
		if _, err := s.Get(ctx, id); errors.Is(err, ErrNotFound) {
			return r, ErrNotFound
		}
		return r, ErrInProgress
	}
	return r, nil
}
