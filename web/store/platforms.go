package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/beffroi/beffroi/outputs/platforms"
)

// platformSecret is what the secret column holds.
type platformSecret struct {
	APIKey   string `json:"api_key,omitempty"`
	Token    string `json:"token,omitempty"`
	ClientID string `json:"client_id,omitempty"`
}

// SavePlatform stores (or replaces) the platform API credentials of stream's destination.
func (s *Store) SavePlatform(ctx context.Context, stream, dest string, c platforms.Credentials) error {
	sec, err := json.Marshal(platformSecret{APIKey: c.APIKey, Token: c.Token, ClientID: c.ClientID})
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `
INSERT INTO destination_platforms (stream, destination, platform, video_id, secret, updated) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (stream, destination) DO UPDATE SET platform = excluded.platform, video_id = excluded.video_id,
	secret = excluded.secret, updated = excluded.updated`,
		stream, dest, c.Platform, c.ID, string(sec), ms(s.now())); err != nil {
		return fmt.Errorf("platform credentials of %s/%s: %w", stream, dest, err)
	}
	return nil
}

// DeletePlatform forgets the credentials of stream's destination; false when there were none.
func (s *Store) DeletePlatform(ctx context.Context, stream, dest string) (bool, error) {
	r, err := s.db.ExecContext(ctx, `DELETE FROM destination_platforms WHERE stream = ? AND destination = ?`, stream, dest)
	if err != nil {
		return false, fmt.Errorf("platform credentials of %s/%s: %w", stream, dest, err)
	}
	n, err := r.RowsAffected()
	return n > 0, err
}

// PlatformTargets returns every destination's platform credentials.
func (s *Store) PlatformTargets(ctx context.Context) ([]platforms.Target, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT stream, destination, platform, video_id, secret FROM destination_platforms ORDER BY stream, destination`)
	if err != nil {
		return nil, fmt.Errorf("platform credentials: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []platforms.Target
	for rows.Next() {
		var t platforms.Target
		var sec string
		if err := rows.Scan(&t.Stream, &t.Destination, &t.Credentials.Platform, &t.Credentials.ID, &sec); err != nil {
			return nil, fmt.Errorf("platform credentials: %w", err)
		}
		var p platformSecret
		if err := json.Unmarshal([]byte(sec), &p); err != nil {
			return nil, fmt.Errorf("platform credentials of %s/%s: %w", t.Stream, t.Destination, err)
		}
		t.Credentials.APIKey, t.Credentials.Token, t.Credentials.ClientID = p.APIKey, p.Token, p.ClientID
		out = append(out, t)
	}
	return out, rows.Err()
}
