package manage_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/web/manage"
	"github.com/beffroi/beffroi/web/manage/managetest"
)

// TestEnsureDefaultStream: with no stream at all, "live" is made with a new key whose publish
// URL is logged once; a second call changes nothing.
func TestEnsureDefaultStream(t *testing.T) {
	ctx := context.Background()
	st := &managetest.MemStore{}
	logs := &testutil.LogBuffer{}
	var announced []string
	url := func(key string) string {
		announced = append(announced, key)
		return "rtmp://192.0.2.1:1935/live/" + key
	}
	if err := manage.EnsureDefaultStream(ctx, st, t.TempDir(), logs.Logger(), url); err != nil {
		t.Fatal(err)
	}
	l, _ := st.ListStreams(ctx)
	if len(l) != 1 || l[0].Name != manage.DefaultStream || l[0].PublishKey == "" || l[0].Created.IsZero() {
		t.Fatalf("streams %+v", l)
	}
	if len(announced) != 1 || announced[0] != l[0].PublishKey {
		t.Fatalf("publish URL asked for %q, want the key once", announced)
	}
	if !strings.Contains(logs.String(), "rtmp://192.0.2.1:1935/live/"+l[0].PublishKey) || !strings.Contains(logs.String(), "shown once") {
		t.Fatalf("the publish URL is not logged:\n%s", logs.String())
	}
	if err := manage.EnsureDefaultStream(ctx, st, t.TempDir(), logs.Logger(), url); err != nil {
		t.Fatal(err)
	}
	if l2, _ := st.ListStreams(ctx); len(l2) != 1 || l2[0].PublishKey != l[0].PublishKey || len(announced) != 1 {
		t.Fatalf("a second call changed the streams: %+v (announced %d)", l2, len(announced))
	}
}

// TestEnsureDefaultStreamTakesLegacyKey: a key an older Beffroi kept in data_dir/live.key
// becomes the stream's key, the file goes, and no publish URL is logged (the key is known).
func TestEnsureDefaultStreamTakesLegacyKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "live.key")
	if err := os.WriteFile(path, []byte("old-key-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := &managetest.MemStore{}
	logs := &testutil.LogBuffer{}
	url := func(string) string { t.Error("publish URL asked for a kept key"); return "" }
	if err := manage.EnsureDefaultStream(ctx, st, dir, logs.Logger(), url); err != nil {
		t.Fatal(err)
	}
	if l, _ := st.ListStreams(ctx); len(l) != 1 || l[0].Name != "live" || l[0].PublishKey != "old-key-123" {
		t.Fatalf("streams %+v", l)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("live.key is still there: %v", err)
	}
	if !strings.Contains(logs.String(), "is now in the database") {
		t.Fatalf("log:\n%s", logs.String())
	}
	testutil.AssertNoSecret(t, "log", logs.String(), "old-key-123")
}

// TestEnsureDefaultStreamLeavesStreams: a store with a stream gets no "live".
func TestEnsureDefaultStreamLeavesStreams(t *testing.T) {
	ctx := context.Background()
	st := &managetest.MemStore{}
	if err := st.CreateStream(ctx, manage.Stream{Name: "concert", PublishKey: "k"}); err != nil {
		t.Fatal(err)
	}
	if err := manage.EnsureDefaultStream(ctx, st, t.TempDir(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if l, _ := st.ListStreams(ctx); len(l) != 1 || l[0].Name != "concert" {
		t.Fatalf("streams %+v", l)
	}
}
