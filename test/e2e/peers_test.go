package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
)

// clips are the test clips, made once per package run.
var clips struct {
	mu   sync.Mutex
	done map[string]*clipOnce
}

type clipOnce struct {
	once sync.Once
	path string
	err  error
}

// makeClip returns a 10 s H.264 (keyframe every 2 s) + AAC clip of 1280x720 at 30 fps, made
// once per package run.
func makeClip(t *testing.T) string { return clip(t, "1280x720") }

// makeSmallClip returns the same clip in 640x360.
func makeSmallClip(t *testing.T) string { return clip(t, "640x360") }

// makeHeavyClip returns the 1280x720 clip at a constant 16 Mbit/s: 6 s of it are more than
// the kernel's socket buffers on loopback hold (about 4 MB sent + what the receiver buffers),
// so a platform that stops reading for 6 s really blocks its sender.
func makeHeavyClip(t *testing.T) string {
	return clip(t, "1280x720", "-b:v", "16M", "-minrate", "16M", "-maxrate", "16M", "-bufsize", "4M",
		"-x264-params", "nal-hrd=cbr")
}

// clip makes a 10 s test clip once per package run: testsrc2 video of the given size at 30 fps
// (libx264, a keyframe every 2 s, with extra encoder options) and a 440 Hz AAC tone.
func clip(t *testing.T, size string, extra ...string) string {
	t.Helper()
	id := strings.Join(append([]string{size}, extra...), " ")
	clips.mu.Lock()
	if clips.done == nil {
		clips.done = map[string]*clipOnce{}
	}
	c := clips.done[id]
	if c == nil {
		c = &clipOnce{path: filepath.Join(shared, fmt.Sprintf("clip%d-%s.mp4", len(clips.done), size))}
		clips.done[id] = c
	}
	clips.mu.Unlock()
	c.once.Do(func() {
		args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=30",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
			"-t", "10", "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-sc_threshold", "0"}
		args = append(args, extra...)
		args = append(args, "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-shortest", c.path)
		if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			c.err = fmt.Errorf("making the clip %s: %w\n%s", id, err, out)
		}
	})
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.path
}

// process is a peer running as a child process, killed at the end of the test.
type process struct {
	name   string
	cmd    *exec.Cmd
	stderr *testutil.LogBuffer
	done   chan struct{}
	err    error // valid once done is closed
}

func startProcess(t *testing.T, ctx context.Context, name string, args ...string) *process {
	t.Helper()
	p := &process{name: name, stderr: &testutil.LogBuffer{}, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, args[0], args[1:]...)
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if out := strings.TrimSpace(p.stderr.String()); out != "" {
			t.Logf("%s output:\n%s", name, out)
		}
	})
	return p
}

// Exited reports whether the process has exited.
func (p *process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit by itself and returns its exit error; the test fails if
// it is still running after timeout.
func (p *process) Wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s; output:\n%s", p.name, timeout, p.stderr.String())
		return nil
	}
}

// Kill kills the process (if it still runs) and waits for it.
func (p *process) Kill() {
	if !p.Exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// publish sends clip in real time, looped, for seconds, without re-encoding, to url; extra
// output options (e.g. "-map", "0:v") go before the URL.
func publish(t *testing.T, ctx context.Context, url, clip string, seconds float64, extra ...string) *process {
	t.Helper()
	args := []string{"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-re", "-stream_loop", "-1", "-i", clip,
		"-t", strconv.FormatFloat(seconds, 'f', -1, 64), "-c", "copy"}
	args = append(args, extra...)
	return startProcess(t, ctx, "ffmpeg publish "+filepath.Base(clip), append(args, "-f", "flv", url)...)
}

// nginx is an nginx-rtmp server standing in for a live platform: every publish session is
// recorded into one FLV file.
type nginx struct {
	t    *testing.T
	dir  string
	port int
	proc *process
}

const nginxConf = `load_module %s;
daemon off; master_process off; worker_processes 1;
pid %s/nginx.pid; error_log %s/error.log info;
events { worker_connections 256; }
rtmp { server { listen 127.0.0.1:%d; chunk_size 4096;
  application live { live on; record all; record_path %s/rec; record_unique on; } } }
`

// startNginx starts an nginx-rtmp on a free loopback port, stopped at the end of the test.
func startNginx(t *testing.T) *nginx {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rec"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	// Another process may take the free port between our check and nginx's bind: try again.
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, rtmpModule, dir, dir, port, dir), 0o644); err != nil {
			t.Fatal(err)
		}
		n := &nginx{t: t, dir: dir, port: port}
		n.proc = startProcess(t, context.Background(), fmt.Sprintf("nginx :%d", port),
			"nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
		// A frozen nginx must be thawed before it can die; cleanups run last-in first-out, so
		// this one runs before startProcess's kill.
		t.Cleanup(n.Thaw)
		err := n.waitReady(10 * time.Second)
		if err == nil {
			return n
		}
		n.proc.Kill()
		if attempt == 5 {
			t.Fatalf("nginx did not start: %v\n%s\n%s", err, n.proc.stderr.String(), n.ErrorLog())
		}
		t.Logf("nginx start-up failed on port %d, trying another port: %v\n%s", port, err, n.ErrorLog())
		os.Remove(filepath.Join(dir, "error.log"))
	}
}

