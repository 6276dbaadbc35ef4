package objstore

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs/record"
)

const (
	testAccess = "AKIATESTACCESSKEY1"
	testSecret = "test-secret-key-never-logged"
)

// fakeS3 is gofakes3 (a real S3 protocol implementation) in memory, which can be switched
// down (every request answered 503) and records the order of the uploads.
type fakeS3 struct {
	srv  *httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	puts []string // keys, in the order their uploads arrived
}

func newFakeS3(t *testing.T) *fakeS3 {
	f := &fakeS3{}
	h := gofakes3.New(s3mem.New()).Server()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			http.Error(w, "<Error><Code>ServiceUnavailable</Code><Message>down for the test</Message></Error>", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodPut && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1 {
			f.mu.Lock()
			f.puts = append(f.puts, strings.TrimPrefix(r.URL.Path, "/bucket/"))
			f.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeS3) store(t *testing.T) *Store {
	st, err := New(Config{Endpoint: strings.TrimPrefix(f.srv.URL, "http://"), Bucket: "bucket",
		Region: "us-east-1", AccessKey: testAccess, SecretKey: testSecret, Prefix: "/town/"})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (f *fakeS3) uploaded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.puts)
}

// writeRecording makes a recording directory with n segments, as the recorder leaves it.
func writeRecording(t *testing.T, root, id string, n int, state record.State) string {
	dir := filepath.Join(root, id)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write("init-1.mp4", "init of "+id)
	for i := 1; i <= n; i++ {
		write(fmt.Sprintf("seg-%d.m4s", i), fmt.Sprintf("segment %d of %s", i, id))
	}
	write(record.PlaylistFile, "#EXTM3U\n")
	if err := record.WriteInfo(record.Info{ID: id, Stream: "s", State: state, Segments: n, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(t *testing.T, u *Uploader) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = u.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func read(t *testing.T, st *Store, id, name string) string {
	t.Helper()
	o, err := st.Open(context.Background(), id, name)
	if err != nil {
		t.Fatalf("%s/%s: %v", id, name, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUploaderOutageAndOrder: files queued while the store is down wait on the disk and are
// retried with back-off; once it is back every file is uploaded, media before the final
// playlist and recording.json, and the local copies of the media are removed.
func TestUploaderOutageAndOrder(t *testing.T) {
	f := newFakeS3(t)
	st := f.store(t)
	root := t.TempDir()
	logs := &testutil.LogBuffer{}
	u := NewUploader(st, Options{Root: root, RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, Logger: logs.Logger()})
	stop := run(t, u)
	defer stop()

	f.down.Store(true)
	dir := writeRecording(t, root, "s-1", 3, record.Recording)
	u.FileClosed(dir, "init-1.mp4")
	for i := 1; i <= 3; i++ {
		u.FileClosed(dir, fmt.Sprintf("seg-%d.m4s", i))
	}
	testutil.WaitFor(t, "an upload error in the state", func() bool {
		s, _ := u.State("s-1")
		return s.Error != "" && s.Pending == 4
	})
	s, _ := u.State("s-1")
	if strings.Contains(s.Error, testSecret) || strings.Contains(s.Error, testAccess) || strings.Contains(logs.String(), testSecret) {
		t.Fatalf("a credential in the error or the log: %q", s.Error)
	}
	if _, err := os.Stat(filepath.Join(dir, "seg-1.m4s")); err != nil {
		t.Fatalf("the segment must wait on the disk while the store is down: %v", err)
	}
	info, _ := record.ReadInfo(dir)
	info.State = record.Finished
	if err := record.WriteInfo(info); err != nil {
		t.Fatal(err)
	}
	// A thumbnail made while it was recording goes with the close.
	if err := os.WriteFile(filepath.Join(dir, "thumb.jpg"), []byte("jpeg"), 0o640); err != nil {
		t.Fatal(err)
	}
	u.RecordingClosed(dir)
	f.down.Store(false)
	testutil.WaitFor(t, "the recording uploaded", func() bool { s, _ := u.State("s-1"); return s.Uploaded })
	if s, _ := u.State("s-1"); s.Error != "" || s.Pending != 0 {
		t.Fatalf("state after the outage: %+v", s)
	}
	got := f.uploaded()
	last := got[len(got)-2:]
	slices.Sort(last)
	if want := []string{"town/s-1/index.m3u8", "town/s-1/recording.json"}; !slices.Equal(last, want) {
		t.Fatalf("uploads %v: the final files must come last", got)
	}
	if read(t, st, "s-1", "seg-2.m4s") != "segment 2 of s-1" {
		t.Fatal("segment 2's content differs in the bucket")
	}
	for _, n := range []string{"init-1.mp4", "seg-1.m4s", "seg-3.m4s"} {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Errorf("%s: the local copy must be removed after the upload (err %v)", n, err)
		}
	}
	for _, n := range []string{record.PlaylistFile, record.InfoFile, record.UploadsFile} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s must stay on the disk: %v", n, err)
		}
	}
	led, err := record.ReadUploads(dir)
	if read(t, st, "s-1", "thumb.jpg") != "jpeg" {
		t.Fatal("the thumbnail made while recording is not in the bucket")
	}
	if err != nil || len(led) != 7 || led["seg-3.m4s"].Size != int64(len("segment 3 of s-1")) {
		t.Fatalf("ledger %v, %v", led, err)
	}
}

// TestUploaderResumesAfterRestart: what a previous run left (a finished recording half
// uploaded, a recording uploaded whose removal was interrupted) is found by the scan.
func TestUploaderResumesAfterRestart(t *testing.T) {
	f := newFakeS3(t)
	st := f.store(t)
	root := t.TempDir()
	dir := writeRecording(t, root, "s-2", 4, record.Finished)
	// seg-1 and init were uploaded before the stop, but only seg-1's local copy was removed.
	if err := st.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"init-1.mp4", "seg-1.m4s"} {
		if err := st.PutFile(context.Background(), "s-2", n, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
		if err := record.MarkUploaded(dir, n, record.Upload{Size: 1, ModTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Remove(filepath.Join(dir, "seg-1.m4s"))
	before := len(f.uploaded())

	u := NewUploader(st, Options{Root: root, RetryMin: 20 * time.Millisecond})
	stop := run(t, u)
	defer stop()
	testutil.WaitFor(t, "the resumed recording uploaded", func() bool { s, _ := u.State("s-2"); return s.Uploaded })
	got := f.uploaded()[before:]
	slices.Sort(got)
	want := []string{"town/s-2/index.m3u8", "town/s-2/recording.json", "town/s-2/seg-2.m4s", "town/s-2/seg-3.m4s", "town/s-2/seg-4.m4s"}
	if !slices.Equal(got, want) {
		t.Fatalf("resumed uploads %v, want %v (nothing uploaded twice)", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "init-1.mp4")); !os.IsNotExist(err) {
		t.Fatal("the uploaded init segment's local copy must be removed by the scan")
	}
}

// TestUploaderKeepLocalAndDelete: keep_local leaves the media on the disk; deleting a
// recording removes its objects.
func TestUploaderKeepLocalAndDelete(t *testing.T) {
	f := newFakeS3(t)
	st := f.store(t)
	root := t.TempDir()
	dir := writeRecording(t, root, "s-3", 2, record.Finished)
	u := NewUploader(st, Options{Root: root, KeepLocal: true})
	stop := run(t, u)
	defer stop()
	testutil.WaitFor(t, "uploaded", func() bool { s, _ := u.State("s-3"); return s.Uploaded })
	if _, err := os.Stat(filepath.Join(dir, "seg-2.m4s")); err != nil {
		t.Fatalf("keep_local: %v", err)
	}
	if ok, err := st.Exists(context.Background(), "s-3", "seg-2.m4s"); !ok || err != nil {
		t.Fatalf("seg-2 in the bucket: %v %v", ok, err)
	}
	u.Forget("s-3")
	if err := st.RemoveRecording(context.Background(), "s-3"); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Exists(context.Background(), "s-3", "seg-2.m4s"); ok || err != nil {
		t.Fatalf("seg-2 still in the bucket after the delete: %v %v", ok, err)
	}
	if _, known := u.State("s-3"); known {
		t.Fatal("a forgotten recording has no state")
	}
}
