package replays_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/web/replays"
	"github.com/beffroi/beffroi/web/store"
)

func TestRetention(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour
	add := func(id, stream string, age time.Duration, size int64, state record.State, published bool) {
		dir := filepath.Join(e.root, id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "seg-0.m4s"), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		in := record.Info{ID: id, Stream: stream, Started: now.Add(-age - time.Hour), Size: size, State: state, Dir: dir}
		if state != record.Recording && state != record.Paused {
			in.Ended = now.Add(-age)
		}
		if err := e.store.Upsert(ctx, in); err != nil {
			t.Fatal(err)
		}
		if published {
			if _, err := e.store.Update(ctx, id, store.Patch{Published: &published}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("main-old", "main", 40*day, 100, record.Finished, false)
	add("main-old-interrupted", "main", 31*day, 100, record.Interrupted, false)
	add("main-old-published", "main", 400*day, 100, record.Finished, true)
	add("main-live", "main", 40*day, 100, record.Recording, false) // a very long recording in progress
	add("main-paused", "main", 40*day, 100, record.Paused, false)
	add("council-old", "council", 400*day, 100, record.Finished, false)
	add("council-old-published", "council", 50*day, 100, record.Finished, true)
	add("main-a", "main", 5*day, 400, record.Finished, false)
	add("main-b", "main", 3*day, 400, record.Finished, false)
	add("main-c", "main", 1*day, 400, record.Finished, false)

	e.svc.Now = func() time.Time { return now }
	e.svc.Retention = replays.Policy{
		Default: replays.Retention{MaxAge: 30 * day, KeepPublished: true},
		Streams: map[string]replays.Retention{
			// council keeps everything but its published recordings follow the age
			"council": {MaxAge: 0, KeepPublished: false},
			// main: 30 days and at most 1000 bytes of its own
			"main": {MaxAge: 30 * day, MaxSize: 1000, KeepPublished: true},
		},
	}
	got, err := e.svc.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range got {
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	// main: old and old-interrupted by age (published, live and paused stay); then main's
	// own 1000 bytes: it holds 100 (published) + 100 + 100 (in progress) + 1200: main-a,
	// the oldest, goes, and main-b too (1000 + 300 > 1000 still).
	want := []string{"main-a", "main-b", "main-old", "main-old-interrupted"}
	if !slices.Equal(ids, want) {
		t.Fatalf("deleted %v, want %v", ids, want)
	}
	for _, id := range want {
		if _, err := os.Stat(filepath.Join(e.root, id)); !os.IsNotExist(err) {
			t.Errorf("%s: files still there (%v)", id, err)
		}
		if _, err := e.store.Get(ctx, id); err == nil {
			t.Errorf("%s: still in the catalogue", id)
		}
	}
	left, total, _ := e.store.List(ctx, store.Filter{})
	if total != 6 {
		t.Fatalf("%d left: %+v", total, left)
	}
	for _, r := range left {
		if _, err := os.Stat(r.Dir); err != nil {
			t.Errorf("%s lost its files: %v", r.ID, err)
		}
	}
	if n := e.logs.Count("retention: deleted recording"); n != len(want) {
		t.Fatalf("%d deletion log lines, want %d:\n%s", n, len(want), e.logs.String())
	}
	if e.logs.Count("retention: deleted recording", "recording=main-old ", `reason="older than 30d"`) != 1 {
		t.Fatalf("log line:\n%s", e.logs.String())
	}

	// A second sweep has nothing more to do.
	if again, err := e.svc.Sweep(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second sweep: %v %v", again, err)
	}

	// The global limit weighs every stream together, oldest first, keeping what it must.
	e.svc.Retention.Default.MaxSize = 500
	e.svc.Retention.Streams = nil
	got, _ = e.svc.Sweep(ctx)
	ids = ids[:0]
	for _, d := range got {
		ids = append(ids, d.ID)
	}
	// left: main-old-published(100, kept), main-live(100), main-paused(100), council-old (400 days: too old now),
	// council-old-published (50 days, not published-kept... it is published: kept), main-c(400).
	if !slices.Equal(ids, []string{"council-old", "main-c"}) {
		t.Fatalf("global sweep deleted %v", ids)
	}
	if e.logs.Count("retention: recordings still take more than the limit") != 0 {
		t.Fatalf("warned although under the limit:\n%s", e.logs.String())
	}
}

// TestRunMakesThumbnailsAndStops: the background pass makes the thumbnail of a finished
// recording before anyone asks for it, and Run returns once cancelled.
func TestRunMakesThumbnailsAndStops(t *testing.T) {
	e := newEnv(t, nil)
	in := recording(t, e.root, "done", "main", time.Now().Add(-time.Hour), record.Finished)
	e.store.Recorded(in)
	e.store.Recorded(recording(t, e.root, "live", "main", time.Now(), record.Recording))
	e.svc.SweepEvery = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	testutil.WaitFor(t, "the thumbnail of the finished recording", func() bool {
		rec, err := e.store.Get(context.Background(), "done")
		return err == nil && rec.Thumbnail
	})
	if _, err := os.Stat(filepath.Join(in.Dir, replays.ThumbFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.root, "live", replays.ThumbFile)); !os.IsNotExist(err) {
		t.Fatalf("a thumbnail for the recording in progress: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
}
