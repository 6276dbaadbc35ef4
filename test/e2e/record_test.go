package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs/record"
)

// segmentSeconds is the segment duration the recording tests use (the default).
const segmentSeconds = 2.0

// recordingsIn returns the recordings under root, oldest first, as recording.json says.
func recordingsIn(t *testing.T, root string) []record.Info {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var l []record.Info
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		in, err := record.ReadInfo(filepath.Join(root, e.Name()))
		if err != nil {
			continue // being created
		}
		l = append(l, in)
	}
	slices.SortFunc(l, func(a, b record.Info) int { return a.Started.Compare(b.Started) })
	return l
}

// recordingView is the "recording" of /api/v1/streams/{name}.
type recordingView struct {
	State       string `json:"state"`
	RecordingID string `json:"recording_id"`
}

// apiRecording returns the recorder's state for a stream, from the API.
func apiRecording(b *beffroi, stream string) (recordingView, error) {
	var v struct {
		Recording *recordingView `json:"recording"`
	}
	body, err := b.get("/api/v1/streams/" + stream)
	if err != nil {
		return recordingView{}, err
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return recordingView{}, err
	}
	if v.Recording == nil {
		return recordingView{}, fmt.Errorf("no recording in %s", body)
	}
	return *v.Recording, nil
}

// waitRecordingState polls the API until the stream's recorder is in state.
func waitRecordingState(t *testing.T, b *beffroi, stream, state string, timeout time.Duration) recordingView {
	t.Helper()
	var v recordingView
	testutil.Eventually(t, timeout, func() error {
		var err error
		if v, err = apiRecording(b, stream); err != nil {
			return err
		}
		if v.State != state {
			return fmt.Errorf("recorder of %q is %q, want %q", stream, v.State, state)
		}
		return nil
	})
	return v
}