// waitReady waits until nginx has bound its port (it logs its OS limits once its listening
// sockets are open; before that, whatever accepts on the port is not this nginx) and accepts,
// or exits.
func (n *nginx) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if n.proc.Exited() {
			return fmt.Errorf("exited: %w", n.proc.err)
		}
		var err error
		if !strings.Contains(n.ErrorLog(), "getrlimit(RLIMIT_NOFILE)") {
			err = errors.New("not initialised yet")
		} else {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(n.port), time.Second); err == nil {
				c.Close()
				return nil
			}
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is the push URL of the stream key on this nginx.
func (n *nginx) URL(key string) string {
	return fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", n.port, key)
}

// Recordings returns the FLV files recorded so far, oldest first.
func (n *nginx) Recordings() []string {
	files, _ := filepath.Glob(filepath.Join(n.dir, "rec", "*.flv"))
	slices.Sort(files) // record_unique names end with the start time
	return files
}

// ErrorLog returns nginx's error log (at level info it logs every connection and publish).
func (n *nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	return string(b)
}

// Count returns how many lines of the error log contain s.
func (n *nginx) Count(s string) int { return strings.Count(n.ErrorLog(), s) }

// WaitClosed waits until nginx has seen every connection end (so its recordings are final)
// and at least publishes publish sessions.
func (n *nginx) WaitClosed(t *testing.T, publishes int) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() error {
		log := n.ErrorLog()
		conn, disc := strings.Count(log, "client connected"), strings.Count(log, " disconnect,")
		pub := strings.Count(log, " publish: ")
		if pub < publishes || disc < conn {
			return fmt.Errorf("nginx :%d: %d publish sessions (want %d), %d connections, %d ended", n.port, pub, publishes, conn, disc)
		}
		return nil
	})
}

// Freeze stops the nginx process (SIGSTOP): a platform that stops reading mid-stream.
func (n *nginx) Freeze() {
	if err := n.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		n.t.Errorf("SIGSTOP nginx: %v", err)
	}
}

// Thaw resumes a frozen nginx (SIGCONT).
func (n *nginx) Thaw() {
	if !n.proc.Exited() {
		_ = n.proc.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// probeResult is what ffprobe says of a file.
type probeResult struct {
	Video, Audio  string // codec names
	Width, Height int
	Start         float64 // first timestamp, seconds
	Duration      float64 // from the first timestamp to the last, seconds
}

// probe runs ffprobe on a file.
func probe(t *testing.T, file string) probeResult {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json",
		"-show_entries", "stream=codec_type,codec_name,width,height:format=start_time,duration", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var v struct {
		Streams []struct {
			Type   string `json:"codec_type"`
			Name   string `json:"codec_name"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
		} `json:"streams"`
		Format struct {
			Start    string `json:"start_time"`
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("ffprobe %s: %v: %s", file, err, out)
	}
	var r probeResult
	for _, s := range v.Streams {
		switch s.Type {
		case "video":
			r.Video, r.Width, r.Height = s.Name, s.Width, s.Height
		case "audio":
			r.Audio = s.Name
		}
	}
	r.Start, _ = strconv.ParseFloat(v.Format.Start, 64)
	r.Duration, _ = strconv.ParseFloat(v.Format.Duration, 64)
	return r
}

// packetDTS returns the DTS, in seconds, of every packet of a stream ("v" or "a").
func packetDTS(t *testing.T, file, stream string) []float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", stream,
		"-show_entries", "packet=dts_time", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe packets %s: %v", file, err)
	}
	var dts []float64
	for f := range strings.FieldsSeq(string(out)) {
		f = strings.TrimSuffix(f, ",")
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			continue // N/A
		}
		dts = append(dts, v)
	}
	return dts
}

// assertIncreasing fails when the timestamps do not strictly increase.
func assertIncreasing(t *testing.T, what string, ts []float64) {
	t.Helper()
	if len(ts) == 0 {
		t.Errorf("%s: no packets", what)
		return
	}
	bad := 0
	for i := 1; i < len(ts); i++ {
		if ts[i] <= ts[i-1] {
			if bad < 5 {
				t.Errorf("%s: packet %d has DTS %.3f after %.3f", what, i, ts[i], ts[i-1])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d packets do not increase", what, bad, len(ts))
	}
}

// maxGap returns the largest step between consecutive timestamps and where it is.
func maxGap(ts []float64) (gap, at float64) {
	for i := 1; i < len(ts); i++ {
		if d := ts[i] - ts[i-1]; d > gap {
			gap, at = d, ts[i-1]
		}
	}
	return gap, at
}

// checkRecording asserts that a recording holds H.264 of the given size and AAC, lasting about
// want seconds, and returns what ffprobe found. (nginx starts each recording's timestamps at 0.)
func checkRecording(t *testing.T, file string, width, height int, want, tolerance float64) probeResult {
	t.Helper()
	r := probe(t, file)
	t.Logf("%s: %+v", filepath.Base(file), r)
	if r.Video != "h264" || r.Audio != "aac" {
		t.Errorf("%s: codecs %q + %q, want h264 + aac", file, r.Video, r.Audio)
	}
	if width > 0 && (r.Width != width || r.Height != height) {
		t.Errorf("%s: %dx%d, want %dx%d", file, r.Width, r.Height, width, height)
	}
	if d := r.Duration - want; d > tolerance || d < -tolerance {
		t.Errorf("%s: lasts %.2f s, want %.1f ± %.1f s", file, r.Duration, want, tolerance)
	}
	return r
}

// exitCode returns the exit code of a process error (0 for nil, -1 when killed by a signal).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
