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

// The events history: audience_events keeps each stream's last event; when the next one
// begins, SaveAudience moves it here (archiveEvent), so every event keeps its report.

// archiveEvent copies stream's stored event and its samples into the history. Called in
// SaveAudience's transaction, before the new event replaces it.
func archiveEvent(ctx context.Context, tx *sql.Tx, stream string) error {
	if _, err := tx.ExecContext(ctx, `
INSERT OR REPLACE INTO audience_history (event, stream, started, ended, peak, peak_at, peak_by, distinct_exact, distinct_set, watched, every, outputs, periods)
SELECT event, stream, started, COALESCE(ended, live_at, updated), peak, peak_at, peak_by, distinct_exact, distinct_set, watched, every, outputs, periods
FROM audience_events WHERE stream = ?`, stream); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `
INSERT OR REPLACE INTO audience_history_samples (event, idx, at, total, hls, whep, other, platforms)
SELECT e.event, s.idx, s.at, s.total, s.hls, s.whep, s.other, s.platforms
FROM audience_samples s JOIN audience_events e ON e.stream = s.stream WHERE s.stream = ?`, stream)
	return err
}

func extrasJSON(e audience.EventSnapshot) (outputs, periods string, err error) {
	o, p := e.Outputs, e.Periods
	if o == nil {
		o = []audience.Output{}
	}
	if p == nil {
		p = []audience.Period{}
	}
	ob, err := json.Marshal(o)
	if err != nil {
		return "", "", err
	}
	pb, err := json.Marshal(p)
	return string(ob), string(pb), err
}

func readExtras(e *audience.EventSnapshot, outputs, periods string) error {
	if err := json.Unmarshal([]byte(outputs), &e.Outputs); err != nil {
		return fmt.Errorf("destinations: %w", err)
	}
	if err := json.Unmarshal([]byte(periods), &e.Periods); err != nil {
		return fmt.Errorf("periods: %w", err)
	}
	return nil
}

// platformsJSON is a sample's platform counts as their column holds them: ” for none.
func platformsJSON(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m) // a map of strings to ints always marshals
	return string(b)
}

// samples reads a series: query selects at, total, hls, whep, other, platforms.
func (s *Store) samples(ctx context.Context, query string, args ...any) ([]audience.Sample, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []audience.Sample
	for rows.Next() {
		var p audience.Sample
		var at int64
		var plat string
		if err := rows.Scan(&at, &p.Total, &p.HLS, &p.WHEP, &p.Other, &plat); err != nil {
			return nil, err
		}
		p.At = fromMS(at)
		if plat != "" {
			if err := json.Unmarshal([]byte(plat), &p.Platforms); err != nil {
				return nil, fmt.Errorf("sample %d's platforms: %w", len(out), err)
			}
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// EventSummary is one event in a stream's list of reports.
type EventSummary struct {
	ID    string     `json:"id"`
	Start time.Time  `json:"start"`
	End   *time.Time `json:"end"` // nil while the event may go on
	Peak  int        `json:"peak"`
}

// AudienceEvents lists stream's events, the newest first: the last one, then the history,
// at most limit.
func (s *Store) AudienceEvents(ctx context.Context, stream string, limit int) ([]EventSummary, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT event, started, ended, peak FROM audience_events WHERE stream = ?
UNION ALL
SELECT event, started, ended, peak FROM audience_history WHERE stream = ? AND event NOT IN (SELECT event FROM audience_events WHERE stream = ?)
ORDER BY started DESC LIMIT ?`, stream, stream, stream, limit)
	if err != nil {
		return nil, fmt.Errorf("events of %q: %w", stream, err)
	}
	defer func() { _ = rows.Close() }()
	out := []EventSummary{}
	for rows.Next() {
		var e EventSummary
		var started int64
		var ended sql.NullInt64
		if err := rows.Scan(&e.ID, &started, &ended, &e.Peak); err != nil {
			return nil, fmt.Errorf("events of %q: %w", stream, err)
		}
		e.Start = fromMS(started)
		if ended.Valid {
			t := fromMS(ended.Int64)
			e.End = &t
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// AudienceEvent returns one event of stream from the history (the last event is
// LoadAudience's), and false when there is none by that ID.
func (s *Store) AudienceEvent(ctx context.Context, stream, id string) (audience.EventSnapshot, bool, error) {
	e := audience.EventSnapshot{Stream: stream, ID: id}
	var started, ended, watched, every int64
	var peakAt sql.NullInt64
	var peakBy, outs, periods string
	err := s.db.QueryRowContext(ctx, `
SELECT started, ended, peak, peak_at, peak_by, distinct_exact, distinct_set, watched, every, outputs, periods
FROM audience_history WHERE stream = ? AND event = ?`, stream, id).Scan(&started, &ended, &e.Peak.Total, &peakAt, &peakBy,
		&e.DistinctExact, &e.Distinct, &watched, &every, &outs, &periods)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("event %s of %q: %w", id, stream, err)
	}
	e.Start, e.End, e.Peak.At = fromMS(started), fromMS(ended), fromNullMS(peakAt)
	e.LiveAt = e.End
	e.Watched, e.Every = time.Duration(watched)*time.Millisecond, time.Duration(every)*time.Millisecond
	if err := json.Unmarshal([]byte(peakBy), &e.Peak.ByProtocol); err != nil {
		return e, false, fmt.Errorf("event %s of %q: peak by protocol: %w", id, stream, err)
	}
	if err := readExtras(&e, outs, periods); err != nil {
		return e, false, fmt.Errorf("event %s of %q: %w", id, stream, err)
	}
	if e.Series, err = s.samples(ctx, `SELECT at, total, hls, whep, other, platforms FROM audience_history_samples WHERE event = ? ORDER BY idx`, id); err != nil {
		return e, false, fmt.Errorf("event %s of %q: %w", id, stream, err)
	}
	return e, true, nil
}