// decodeAll decodes every frame of a file or playlist with ffmpeg and returns what it
// complained about ("" when it decoded cleanly).
func decodeAll(t *testing.T, file string) string {
	t.Helper()
	// A playlist without ENDLIST would be read as live, forever: bounded.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// -enc_time_base -1 keeps the demuxer's time base. ffmpeg 5.1's default for -f null is
	// 1/frame rate: two frames of a variable-rate source (a phone browser, a jittery capture,
	// the join of a reconnect) closer than one frame then round to one timestamp and ffmpeg
	// reports "non monotonically increasing dts" of a file whose timestamps increase (which
	// packetDTS/assertIncreasing check on their own).
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", file, "-enc_time_base", "-1", "-f", "null", "-").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// checkPlays asserts that a recording's playlist holds H.264 and AAC, decodes without an
// error, and that each track's timestamps increase with no step longer than maxStep
// seconds; it returns what ffprobe says of it. (ffprobe's duration spans the timestamps, gaps
// included; recording.json's is the media only.)
func checkPlays(t *testing.T, in record.Info, maxStep float64) probeResult {
	t.Helper()
	pl := filepath.Join(in.Dir, record.PlaylistFile)
	r := probe(t, pl)
	t.Logf("%s: %+v; recording.json: %.2f s in %d segments, %d bytes, %s", in.ID, r, in.Duration, in.Segments, in.Size, in.State)
	if r.Video != "h264" || r.Audio != "aac" {
		t.Errorf("%s: codecs %q + %q, want h264 + aac", in.ID, r.Video, r.Audio)
	}
	if msg := decodeAll(t, pl); msg != "" {
		t.Errorf("%s: ffmpeg cannot decode it all: %s", in.ID, msg)
	}
	for _, s := range []string{"v", "a"} {
		dts := packetDTS(t, pl, s)
		assertIncreasing(t, in.ID+" "+s, dts)
		step, at := maxGap(dts)
		t.Logf("%s (%s): %d packets, largest DTS step %.3f s at %.2f s", in.ID, s, len(dts), step, at)
		if step > maxStep {
			t.Errorf("%s (%s): a %.2f s gap in the timestamps at %.2f s", in.ID, s, step, at)
		}
	}
	return r
}

// TestRecordingOfALiveSession: ffmpeg publishes 30 s; the stream is recorded without anyone
// asking, and the recording plays: both tracks, as long as what was sent (within a segment),
// timestamps increasing with no gap.
func TestRecordingOfALiveSession(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	b := startBeffroi(t, nil)
	root := filepath.Join(b.Cfg.DataDir, "recordings")
	if v, err := apiRecording(b, "event"); err != nil || v.State != "idle" {
		t.Errorf("recorder before going live: %+v %v, want idle", v, err)
	}
	const seconds = 30
	pub := publish(t, t.Context(), b.PublishURL(publishKey), clip, seconds)
	v := waitRecordingState(t, b, "event", "recording", 10*time.Second)
	if !strings.HasPrefix(v.RecordingID, "event-") {
		t.Errorf("recording ID %q", v.RecordingID)
	}
	// While live, the playlist is an EVENT playlist of complete segments.
	testutil.Eventually(t, 15*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(root, v.RecordingID, record.PlaylistFile))
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "#EXT-X-PLAYLIST-TYPE:EVENT") || !strings.Contains(string(b), "seg-2.m4s") {
			return fmt.Errorf("live playlist:\n%s", b)
		}
		if strings.Contains(string(b), "ENDLIST") {
			return fmt.Errorf("ENDLIST while live:\n%s", b)
		}
		return nil
	})
	if err := pub.Wait(t, seconds*time.Second+30*time.Second); err != nil {
		t.Fatalf("publish: %v", err)
	}
	b.Stop(t) // ingest stops, then the recording is finished
	l := recordingsIn(t, root)
	if len(l) != 1 {
		t.Fatalf("%d recordings, want 1: %+v", len(l), l)
	}
	in := l[0]
	if in.ID != v.RecordingID || in.State != record.Finished || in.Ended.IsZero() {
		t.Errorf("recording.json: %+v", in)
	}
	pl, _ := os.ReadFile(filepath.Join(in.Dir, record.PlaylistFile))
	if !strings.Contains(string(pl), "#EXT-X-PLAYLIST-TYPE:VOD") || !strings.HasSuffix(string(pl), "#EXT-X-ENDLIST\n") ||
		strings.Contains(string(pl), "DISCONTINUITY") {
		t.Errorf("final playlist:\n%s", pl)
	}
	r := checkPlays(t, in, 0.1)
	if d := r.Duration - in.Duration; d > 0.5 || d < -0.5 {
		t.Errorf("ffprobe says %.2f s, recording.json %.2f s", r.Duration, in.Duration)
	}
	if r.Width != 1280 || r.Height != 720 {
		t.Errorf("recording is %dx%d, want 1280x720", r.Width, r.Height)
	}
	if d := r.Duration - seconds; d > segmentSeconds || d < -segmentSeconds {
		t.Errorf("recording lasts %.2f s, want %d s within one segment (%.0f s)", r.Duration, seconds, segmentSeconds)
	}
	keys := keyframeTimes(t, filepath.Join(in.Dir, record.PlaylistFile))
	if len(keys) < seconds/2-1 {
		t.Errorf("%d keyframes in %d s of a clip with one every 2 s", len(keys), seconds)
	}
	testutil.AssertNoSecret(t, "the log", b.Logs.String(), publishKey)
}

// TestRecordingGrace: a publisher gone and back within the reconnect grace stays in one
// recording; a publisher back after the grace starts a second one.
func TestRecordingGrace(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeSmallClip(t)
	b := startBeffroi(t, func(c *config.Config) { c.ReconnectGrace = 4 * time.Second })
	root := filepath.Join(b.Cfg.DataDir, "recordings")
	if err := publish(t, t.Context(), b.PublishURL(publishKey), clip, 5).Wait(t, 30*time.Second); err != nil {
		t.Fatalf("first publish: %v", err)
	}
	waitStream(t, b, "event", "reconnecting", 5*time.Second)
	time.Sleep(1500 * time.Millisecond) // the encoder's absence, within the grace
	if err := publish(t, t.Context(), b.PublishURL(publishKey), clip, 5).Wait(t, 30*time.Second); err != nil {
		t.Fatalf("second publish: %v", err)
	}
	waitStream(t, b, "event", "idle", 15*time.Second) // the grace runs out
	testutil.Eventually(t, 10*time.Second, func() error {
		if l := recordingsIn(t, root); len(l) != 1 || l[0].State != record.Finished {
			return fmt.Errorf("recordings after the grace: %+v", l)
		}
		return nil
	})
	if err := publish(t, t.Context(), b.PublishURL(publishKey), clip, 4).Wait(t, 30*time.Second); err != nil {
		t.Fatalf("third publish: %v", err)
	}
	b.Stop(t)
	l := recordingsIn(t, root)
	if len(l) != 2 {
		t.Fatalf("%d recordings, want 2 (one within the grace, one after): %+v", len(l), l)
	}
	first := l[0]
	pl, _ := os.ReadFile(filepath.Join(first.Dir, record.PlaylistFile))
	t.Logf("first recording's playlist:\n%s", pl)
	// The 1.5 s absence (plus the encoder's start-up) is a discontinuity, not media.
	if n := strings.Count(string(pl), "#EXT-X-DISCONTINUITY\n"); n != 1 {
		t.Errorf("%d discontinuities in the first recording, want 1 (the publisher's absence)", n)
	}
	checkPlays(t, first, 5)
	if d := first.Duration - 10; d > segmentSeconds || d < -segmentSeconds {
		t.Errorf("first recording holds %.2f s of media, want 10 s within a segment", first.Duration)
	}
	second := l[1]
	if second.ID == first.ID || second.State != record.Finished {
		t.Errorf("second recording: %+v", second)
	}
	checkPlays(t, second, 0.1)
	if d := second.Duration - 4; d > segmentSeconds || d < -segmentSeconds {
		t.Errorf("second recording holds %.2f s, want 4 s", second.Duration)
	}
}

