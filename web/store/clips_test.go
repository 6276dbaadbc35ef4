package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/beffroi/beffroi/outputs/record"
)

// A clip needs its recording, and goes with it.
func TestClipsGoWithTheirRecording(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), FileName))
	if _, err := s.CreateClip(ctx, Clip{ID: "clip-1", Recording: "nope", Shape: "9:16", State: "queued"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a clip of no recording: %v", err)
	}
	in := record.Info{ID: "fete-1", Stream: "fete", Started: time.Now(), Ended: time.Now(), State: record.Finished, Dir: "/x/fete-1"}
	if err := s.Upsert(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateClip(ctx, Clip{ID: "clip-1", Recording: in.ID, In: 1, Out: 9.5, Shape: "9:16", Caption: "été", State: "queued"}); err != nil {
		t.Fatal(err)
	}
	st, p := "exporting", 0.5
	if err := s.UpdateClip(ctx, "clip-1", ClipUpdate{State: &st, Progress: &p}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Clip(ctx, in.ID, "clip-1")
	if err != nil || c.State != "exporting" || c.Progress != 0.5 || c.Out != 9.5 || c.Caption != "été" {
		t.Fatalf("%+v %v", c, err)
	}
	if list, err := s.Clips(ctx, "", "queued", "exporting"); err != nil || len(list) != 1 {
		t.Fatalf("clips in progress: %v %v", list, err)
	}
	// The recorder's next report is an update of the row, not a delete: the clip stays.
	if err := s.Upsert(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Clip(ctx, in.ID, "clip-1"); err != nil {
		t.Fatalf("clip after the recorder's update: %v", err)
	}
	if _, err := s.Delete(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Clip(ctx, in.ID, "clip-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("clip of a deleted recording: %v", err)
	}
	if err := s.UpdateClip(ctx, "clip-1", ClipUpdate{State: &st}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a deleted clip: %v", err)
	}
}
