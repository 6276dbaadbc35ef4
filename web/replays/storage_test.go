package replays_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/outputs/record/objstore"
	"github.com/beffroi/beffroi/web/replays"
	"github.com/beffroi/beffroi/web/store"
)

const (
	bucketAccess = "AKIAREPLAYSACCESS01"
	bucketSecret = "replays-secret-key-not-shown"
)

// TestReplayFromObjectStorage: once a recording's files are uploaded and gone from the disk,
// its segments are streamed from the bucket (ranges too) or redirected to a presigned URL,
// its MP4 is made from segments fetched back, a store that is down is a 502 without any
// credential, and a delete that cannot reach the store leaves the recording whole.
func TestReplayFromObjectStorage(t *testing.T) {
	var down atomic.Bool
	fake := gofakes3.New(s3mem.New()).Server()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	defer hs.Close()
	st, err := objstore.New(objstore.Config{Endpoint: strings.TrimPrefix(hs.URL, "http://"), Bucket: "replays",
		Region: "us-east-1", AccessKey: bucketAccess, SecretKey: bucketSecret})
	if err != nil {
		t.Fatal(err)
	}

	e := newEnv(t, nil)
	in := recording(t, e.root, "main-1", "main", time.Date(2026, 7, 14, 21, 0, 0, 0, time.UTC), record.Finished)
	if err := e.store.Upsert(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	pub := true
	if _, err := e.store.Update(context.Background(), in.ID, store.Patch{Published: &pub}); err != nil {
		t.Fatal(err)
	}
	up := objstore.NewUploader(st, objstore.Options{Root: e.root, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = up.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	testutil.WaitFor(t, "the recording uploaded", func() bool { s, _ := up.State(in.ID); return s.Uploaded })
	e.svc.Objects = objstore.Bucket{Store: st, Uploader: up}

	if _, err := os.Stat(filepath.Join(in.Dir, "seg-1.m4s")); !os.IsNotExist(err) {
		t.Fatalf("seg-1.m4s should be gone from the disk: %v", err)
	}
	r := e.do("GET", "/recordings/main-1/seg-1.m4s", "")
	if r.code != 200 || len(r.body) == 0 || r.h.Get("Content-Type") != "video/iso.segment" {
		t.Fatalf("segment from the bucket: %d %q, %d bytes", r.code, r.h.Get("Content-Type"), len(r.body))
	}
	o, err := st.Open(context.Background(), in.ID, "seg-1.m4s")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(o)
	o.Close()
	if string(r.body) != string(want) {
		t.Fatal("the segment served differs from the bucket's")
	}
	if r := e.do("GET", "/recordings/main-1/seg-1.m4s", "", "Range", "bytes=4-11"); r.code != http.StatusPartialContent || string(r.body) != string(want[4:12]) {
		t.Fatalf("range from the bucket: %d %q", r.code, r.body)
	}
	if r := e.do("GET", "/recordings/main-1/index.m3u8", ""); r.code != 200 || !strings.Contains(string(r.body), "#EXT-X-ENDLIST") {
		t.Fatalf("playlist (kept on the disk): %d %s", r.code, r.body)
	}
	var got struct {
		Storage struct{ State string } `json:"storage"`
	}
	e.do("GET", "/api/v1/recordings/main-1", "").json(t, &got)
	if got.Storage.State != "uploaded" {
		t.Fatalf("API storage state %q, want uploaded", got.Storage.State)
	}

	// The MP4 is made from segments fetched back, then uploaded too.
	r = e.do("GET", "/recordings/main-1.mp4", "")
	if r.code != 200 || len(r.body) < 1000 || string(r.body[4:8]) != "ftyp" {
		t.Fatalf("MP4: %d, %d bytes", r.code, len(r.body))
	}
	testutil.WaitFor(t, "the MP4 in the bucket", func() bool {
		ok, _ := st.Exists(context.Background(), in.ID, replays.MP4File)
		return ok
	})

	// Presigned: a redirect to the bucket, whose URL works without credentials.
	e.svc.Presign = true
	req, _ := http.NewRequest("GET", e.url+"/recordings/main-1/seg-2.m4s", nil)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(loc, "/replays/main-1/seg-2.m4s") || !strings.Contains(loc, "X-Amz-Signature") {
		t.Fatalf("presigned: %d %q", resp.StatusCode, loc)
	}
	testutil.AssertNoSecret(t, "the presigned URL", loc, bucketSecret)
	if resp, err := http.Get(loc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the presigned URL: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	e.svc.Presign = false

	// The store down: 502, and deleting is refused without losing anything.
	down.Store(true)
	if r := e.do("GET", "/recordings/main-1/seg-2.m4s", ""); r.code != http.StatusBadGateway {
		t.Fatalf("segment with the store down: %d %s", r.code, r.body)
	} else {
		testutil.AssertNoSecret(t, "the answer", string(r.body), bucketSecret, bucketAccess)
	}
	if r := e.do("DELETE", "/api/v1/recordings/main-1", ""); r.code != http.StatusInternalServerError {
		t.Fatalf("delete with the store down: %d %s", r.code, r.body)
	}
	if r := e.do("GET", "/api/v1/recordings/main-1", ""); r.code != 200 {
		t.Fatalf("the recording must survive a delete that could not reach the store: %d", r.code)
	}
	down.Store(false)
	if r := e.do("DELETE", "/api/v1/recordings/main-1", ""); r.code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	for _, n := range []string{"seg-1.m4s", record.PlaylistFile, replays.MP4File} {
		if ok, err := st.Exists(context.Background(), in.ID, n); ok || err != nil {
			t.Errorf("%s still in the bucket after the delete (%v)", n, err)
		}
	}
	testutil.AssertNoSecret(t, "the log", e.logs.String(), bucketSecret, bucketAccess)
}
