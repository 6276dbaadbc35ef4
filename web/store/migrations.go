package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// migration is one step of the schema. Migrations are applied in order, each in its own
// transaction together with its row in schema_migrations, so a database is always at one
// known version. Append new steps at the end; never edit or renumber one that has shipped.
// There are no steps down: going back to an older Beffroi means restoring the backup that
// migrate makes before it applies anything.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the schema, step by step.
//
// recordings.stream stays a plain name, not a foreign key: streams may come from the
// configuration file as well as the database.
func migrations() []migration {
	return []migration{
		{1, "recordings catalogue", `
CREATE TABLE recordings (
	id          TEXT PRIMARY KEY,
	stream      TEXT NOT NULL,
	title       TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	started     INTEGER NOT NULL,          -- unix milliseconds
	ended       INTEGER,                   -- unix milliseconds; NULL while recording
	duration    REAL NOT NULL DEFAULT 0,   -- seconds
	size        INTEGER NOT NULL DEFAULT 0, -- bytes of init and media segments
	segments    INTEGER NOT NULL DEFAULT 0,
	state       TEXT NOT NULL,
	published   INTEGER NOT NULL DEFAULT 0,
	thumbnail   INTEGER NOT NULL DEFAULT 0, -- thumb.jpg exists in dir
	dir         TEXT NOT NULL,
	created     INTEGER NOT NULL,
	updated     INTEGER NOT NULL
);
CREATE INDEX recordings_by_start ON recordings (started DESC, id DESC);
CREATE INDEX recordings_by_stream ON recordings (stream, started DESC);
CREATE INDEX recordings_published ON recordings (published, started DESC);
`},
		{2, "accounts, streams and destinations made in the console, audit log", `
CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	role          TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	created       INTEGER NOT NULL
);
CREATE TABLE sessions (
	id_hash TEXT PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf    TEXT NOT NULL,
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE TABLE api_tokens (
	id        INTEGER PRIMARY KEY,
	name      TEXT NOT NULL,
	user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash      TEXT NOT NULL UNIQUE,
	created   INTEGER NOT NULL,
	last_used INTEGER
);
CREATE TABLE audit_log (
	id     INTEGER PRIMARY KEY,
	time   INTEGER NOT NULL,
	user   TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	detail TEXT NOT NULL DEFAULT '',
	remote TEXT NOT NULL DEFAULT ''
);
CREATE TABLE streams (
	name        TEXT PRIMARY KEY,
	publish_key TEXT NOT NULL UNIQUE,
	created     INTEGER NOT NULL
);
-- Destinations made in the console, on any stream (one from the configuration file too):
-- no foreign key to streams.
CREATE TABLE destinations (
	stream  TEXT NOT NULL,
	name    TEXT NOT NULL,
	url     TEXT NOT NULL,
	enabled INTEGER NOT NULL,
	PRIMARY KEY (stream, name)
);
`},
		{3, "recording switch of the streams made in the console", `
ALTER TABLE streams ADD COLUMN record INTEGER NOT NULL DEFAULT 1;
`},
		{4, "destinations an admin let reach private networks", `
ALTER TABLE destinations ADD COLUMN allow_private INTEGER NOT NULL DEFAULT 0;
`},
		{5, "a password nobody chose must be changed at the next login", `
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
`},
		{6, "the audience of each stream's last event, kept across restarts", `
-- One row per stream: its last event (relay/audience.EventSnapshot). Times are unix
-- milliseconds, durations milliseconds.
CREATE TABLE audience_events (
	stream         TEXT PRIMARY KEY,
	event          TEXT NOT NULL,
	started        INTEGER NOT NULL,
	ended          INTEGER,           -- NULL while the event may go on
	live_at        INTEGER,           -- the last time the stream was seen live in it
	peak           INTEGER NOT NULL,
	peak_at        INTEGER,
	peak_by        TEXT NOT NULL,     -- JSON object: each protocol's own peak
	distinct_exact INTEGER NOT NULL,  -- exact sessions (WHEP, RTMP players)
	distinct_set   BLOB NOT NULL,     -- the HLS tokens' set, as relay/audience encodes it
	watched        INTEGER NOT NULL,
	every          INTEGER NOT NULL,  -- the series' spacing
	updated        INTEGER NOT NULL
);
CREATE TABLE audience_samples (
	stream TEXT NOT NULL REFERENCES audience_events (stream) ON DELETE CASCADE,
	idx    INTEGER NOT NULL,          -- the sample's place in the event's series
	at     INTEGER NOT NULL,
	total  INTEGER NOT NULL,
	hls    INTEGER NOT NULL,
	whep   INTEGER NOT NULL,
	other  INTEGER NOT NULL,
	PRIMARY KEY (stream, idx)
) WITHOUT ROWID;
`},
		{7, "platform API credentials of destinations, and the platforms' viewer counts in the samples", `
-- The credentials Beffroi reads a destination's platform viewer count with
-- (outputs/platforms.Credentials). secret is write-only: the API says "set", never more.
-- No foreign key: destinations may come from the configuration file.
CREATE TABLE destination_platforms (
	stream      TEXT NOT NULL,
	destination TEXT NOT NULL,
	platform    TEXT NOT NULL,     -- youtube, twitch, facebook
	video_id    TEXT NOT NULL,     -- YouTube video ID, Twitch login, Facebook live video ID
	secret      TEXT NOT NULL,     -- JSON: api_key, token, client_id
	updated     INTEGER NOT NULL,
	PRIMARY KEY (stream, destination)
);
-- JSON object: each platform's count at the sample, by destination name ('' when none).
ALTER TABLE audience_samples ADD COLUMN platforms TEXT NOT NULL DEFAULT '';
`},
		{8, "past events kept for their reports; each event's destinations and periods", `
-- JSON arrays of relay/audience.Output and relay/audience.Period.
ALTER TABLE audience_events ADD COLUMN outputs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE audience_events ADD COLUMN periods TEXT NOT NULL DEFAULT '[]';
-- An event leaves audience_events (one row per stream) for here when the next one begins.
CREATE TABLE audience_history (
	event          TEXT PRIMARY KEY,
	stream         TEXT NOT NULL,
	started        INTEGER NOT NULL,
	ended          INTEGER NOT NULL,
	peak           INTEGER NOT NULL,
	peak_at        INTEGER,
	peak_by        TEXT NOT NULL,
	distinct_exact INTEGER NOT NULL,
	distinct_set   BLOB NOT NULL,
	watched        INTEGER NOT NULL,
	every          INTEGER NOT NULL,
	outputs        TEXT NOT NULL,
	periods        TEXT NOT NULL
);
CREATE INDEX audience_history_by_stream ON audience_history (stream, started DESC);
CREATE TABLE audience_history_samples (
	event     TEXT NOT NULL REFERENCES audience_history (event) ON DELETE CASCADE,
	idx       INTEGER NOT NULL,
	at        INTEGER NOT NULL,
	total     INTEGER NOT NULL,
	hls       INTEGER NOT NULL,
	whep      INTEGER NOT NULL,
	other     INTEGER NOT NULL,
	platforms TEXT NOT NULL,
	PRIMARY KEY (event, idx)
) WITHOUT ROWID;
`},
		{9, "story clips cut from the recordings", `
-- One row per clip: a part of a recording re-encoded for a platform's stories. in_s and
-- out_s are seconds from the recording's start; file is the MP4's name in the clips
-- directory (empty until the export is done). A clip goes with its recording.
CREATE TABLE clips (
	id        TEXT PRIMARY KEY,
	recording TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
	in_s      REAL NOT NULL,
	out_s     REAL NOT NULL,
	shape     TEXT NOT NULL,
	caption   TEXT NOT NULL DEFAULT '',
	logo      INTEGER NOT NULL DEFAULT 0,
	state     TEXT NOT NULL,
	progress  REAL NOT NULL DEFAULT 0,  -- 0 to 1
	error     TEXT NOT NULL DEFAULT '',
	file      TEXT NOT NULL DEFAULT '',
	size      INTEGER NOT NULL DEFAULT 0,
	width     INTEGER NOT NULL DEFAULT 0,
	height    INTEGER NOT NULL DEFAULT 0,
	created   INTEGER NOT NULL,          -- unix milliseconds
	updated   INTEGER NOT NULL
);
CREATE INDEX clips_by_recording ON clips (recording, created);
`},
		{10, "the picture a destination gets (a vertical rendition), '' the source's", `
ALTER TABLE destinations ADD COLUMN shape TEXT NOT NULL DEFAULT '';
`},
		{11, "backup sources of the streams made in the console", `
-- A stream's backup sources (failover), by priority (the lowest first); the stream's own
-- publish key is its primary source's. No foreign key to streams, like destinations.
CREATE TABLE stream_sources (
	stream      TEXT NOT NULL,
	name        TEXT NOT NULL,
	publish_key TEXT NOT NULL UNIQUE,
	priority    INTEGER NOT NULL,
	created     INTEGER NOT NULL,
	PRIMARY KEY (stream, name)
);
`},
	}
}

