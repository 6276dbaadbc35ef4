package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/beffroi/beffroi/relay/audience"
)

// The store keeps the audience of each stream's last event.
var _ audience.Journal = (*Store)(nil)

// nullMS is a time as a nullable column: NULL for the zero time.
func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

// SaveAudience implements audience.Journal, in one transaction: the event's row, and its
// series from s.SeriesFrom on. Another event than the stored one replaces it, samples and all.
func (s *Store) SaveAudience(ctx context.Context, e audience.EventSnapshot) error {
	if e.Stream == "" || e.ID == "" {
		return errors.New("audience: an event without a stream or an id")
	}
	peakBy, err := json.Marshal(e.Peak.ByProtocol)
	if err != nil {
		return fmt.Errorf("audience of %q: %w", e.Stream, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audience of %q: %w", e.Stream, err)
	}
	defer func() { _ = tx.Rollback() }()
	var stored string
	err = tx.QueryRowContext(ctx, `SELECT event FROM audience_events WHERE stream = ?`, e.Stream).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("audience of %q: %w", e.Stream, err)
	}
	if stored != e.ID {
		// A new event: the stored one goes to the history, for its report.
		if e.SeriesFrom != 0 {
			return fmt.Errorf("audience of %q: event %s's series from sample %d, but the database holds none of it", e.Stream, e.ID, e.SeriesFrom)
		}
		if stored != "" {
			if err := archiveEvent(ctx, tx, e.Stream); err != nil {
				return fmt.Errorf("audience of %q: keeping event %s in the history: %w", e.Stream, stored, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM audience_samples WHERE stream = ?`, e.Stream); err != nil {
			return fmt.Errorf("audience of %q: %w", e.Stream, err)
		}
		if e.Distinct == nil {
			e.Distinct = []byte{}
		}
	} else {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audience_samples WHERE stream = ? AND idx < ?`, e.Stream, e.SeriesFrom).Scan(&n); err != nil {
			return fmt.Errorf("audience of %q: %w", e.Stream, err)
		}
		if n != e.SeriesFrom {
			return fmt.Errorf("audience of %q: series from sample %d, but the database holds %d before it", e.Stream, e.SeriesFrom, n)
		}
	}
	outs, periods, err := extrasJSON(e)
	if err != nil {
		return fmt.Errorf("audience of %q: %w", e.Stream, err)
	}
	keep := e.Distinct == nil // the same event, its set unchanged: keep the stored one
	var set any               // NULL when kept; COALESCE makes it empty on a first row
	if !keep {
		set = e.Distinct
	}
	if _, err := tx.ExecContext(ctx, `
INSERT INTO audience_events (stream, event, started, ended, live_at, peak, peak_at, peak_by, distinct_exact, distinct_set, watched, every, updated, outputs, periods)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, X''), ?, ?, ?, ?, ?)
ON CONFLICT (stream) DO UPDATE SET
	event = excluded.event, started = excluded.started, ended = excluded.ended, live_at = excluded.live_at,
	peak = excluded.peak, peak_at = excluded.peak_at, peak_by = excluded.peak_by,
	distinct_exact = excluded.distinct_exact,
	distinct_set = CASE WHEN ? THEN audience_events.distinct_set ELSE excluded.distinct_set END,
	watched = excluded.watched, every = excluded.every, updated = excluded.updated,
	outputs = excluded.outputs, periods = excluded.periods`,
		e.Stream, e.ID, ms(e.Start), nullMS(e.End), nullMS(e.LiveAt), e.Peak.Total, nullMS(e.Peak.At), string(peakBy),
		e.DistinctExact, set, e.Watched.Milliseconds(), e.Every.Milliseconds(), ms(s.now()), outs, periods, keep); err != nil {
		return fmt.Errorf("audience of %q: %w", e.Stream, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM audience_samples WHERE stream = ? AND idx >= ?`, e.Stream, e.SeriesFrom); err != nil {
		return fmt.Errorf("audience of %q: %w", e.Stream, err)
	}
	if len(e.Series) > 0 {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO audience_samples (stream, idx, at, total, hls, whep, other, platforms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("audience of %q: %w", e.Stream, err)
		}
		defer func() { _ = ins.Close() }()
		for i, p := range e.Series {
			if _, err := ins.ExecContext(ctx, e.Stream, e.SeriesFrom+i, ms(p.At), p.Total, p.HLS, p.WHEP, p.Other, platformsJSON(p.Platforms)); err != nil {
				return fmt.Errorf("audience of %q: %w", e.Stream, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audience of %q: %w", e.Stream, err)
	}
	return nil
}

// LoadAudience implements audience.Journal.
func (s *Store) LoadAudience(ctx context.Context, stream string) (audience.EventSnapshot, bool, error) {
	e := audience.EventSnapshot{Stream: stream}
	var started, watched, every int64
	var ended, liveAt, peakAt sql.NullInt64
	var peakBy, outs, periods string
	err := s.db.QueryRowContext(ctx, `
SELECT event, started, ended, live_at, peak, peak_at, peak_by, distinct_exact, distinct_set, watched, every, outputs, periods
FROM audience_events WHERE stream = ?`, stream).Scan(&e.ID, &started, &ended, &liveAt, &e.Peak.Total, &peakAt, &peakBy,
		&e.DistinctExact, &e.Distinct, &watched, &every, &outs, &periods)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("audience of %q: %w", stream, err)
	}
	e.Start, e.End, e.LiveAt, e.Peak.At = fromMS(started), fromNullMS(ended), fromNullMS(liveAt), fromNullMS(peakAt)
	e.Watched, e.Every = time.Duration(watched)*time.Millisecond, time.Duration(every)*time.Millisecond
	if err := json.Unmarshal([]byte(peakBy), &e.Peak.ByProtocol); err != nil {
		return e, false, fmt.Errorf("audience of %q: peak by protocol: %w", stream, err)
	}
	if err := readExtras(&e, outs, periods); err != nil {
		return e, false, fmt.Errorf("audience of %q: %w", stream, err)
	}
	if e.Series, err = s.samples(ctx, `SELECT at, total, hls, whep, other, platforms FROM audience_samples WHERE stream = ? ORDER BY idx`, stream); err != nil {
		return e, false, fmt.Errorf("audience of %q: %w", stream, err)
	}
	return e, true, nil
}