// binary builds cmd/beffroi once per package run, for the tests that need a real process
// (kill -9).
var binary struct {
	once sync.Once
	path string
	err  error
}

func buildBeffroi(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.path = filepath.Join(shared, "beffroi")
		out, err := exec.Command("go", "build", "-o", binary.path, "github.com/beffroi/beffroi/cmd/beffroi").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// beffroiProcess is Beffroi run as its own process, with its JSON log.
type beffroiProcess struct {
	*process
	httpAddr, rtmpAddr string
}

// startBeffroiProcess runs the binary with a configuration on loopback ports (port 0) and
// data in dataDir, and waits until it listens.
func startBeffroiProcess(t *testing.T, name, dataDir string) *beffroiProcess {
	t.Helper()
	return startBeffroiProcessWith(t, name, dataDir, processConfig(dataDir, fmt.Sprintf(`streams:
  - name: event
    publish_key: %s
`, publishKey)))
}

// processConfig is the configuration file of a Beffroi process on loopback ports with data in
// dataDir, its streams section given (YAML).
//
// As in startBeffroi, the adaptive HLS ladder is off.
func processConfig(dataDir, streams string) string {
	return fmt.Sprintf(`http: {addr: "127.0.0.1:0"}
rtmp: {addr: "127.0.0.1:0"}
rtmps: {addr: "127.0.0.1:0"}
srt: {addr: "127.0.0.1:0"}
rtsp: {addr: "127.0.0.1:0"}
webrtc: {udp_port: 0, tcp_port: -1, interfaces: [lo]}
data_dir: %q
reconnect_grace: 10s
log: {format: json}
admin: {token: %s}
outputs: {retry_min: 200ms, retry_max: 2s}
hls: {ladder: "off"}
`, dataDir, adminToken) + streams
}

// startBeffroiProcessWith runs the binary with the configuration conf (written to
// dataDir/beffroi.yaml) and waits until it listens.
func startBeffroiProcessWith(t *testing.T, name, dataDir, conf string) *beffroiProcess {
	t.Helper()
	bin := buildBeffroi(t)
	path := filepath.Join(dataDir, "beffroi.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &beffroiProcess{process: startProcess(t, t.Context(), name, bin, "--config", path)}
	testutil.Eventually(t, 20*time.Second, func() error {
		if p.Exited() {
			t.Fatalf("%s exited: %v\n%s", name, p.err, p.stderr.String())
		}
		for l := range strings.Lines(p.stderr.String()) {
			var e struct{ Msg, Protocol, Addr string }
			if json.Unmarshal([]byte(l), &e) == nil && e.Msg == "listening" {
				switch e.Protocol {
				case "http":
					p.httpAddr = e.Addr
				case "rtmp":
					p.rtmpAddr = e.Addr
				}
			}
		}
		if p.httpAddr == "" || p.rtmpAddr == "" {
			return errors.New("not listening yet")
		}
		return nil
	})
	return p
}

// TestRecordingSurvivesKill9: Beffroi is killed (SIGKILL) 15 s into a publish. The recording
// already plays up to its last complete segment; at the next start Beffroi closes it
// (interrupted, VOD, ENDLIST) and it plays, as long as what was published before the kill
// within one segment.
func TestRecordingSurvivesKill9(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	data := t.TempDir()
	root := filepath.Join(data, "recordings")
	first := startBeffroiProcess(t, "beffroi (to be killed)", data)

	started := time.Now()
	publish(t, t.Context(), "rtmp://"+first.rtmpAddr+"/live/"+publishKey, clip, 40)
	testutil.Eventually(t, 15*time.Second, func() error {
		if l := recordingsIn(t, root); len(l) != 1 || l[0].Segments < 2 {
			return fmt.Errorf("recordings: %+v", l)
		}
		return nil
	})
	time.Sleep(time.Until(started.Add(15 * time.Second)))
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(started).Seconds()
	<-first.done

	l := recordingsIn(t, root)
	if len(l) != 1 || l[0].State != record.Recording {
		t.Fatalf("after kill -9: %+v, want one recording still marked recording", l)
	}
	in := l[0]
	pl, _ := os.ReadFile(filepath.Join(in.Dir, record.PlaylistFile))
	if !strings.Contains(string(pl), "EVENT") || strings.Contains(string(pl), "ENDLIST") {
		t.Errorf("playlist left by the killed process:\n%s", pl)
	}
	// It plays before anyone closed it: the playlist lists only complete segments. (A
	// player would wait for more segments of an EVENT playlist: the files it lists are
	// joined and decoded instead.)
	listed := filepath.Join(t.TempDir(), "listed.mp4")
	var joined []byte
	for l := range strings.Lines(string(pl)) {
		l = strings.TrimSpace(l)
		name := l
		if uri, ok := strings.CutPrefix(l, `#EXT-X-MAP:URI="`); ok {
			name = strings.TrimSuffix(uri, `"`)
		} else if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(in.Dir, name))
		if err != nil {
			t.Fatalf("the playlist lists %s: %v", name, err)
		}
		joined = append(joined, b...)
	}
	if err := os.WriteFile(listed, joined, 0o600); err != nil {
		t.Fatal(err)
	}
	if msg := decodeAll(t, listed); msg != "" {
		t.Errorf("the segments the killed process listed do not decode: %s", msg)
	}
	if r := probe(t, listed); r.Video != "h264" || r.Audio != "aac" || r.Duration < in.Duration-0.5 {
		t.Errorf("the segments the killed process listed: %+v; recording.json says %.2f s", r, in.Duration)
	}

	second := startBeffroiProcess(t, "beffroi (restarted)", data)
	testutil.Eventually(t, 10*time.Second, func() error {
		if l := recordingsIn(t, root); len(l) != 1 || l[0].State != record.Interrupted {
			return fmt.Errorf("recordings after the restart: %+v", l)
		}
		return nil
	})
	if !strings.Contains(second.stderr.String(), "closed an interrupted recording") {
		t.Errorf("no log line about closing the interrupted recording")
	}
	in = recordingsIn(t, root)[0]
	pl, _ = os.ReadFile(filepath.Join(in.Dir, record.PlaylistFile))
	if !strings.Contains(string(pl), "#EXT-X-PLAYLIST-TYPE:VOD") || !strings.HasSuffix(string(pl), "#EXT-X-ENDLIST\n") {
		t.Errorf("playlist after the restart:\n%s", pl)
	}
	if in.Ended.Before(in.Started) || in.Ended.After(time.Now()) {
		t.Errorf("ended %s, started %s", in.Ended, in.Started)
	}
	r := checkPlays(t, in, 0.1)
	t.Logf("killed %.1f s after the publisher started; the recording holds %.2f s (ffprobe %.2f s)", elapsed, in.Duration, r.Duration)
	// What is lost: the segment being built (up to one segment) and the encoder's start-up.
	if d := elapsed - in.Duration; d < -0.5 || d > segmentSeconds+1 {
		t.Errorf("the recording holds %.2f s; %.1f s were published before the kill (want within one %.0f s segment, +1 s of encoder start-up)",
			in.Duration, elapsed, segmentSeconds)
	}
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(t, 30*time.Second); err != nil {
		t.Errorf("restarted beffroi: %v", err)
	}
}

// TestRecordingResolutionChange: the encoder changes resolution in the middle of one
// connection (new SPS in band, as a phone rotating does): one recording, a new init segment
// after a discontinuity, and ffmpeg decodes it all, 1280x720 then 640x360.
func TestRecordingResolutionChange(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	// One MPEG-TS stream whose second half has other parameter sets: two clips muxed apart
	// (each with its SPS in band), the second with its timestamps moved after the first's
	// (-t 5 with B-frames keeps frames shown up to 5.1 s).
	dir := t.TempDir()
	first, second, joined := filepath.Join(dir, "720.ts"), filepath.Join(dir, "360.ts"), filepath.Join(dir, "joined.ts")
	for _, c := range []struct {
		in, out, offset string
	}{{makeClip(t), first, "0"}, {makeSmallClip(t), second, "5.2"}} {
		if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", c.in, "-t", "5", "-c", "copy",
			"-output_ts_offset", c.offset, "-f", "mpegts", c.out).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %s: %v\n%s", c.out, err, out)
		}
	}
	a, _ := os.ReadFile(first)
	bb, _ := os.ReadFile(second)
	if err := os.WriteFile(joined, append(a, bb...), 0o600); err != nil {
		t.Fatal(err)
	}

	b := startBeffroi(t, nil)
	root := filepath.Join(b.Cfg.DataDir, "recordings")
	target := srtPublishURL(b.SRTAddr(), "publish:event:"+publishKey, false)
	if err := publishOverSRT(t, t.Context(), target, joined, 10).Wait(t, 40*time.Second); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if v := apiStream(t, b, "event"); v.Publishes != 1 {
		t.Errorf("%d publisher connections, want 1", v.Publishes)
	}
	b.Stop(t)
	if l := b.Logs.Lines("new track parameters"); len(l) == 0 {
		t.Errorf("no log line about the new track parameters: the resolution did not change in band")
	}
	l := recordingsIn(t, root)
	if len(l) != 1 {
		t.Fatalf("%d recordings, want 1: %+v", len(l), l)
	}
	in := l[0]
	pl, _ := os.ReadFile(filepath.Join(in.Dir, record.PlaylistFile))
	t.Logf("playlist:\n%s", pl)
	if !strings.Contains(string(pl), "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-2.mp4\"") {
		t.Errorf("no discontinuity with a second init segment")
	}
	checkPlays(t, in, 0.25) // the joined source has a 0.1 s hole at the join
	pls := filepath.Join(in.Dir, record.PlaylistFile)
	sizes := frameSizes(t, pls)
	t.Logf("decoded frame sizes, in order: %s", strings.Join(sizes, " -> "))
	if !slices.Equal(sizes, []string{"1280x720", "640x360"}) {
		t.Errorf("decoded sizes %v, want 1280x720 then 640x360", sizes)
	}
	if d := in.Duration - 10; d > segmentSeconds || d < -segmentSeconds {
		t.Errorf("recording holds %.2f s, want 10 s within one segment", in.Duration)
	}
}

