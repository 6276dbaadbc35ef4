package record

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestInfoRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := Info{ID: "concert-20261127T142301Z", Stream: "concert", Started: time.Date(2026, 11, 27, 14, 23, 1, 0, time.UTC),
		Duration: 12.5, Size: 4096, Segments: 6, State: Recording, Dir: dir}
	if err := WriteInfo(in); err != nil {
		t.Fatal(err)
	}
	got, err := ReadInfo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != in {
		t.Fatalf("got %+v, want %+v", got, in)
	}
	b, _ := os.ReadFile(filepath.Join(dir, InfoFile))
	if string(b) == "" || !isObject(b) {
		t.Fatalf("recording.json: %q", b)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func isObject(b []byte) bool { return len(b) > 2 && b[0] == '{' && b[len(b)-1] == '}' }
