package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Clip is one story clip cut from a recording (web/clips makes it).
type Clip struct {
	ID        string
	Recording string
	In, Out   float64 // seconds from the recording's start
	Shape     string  // "9:16", "1:1", "16:9"
	Caption   string
	Logo      bool
	State     string  // web/clips' states: queued, exporting, done, failed, cancelled
	Progress  float64 // 0 to 1
	Error     string  // why a failed export failed
	File      string  // the MP4's name in the clips directory, once done
	Size      int64
	Width     int
	Height    int
	Created   time.Time
	Updated   time.Time
}

const clipColumns = `id, recording, in_s, out_s, shape, caption, logo, state, progress, error, file, size, width, height, created, updated`

func scanClip(row interface{ Scan(...any) error }) (Clip, error) {
	var c Clip
	var created, updated int64
	err := row.Scan(&c.ID, &c.Recording, &c.In, &c.Out, &c.Shape, &c.Caption, &c.Logo, &c.State, &c.Progress,
		&c.Error, &c.File, &c.Size, &c.Width, &c.Height, &created, &updated)
	c.Created = time.UnixMilli(created).UTC()
	c.Updated = time.UnixMilli(updated).UTC()
	return c, err
}

// CreateClip adds a clip; its recording must exist (ErrNotFound otherwise).
func (s *Store) CreateClip(ctx context.Context, c Clip) (Clip, error) {
	now := s.now()
	c.Created, c.Updated = now.UTC().Truncate(time.Millisecond), now.UTC().Truncate(time.Millisecond)
	_, err := s.db.ExecContext(ctx, `INSERT INTO clips (`+clipColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Recording, c.In, c.Out, c.Shape, c.Caption, c.Logo, c.State, c.Progress, c.Error, c.File, c.Size,
		c.Width, c.Height, now.UnixMilli(), now.UnixMilli())
	if err != nil && strings.Contains(err.Error(), "FOREIGN KEY") {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("clip %q: %w", c.ID, err)
	}
	return c, nil
}

// Clip returns one clip of a recording, or ErrNotFound.
func (s *Store) Clip(ctx context.Context, recording, id string) (Clip, error) {
	c, err := scanClip(s.db.QueryRowContext(ctx, `SELECT `+clipColumns+` FROM clips WHERE id = ? AND recording = ?`, id, recording))
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// Clips returns a recording's clips, oldest first; with recording "", every clip in one of
// states (all clips when states is empty).
func (s *Store) Clips(ctx context.Context, recording string, states ...string) ([]Clip, error) {
	var where []string
	var args []any
	if recording != "" {
		where = append(where, "recording = ?")
		args = append(args, recording)
	}
	if len(states) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(states)-1)+")")
		for _, st := range states {
			args = append(args, st)
		}
	}
	q := `SELECT ` + clipColumns + ` FROM clips`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created, id`, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	list := []Clip{}
	for rows.Next() {
		c, err := scanClip(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, c)
	}
	return list, rows.Err()
}

// ClipUpdate is what an export changes; nil fields stay as they are.
type ClipUpdate struct {
	State         *string
	Progress      *float64
	Error         *string
	File          *string
	Size          *int64
	Width, Height *int
}

// UpdateClip applies u, or returns ErrNotFound when the clip is gone (its recording was
// deleted meanwhile).
func (s *Store) UpdateClip(ctx context.Context, id string, u ClipUpdate) error {
	set := []string{"updated = ?"}
	args := []any{s.now().UnixMilli()}
	for _, f := range []struct {
		col string
		v   any
		ok  bool
	}{
		{"state", deref(u.State), u.State != nil},
		{"progress", deref(u.Progress), u.Progress != nil},
		{"error", deref(u.Error), u.Error != nil},
		{"file", deref(u.File), u.File != nil},
		{"size", deref(u.Size), u.Size != nil},
		{"width", deref(u.Width), u.Width != nil},
		{"height", deref(u.Height), u.Height != nil},
	} {
		if f.ok {
			set = append(set, f.col+" = ?")
			args = append(args, f.v)
		}
	}
	res, err := s.db.ExecContext(ctx, `UPDATE clips SET `+strings.Join(set, ", ")+` WHERE id = ?`, append(args, id)...)
	if err != nil {
		return fmt.Errorf("clip %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// DeleteClip removes a clip's row, or returns ErrNotFound.
func (s *Store) DeleteClip(ctx context.Context, recording, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM clips WHERE id = ? AND recording = ?`, id, recording)
	if err != nil {
		return fmt.Errorf("clip %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