// migrate brings the database at path to the newest version of steps. Migrations only go
// forward: there is no step down, so before it applies anything to a database that already
// holds a schema it copies the file to a backup (backup), the way back to the older Beffroi.
// It refuses a database written by a newer Beffroi rather than guess what its tables mean.
func migrate(ctx context.Context, db *sql.DB, path string, steps []migration, now time.Time, log *slog.Logger) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at INTEGER NOT NULL
)`); err != nil {
		return fmt.Errorf("schema_migrations: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	latest := steps[len(steps)-1].version
	if current > latest {
		return fmt.Errorf("the database is at schema version %d, newer than this Beffroi knows (%d): run a newer Beffroi or restore a backup", current, latest)
	}
	if current > 0 && current < latest {
		bak, err := backup(ctx, db, path, current, now)
		if err != nil {
			return fmt.Errorf("cannot back up the database before migrating it from version %d to %d, so nothing was changed: %w", current, latest, err)
		}
		log.Info("database: backed up before migrating", "from_version", current, "to_version", latest, "backup", bak)
	}
	for _, m := range steps {
		if m.version <= current {
			continue
		}
		if err := apply(ctx, db, m, now); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

// backup writes a consistent copy of the database (the write-ahead log included) beside it,
// to <path>.bak-<version>-<UTC time>, readable by its owner only like the database itself
// (it holds the same keys), and returns its name. A backup that cannot be completed is
// removed.
func backup(ctx context.Context, db *sql.DB, path string, version int, now time.Time) (string, error) {
	bak := fmt.Sprintf("%s.bak-%d-%s", path, version, now.UTC().Format("20060102T150405Z"))
	// VACUUM INTO wants a file that does not exist or is empty: made here, so its mode is ours.
	f, err := os.OpenFile(bak, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(bak)
		return "", err
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, bak); err != nil {
		_ = os.Remove(bak)
		return "", fmt.Errorf("%s: %w", bak, err)
	}
	return bak, nil
}

func apply(ctx context.Context, db *sql.DB, m migration, now time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, now.UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}
