package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/outputs/record"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func info(id, stream string, started time.Time, state record.State) record.Info {
	return record.Info{ID: id, Stream: stream, Started: started, Duration: 12, Size: 1000, Segments: 6, State: state, Dir: "/rec/" + id}
}

func TestOpenMigratesOnceAndUsesWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", FileName)
	s := open(t, path)
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != migrations()[len(migrations())-1].version {
		t.Fatalf("schema version %d, %v", v, err)
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q, %v", mode, err)
	}
	if err := s.Upsert(ctx, info("a", "live", time.Now(), record.Finished)); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	// Reopening applies nothing twice and keeps the data.
	s2 := open(t, path)
	var n int
	if err := s2.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != len(migrations()) {
		t.Fatalf("%d migrations recorded, %v", n, err)
	}
	if _, err := s2.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// A database from a newer Beffroi is refused with a message that says what to do.
	if _, err := s2.db.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (999, 'future', 0)"); err != nil {
		t.Fatal(err)
	}
	_ = s2.Close()
	_, err = Open(ctx, path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this Beffroi") || !strings.Contains(err.Error(), path) {
		t.Fatalf("opening a newer database: %v", err)
	}
}

func TestOpenFailsClearly(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be.
	_, err := Open(context.Background(), dir, Options{})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("got %v", err)
	}
}

func TestRecordedKeepsOperatorFields(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), FileName))
	t0 := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	s.Recorded(info("concert", "main", t0, record.Recording))
	title, desc, pub := "Concert", "Fanfare on the square", true
	if _, err := s.Update(ctx, "concert", Patch{Title: &title, Description: &desc, Published: &pub}); err != nil {
		t.Fatal(err)
	}
	in := info("concert", "main", t0, record.Finished)
	in.Ended, in.Duration, in.Size = t0.Add(time.Hour), 3600, 5<<30
	s.Recorded(in)
	r, err := s.Get(ctx, "concert")
	if err != nil {
		t.Fatal(err)
	}
	if r.Title != title || r.Description != desc || !r.Published {
		t.Fatalf("operator fields lost: %+v", r)
	}
	if r.State != record.Finished || r.Duration != 3600 || r.Size != 5<<30 || !r.Ended.Equal(in.Ended) || !r.Started.Equal(t0) || r.Dir != in.Dir {
		t.Fatalf("recorder fields not updated: %+v", r)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := s.Update(ctx, "nope", Patch{Title: &title}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update unknown id: %v", err)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), FileName))
	day := time.Date(2026, 11, 1, 18, 0, 0, 0, time.UTC)
	for i := range 10 {
		stream := "main"
		if i%2 == 1 {
			stream = "council"
		}
		s.Recorded(info(stream+"-"+string(rune('a'+i)), stream, day.AddDate(0, 0, i), record.Finished))
	}
	all, total, err := s.List(ctx, Filter{})
	if err != nil || total != 10 || len(all) != 10 {
		t.Fatalf("list: %d/%d, %v", len(all), total, err)
	}
	for i := 1; i < len(all); i++ {
		if !all[i-1].Started.After(all[i].Started) {
			t.Fatalf("not newest first at %d", i)
		}
	}
	l, total, _ := s.List(ctx, Filter{Stream: "council"})
	if total != 5 || len(l) != 5 || l[0].Stream != "council" {
		t.Fatalf("stream filter: %d %+v", total, l)
	}
	l, total, _ = s.List(ctx, Filter{From: day.AddDate(0, 0, 2), To: day.AddDate(0, 0, 5)})
	if total != 3 || l[0].Started != day.AddDate(0, 0, 4) || l[2].Started != day.AddDate(0, 0, 2) {
		t.Fatalf("date filter: %d %+v", total, l)
	}
	var seen []string
	for off := 0; off < 10; off += 4 {
		page, total, _ := s.List(ctx, Filter{Limit: 4, Offset: off})
		if total != 10 {
			t.Fatalf("total %d", total)
		}
		for _, r := range page {
			seen = append(seen, r.ID)
		}
	}
	if len(seen) != 10 || seen[0] != all[0].ID || seen[9] != all[9].ID {
		t.Fatalf("pages: %v", seen)
	}
	pub := true
	if _, err := s.Update(ctx, all[3].ID, Patch{Published: &pub}); err != nil {
		t.Fatal(err)
	}
	l, total, _ = s.List(ctx, Filter{PublishedOnly: true})
	if total != 1 || l[0].ID != all[3].ID {
		t.Fatalf("published only: %+v", l)
	}
}

func TestDeleteRefusesRecordingInProgress(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), FileName))
	now := time.Now()
	s.Recorded(info("live", "main", now, record.Recording))
	s.Recorded(info("paused", "main", now, record.Paused))
	s.Recorded(info("done", "main", now, record.Interrupted))
	for _, id := range []string{"live", "paused"} {
		if _, err := s.Delete(ctx, id); !errors.Is(err, ErrInProgress) {
			t.Fatalf("delete %s: %v", id, err)
		}
	}
	r, err := s.Delete(ctx, "done")
	if err != nil || r.Dir != "/rec/done" {
		t.Fatalf("delete done: %+v %v", r, err)
	}
	if _, err := s.Delete(ctx, "done"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	_, total, _ := s.List(ctx, Filter{})
	if total != 2 {
		t.Fatalf("%d left, want 2", total)
	}
}
