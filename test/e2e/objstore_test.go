package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/outputs/record/objstore"
	"github.com/beffroi/beffroi/web/replays"
)

// The S3 credentials of the tests: secrets that must appear nowhere.
const (
	s3Access = "AKIAE2EACCESSKEY0001"
	s3Secret = "e2e-s3-secret-key-never-shown"
	s3Bucket = "town-recordings"
)

// s3Server is test/tools/s3server (gofakes3 over a bolt file) run as its own process, on a
// port of its own, so that a test can kill it and start it again with the same objects.
type s3Server struct {
	t    *testing.T
	bin  string
	db   string
	addr string
	proc *process
}

// buildS3Server builds test/tools/s3server once per test binary run.
func buildS3Server(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(shared, "s3server")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "tools", "s3server")
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, src).CombinedOutput()
	if err != nil {
		t.Fatalf("building the S3 server: %v\n%s", err, out)
	}
	return bin
}

func startS3Server(t *testing.T) *s3Server {
	t.Helper()
	s := &s3Server{t: t, bin: buildS3Server(t), db: filepath.Join(t.TempDir(), "s3.db"),
		addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	s.Start()
	return s
}

// Start starts the server (again) on its address and waits until it answers.
func (s *s3Server) Start() {
	t := s.t
	t.Helper()
	s.proc = startProcess(t, context.Background(), "s3server", s.bin, "-addr", s.addr, "-db", s.db, "-bucket", s3Bucket)
	testutil.Eventually(t, 15*time.Second, func() error {
		if s.proc.Exited() {
			return fmt.Errorf("s3server exited: %s", s.proc.stderr.String())
		}
		resp, err := http.Get("http://" + s.addr + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}

// Kill stops the server at once (kill -9: an outage, not a shutdown).
func (s *s3Server) Kill() { s.proc.Kill() }

// Store is a client of the server, as Beffroi's.
func (s *s3Server) Store(t *testing.T, prefix string) *objstore.Store {
	st, err := objstore.New(objstore.Config{Endpoint: s.addr, Bucket: s3Bucket, Region: "us-east-1",
		AccessKey: s3Access, SecretKey: s3Secret, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// inBucket says why a recording's file is not in the bucket, nil when it is.
func inBucket(ctx context.Context, st *objstore.Store, id, name string) error {
	ok, err := st.Exists(ctx, id, name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s/%s not in the bucket yet", id, name)
	}
	return nil
}

// uploaded says which of names the ledger of the recording in dir does not list yet (the
// store confirmed them and their local copies are gone), nil once it lists them all.
func uploaded(dir string, names ...string) error {
	led, err := record.ReadUploads(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, ok := led[n]; !ok {
			return fmt.Errorf("%s not uploaded yet", n)
		}
	}
	return nil
}

// segmentsWaiting says why fewer than n media segments are on the disk in dir, nil once
// there are n.
func segmentsWaiting(dir string, n int) error {
	have := 0
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".m4s") {
			have++
		}
	}
	if have < n {
		return fmt.Errorf("%d segments waiting on the disk in %s, want %d", have, dir, n)
	}
	return nil
}

// storageView is the upload state of /api/v1/recordings.
type storageView struct {
	State   string `json:"state"`
	Pending int    `json:"pending"`
	Error   string `json:"error"`
}

type recordingListView struct {
	Recordings []struct {
		ID       string       `json:"id"`
		State    string       `json:"state"`
		Duration float64      `json:"duration"`
		Storage  *storageView `json:"storage"`
	} `json:"recordings"`
}

func listRecordings(b *beffroi) (recordingListView, string, error) {
	var v recordingListView
	body, err := b.get("/api/v1/recordings")
	if err != nil {
		return v, body, err
	}
	return v, body, json.Unmarshal([]byte(body), &v)
}

// TestRecordingInObjectStorage: with record.storage: s3, ffmpeg publishes 14 s while the S3
// server is killed for about 5 s in the middle. The recording is never interrupted; its
// segments wait on the disk during the outage (the API says so, without a credential) and
// catch up; afterwards every file is in the bucket and none of its media on the disk, and
// the replay playlist and the MP4 export, served from the bucket, decode end to end with
// every second of the event. Retention then deletes the objects.
func TestRecordingInObjectStorage(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeSmallClip(t)
	s3 := startS3Server(t)
	b := startBeffroi(t, func(c *config.Config) {
		c.Record.Storage = config.StorageS3
		c.Record.S3 = config.S3{Endpoint: s3.addr, Bucket: s3Bucket, Region: "us-east-1",
			AccessKey: s3Access, SecretKey: s3Secret, Prefix: "arras/", UseSSL: false}
		c.ReconnectGrace = time.Second // the recording closes soon after ffmpeg ends
	})
	st := s3.Store(t, "arras/")
	ctx := t.Context()

	const seconds = 14.0
	pub := publish(t, ctx, b.PublishURL(publishKey), clip, seconds)
	in := waitRecordingState(t, b, "event", "recording", 15*time.Second)
	id := in.RecordingID
	// A few segments reach the bucket before the outage.
	testutil.Eventually(t, 15*time.Second, func() error {
		return uploaded(filepath.Join(b.Cfg.RecordingsDir(), id), "init-1.mp4", "seg-1.m4s", "seg-2.m4s")
	})
	s3.Kill()
	t.Log("S3 server killed")
	testutil.Eventually(t, 15*time.Second, func() error {
		v, body, err := listRecordings(b)
		if err != nil {
			return err
		}
		if len(v.Recordings) != 1 || v.Recordings[0].Storage == nil || v.Recordings[0].Storage.State != "error" || v.Recordings[0].Storage.Pending == 0 {
			return fmt.Errorf("no upload error shown yet: %s", body)
		}
		testutil.AssertNoSecret(t, "the recordings API", body, s3Access, s3Secret)
		return nil
	})
	// The segments made meanwhile wait on the disk.
	recDir := filepath.Join(b.Cfg.RecordingsDir(), id)
	testutil.Eventually(t, 10*time.Second, func() error {
		return segmentsWaiting(recDir, 2)
	})
	s3.Start()
	t.Log("S3 server started again")
	if err := pub.Wait(t, 60*time.Second); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	testutil.Eventually(t, 90*time.Second, func() error {
		v, body, err := listRecordings(b)
		if err != nil {
			return err
		}
		if len(v.Recordings) != 1 || v.Recordings[0].State != "finished" || v.Recordings[0].Storage == nil || v.Recordings[0].Storage.State != "uploaded" {
			return fmt.Errorf("not uploaded yet: %s", body)
		}
		return nil
	})
	if n := len(b.Logs.Lines("recording paused")); n != 0 {
		t.Errorf("the outage paused the recording %d times", n)
	}

	// Every file the playlist lists is in the bucket, none of the media on the disk.
	_, files, err := record.PlaylistPrefix(recDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(files, record.PlaylistFile, record.InfoFile) {
		if ok, err := st.Exists(ctx, id, f); !ok {
			t.Errorf("%s not in the bucket (%v)", f, err)
		}
	}
	entries, _ := os.ReadDir(recDir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".m4s") || strings.HasPrefix(e.Name(), "init-") {
			t.Errorf("%s is still on the disk after its upload", e.Name())
		}
	}
	info, err := record.ReadInfo(recDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %.2f s in %d segments, %d files in the bucket", id, info.Duration, info.Segments, len(files))

	// Served from the bucket: the public replay of the published recording.
	base := "http://" + b.HTTPAddr()
	if code, body := do(t, "PATCH", base+"/api/v1/recordings/"+id, `{"published":true}`); code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	playlist := base + "/recordings/" + id + "/index.m3u8"
	r := probe(t, playlist)
	t.Logf("replay playlist from the bucket: %+v", r)
	if r.Video != "h264" || r.Audio != "aac" {
		t.Errorf("replay playlist: codecs %q + %q", r.Video, r.Audio)
	}
	if math.Abs(r.Duration-seconds) > 2.5 {
		t.Errorf("replay playlist: %.2f s, %.0f s were published", r.Duration, seconds)
	}
	if msg := decodeAll(t, playlist); msg != "" {
		t.Errorf("the replay playlist from the bucket does not decode: %s", msg)
	}
	dts := packetDTS(t, playlist, "v")
	assertIncreasing(t, "replay video", dts)
	if gap, at := maxGap(dts); gap > 0.5 {
		t.Errorf("a %.2f s gap in the replay at %.2f s: the outage cost media", gap, at)
	}

	mp4 := filepath.Join(t.TempDir(), "replay.mp4")
	resp, err := http.Get(base + "/recordings/" + id + ".mp4")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(mp4)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(f, resp.Body)
	resp.Body.Close()
	f.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("MP4 export: %s %v", resp.Status, err)
	}
	m := probe(t, mp4)
	t.Logf("MP4 export made from the bucket: %+v", m)
	if m.Video != "h264" || m.Audio != "aac" || math.Abs(m.Duration-seconds) > 2.5 {
		t.Errorf("MP4 export: %+v, %.0f s were published", m, seconds)
	}
	if msg := decodeAll(t, mp4); msg != "" {
		t.Errorf("the MP4 export does not decode: %s", msg)
	}
	// The MP4 goes to the bucket too, then leaves the disk.
	testutil.Eventually(t, 30*time.Second, func() error {
		if err := inBucket(ctx, st, id, replays.MP4File); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(recDir, replays.MP4File)); err == nil {
			return fmt.Errorf("replay.mp4 still on the disk")
		}
		return nil
	})
	// Served again, now from the bucket, byte for byte.
	resp, err = http.Get(base + "/recordings/" + id + ".mp4")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if first, _ := os.ReadFile(mp4); resp.StatusCode != 200 || len(again) != len(first) {
		t.Errorf("MP4 from the bucket: %s, %d bytes, first made %d", resp.Status, len(again), len(first))
	}

	// Retention deletes the recording in the bucket as well.
	b.Replays.SetRetention(replays.Policy{Default: replays.Retention{MaxAge: time.Millisecond}})
	gone, err := b.Replays.Sweep(ctx)
	if err != nil || len(gone) != 1 {
		t.Fatalf("sweep: %v %v", gone, err)
	}
	for _, f := range append(files, record.PlaylistFile, replays.MP4File) {
		if ok, err := st.Exists(ctx, id, f); ok || err != nil {
			t.Errorf("%s still in the bucket after the retention sweep (%v)", f, err)
		}
	}
	if _, err := os.Stat(recDir); !os.IsNotExist(err) {
		t.Errorf("the recording's directory is still there: %v", err)
	}
	testutil.AssertNoSecret(t, "the log", b.Logs.String(), s3Access, s3Secret)
	sc := bufio.NewScanner(strings.NewReader(b.Logs.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "object storage") {
			t.Logf("object storage log: %s", sc.Text())
		}
	}
}

// TestRecordingInObjectStorageSurvivesKill9: Beffroi is killed (SIGKILL) while the S3 server
// is down, with segments uploaded before the outage (gone from the disk) and segments
// waiting. At the next start, with the store back, the recording is closed (interrupted)
// from its ledger, the waiting segments and the final playlist are uploaded, and the replay
// served from the bucket decodes end to end.
func TestRecordingInObjectStorageSurvivesKill9(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeSmallClip(t)
	s3 := startS3Server(t)
	data := t.TempDir()
	root := filepath.Join(data, "recordings")
	conf := processConfig(data, fmt.Sprintf(`streams:
  - name: event
    publish_key: %s
record:
  storage: s3
  s3: {endpoint: %q, bucket: %s, region: us-east-1, access_key: %s, secret_key: %s, use_ssl: false}
`, publishKey, s3.addr, s3Bucket, s3Access, s3Secret))
	first := startBeffroiProcessWith(t, "beffroi (to be killed)", data, conf)
	publish(t, t.Context(), "rtmp://"+first.rtmpAddr+"/live/"+publishKey, clip, 30)
	var id string
	testutil.Eventually(t, 20*time.Second, func() error {
		l := recordingsIn(t, root)
		if len(l) != 1 {
			return fmt.Errorf("recordings: %+v", l)
		}
		id = l[0].ID
		return uploaded(filepath.Join(root, id), "init-1.mp4", "seg-1.m4s", "seg-2.m4s")
	})
	s3.Kill()
	testutil.Eventually(t, 20*time.Second, func() error {
		return segmentsWaiting(filepath.Join(root, id), 2)
	})
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	if _, err := os.Stat(filepath.Join(root, id, "seg-1.m4s")); !os.IsNotExist(err) {
		t.Fatalf("seg-1.m4s was uploaded before the kill and should be gone from the disk: %v", err)
	}

	s3.Start()
	second := startBeffroiProcessWith(t, "beffroi (restarted)", data, conf)
	base := "http://" + second.httpAddr
	testutil.Eventually(t, 60*time.Second, func() error {
		code, body := do(t, "GET", base+"/api/v1/recordings/"+id, "")
		var v struct {
			State   string       `json:"state"`
			Storage *storageView `json:"storage"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &v) != nil || v.State != "interrupted" || v.Storage == nil || v.Storage.State != "uploaded" {
			return fmt.Errorf("not closed and uploaded yet: %d %s", code, body)
		}
		return nil
	})
	info, err := record.ReadInfo(filepath.Join(root, id))
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, id))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".m4s") {
			t.Errorf("%s still on the disk after the restart's uploads", e.Name())
		}
	}
	if code, body := do(t, "PATCH", base+"/api/v1/recordings/"+id, `{"published":true}`); code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	playlist := base + "/recordings/" + id + "/index.m3u8"
	r := probe(t, playlist)
	t.Logf("%s: recording.json %.2f s in %d segments; from the bucket %+v", id, info.Duration, info.Segments, r)
	if r.Video != "h264" || r.Audio != "aac" || info.Segments < 4 || math.Abs(r.Duration-info.Duration) > 0.5 {
		t.Errorf("the recovered recording from the bucket: %+v, recording.json %.2f s in %d segments", r, info.Duration, info.Segments)
	}
	if msg := decodeAll(t, playlist); msg != "" {
		t.Errorf("the recovered recording from the bucket does not decode: %s", msg)
	}
	testutil.AssertNoSecret(t, "the log", first.stderr.String()+second.stderr.String(), s3Access, s3Secret)
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(t, 30*time.Second); err != nil {
		t.Errorf("restarted beffroi: %v", err)
	}
}