// smallFilesystem mounts a tmpfs of size bytes on a new directory, unmounted at the end of
// the test. It needs root; the test is skipped (failed under BEFFROI_E2E=require) otherwise.
func smallFilesystem(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a small tmpfs for the disk-full test (root needed): %v: %s", err, out)
		if os.Getenv("BEFFROI_E2E") == "require" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// freeBytes returns the bytes free on the file system of dir.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// TestRecordingDiskFull: the recordings' file system fills up mid-event. Recording pauses
// (a clear log line, the API says paused), the platform keeps receiving the stream untouched,
// and recording resumes in the same recording, after a discontinuity, once space is freed.
func TestRecordingDiskFull(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeSmallClip(t)
	fi, err := os.Stat(clip)
	if err != nil {
		t.Fatal(err)
	}
	perSecond := fi.Size() / 10
	disk := smallFilesystem(t, 4<<20)
	// Ballast leaves room for about 4 s of the clip: recording fills the rest within seconds.
	ballast := filepath.Join(disk, "ballast")
	if err := os.WriteFile(ballast, make([]byte, freeBytes(t, disk)-4*perSecond), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNginx(t)
	b := startBeffroi(t, func(c *config.Config) {
		withNginx(n)(c)
		c.Record.Dir = disk
	})
	const seconds = 30
	started := time.Now()
	pub := publish(t, t.Context(), b.PublishURL(publishKey), clip, seconds)
	waitDest(t, b, "event", "nginx1", "live", 10*time.Second)
	paused := waitRecordingState(t, b, "event", "paused", 20*time.Second)
	pausedAt := time.Since(started)
	if l := b.Logs.Lines("recording paused: disk full"); len(l) != 1 {
		t.Errorf("%d log lines saying the recording paused on a full disk, want 1:\n%s", len(l), strings.Join(l, "\n"))
	}
	// The platform still receives the stream while the recording is paused.
	before, _ := destStatus(b, "event", "nginx1")
	time.Sleep(3 * time.Second)
	after, _ := destStatus(b, "event", "nginx1")
	if after.State != "live" || after.Frames <= before.Frames+60 {
		t.Errorf("destination while the disk is full: %+v then %+v", before, after)
	}
	if err := os.Remove(ballast); err != nil { // space returns
		t.Fatal(err)
	}
	resumed := waitRecordingState(t, b, "event", "recording", 15*time.Second)
	if resumed.RecordingID != paused.RecordingID {
		t.Errorf("resumed in %q, paused in %q: want the same recording", resumed.RecordingID, paused.RecordingID)
	}
	t.Logf("paused %.1f s into the publish, resumed after the ballast was removed", pausedAt.Seconds())
	if err := pub.Wait(t, seconds*time.Second+30*time.Second); err != nil {
		t.Fatalf("publish: %v", err)
	}
	st, _ := destStatus(b, "event", "nginx1")
	b.Stop(t)
	if st.Reconnects != 0 || st.Skipped != 0 {
		t.Errorf("destination during the disk-full episode: %+v, want no reconnect and no skipped frame", st)
	}
	checkRecording(t, singleRecording(t, n), 640, 360, seconds, 2)

	l := recordingsIn(t, disk)
	if len(l) != 1 {
		t.Fatalf("%d recordings, want 1: %+v", len(l), l)
	}
	in := l[0]
	pl, _ := os.ReadFile(filepath.Join(in.Dir, record.PlaylistFile))
	t.Logf("playlist:\n%s", pl)
	if in.State != record.Finished || !strings.Contains(string(pl), "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-") ||
		strings.Count(string(pl), "#EXT-X-MAP") < 2 {
		t.Errorf("want a finished recording with a second init segment after a discontinuity: %+v", in)
	}
	checkPlays(t, in, seconds)
	if in.Duration < 6 || in.Duration > seconds-2 {
		t.Errorf("the recording holds %.2f s of the %d s published: want both sides of the pause, not the pause", in.Duration, seconds)
	}
	if l := b.Logs.Lines("recording resumed"); len(l) != 1 {
		t.Errorf("%d log lines saying the recording resumed, want 1", len(l))
	}
}

// TestRecordingFromAPhoneBrowser: a phone's browser goes live from the go-live page (WHIP:
// H.264 whose resolution ramps up, Opus audio). The recording keeps the Opus as it came, has
// a new init segment for each new resolution, and ffmpeg decodes it all.
func TestRecordingFromAPhoneBrowser(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	b := startBeffroi(t, nil)
	root := filepath.Join(b.Cfg.DataDir, "recordings")
	page := "http://" + b.HTTPAddr() + "/go-live/event?key=" + publishKey
	const seconds = 15
	events := runGoLive(t, page, seconds, 0, "")
	if c, ok := findEvent(events, "connected"); !ok || c.Codec != "video/H264" {
		t.Errorf("the page did not go live with H.264: %+v", c)
	}
	b.Stop(t)
	l := recordingsIn(t, root)
	if len(l) != 1 {
		t.Fatalf("%d recordings, want 1: %+v", len(l), l)
	}
	in := l[0]
	pl := filepath.Join(in.Dir, record.PlaylistFile)
	b2, _ := os.ReadFile(pl)
	t.Logf("playlist:\n%s", b2)
	r := probe(t, pl)
	t.Logf("%s: %+v; recording.json: %.2f s in %d segments", in.ID, r, in.Duration, in.Segments)
	if r.Video != "h264" || r.Audio != "opus" {
		t.Errorf("recorded %q + %q, want h264 + opus", r.Video, r.Audio)
	}
	if msg := decodeAll(t, pl); msg != "" {
		t.Errorf("ffmpeg cannot decode it all: %s", msg)
	}
	for _, s := range []string{"v", "a"} {
		assertIncreasing(t, in.ID+" "+s, packetDTS(t, pl, s))
	}
	inits := strings.Count(string(b2), "#EXT-X-MAP")
	sizes := frameSizes(t, pl)
	t.Logf("%d init segments; decoded sizes: %s", inits, strings.Join(sizes, " -> "))
	if len(sizes) > 1 && inits < 2 {
		t.Errorf("the resolution changed (%v) within one init segment", sizes)
	}
	// The page is on air for 15 s; the first seconds go to ICE and DTLS.
	if in.Duration < seconds/2 || in.Duration > seconds+segmentSeconds {
		t.Errorf("recording holds %.2f s of about %d s on air", in.Duration, seconds)
	}
}
