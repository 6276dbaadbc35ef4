// Command whepload measures what WHEP viewers cost Beffroi, against what RTMP destination
// pushes cost it, on the same stream and machine: Beffroi runs as a subprocess (built from
// this module), ffmpeg publishes a 1280x720 H.264 (no B-frames) + Opus clip over SRT in real
// time, and either N pion viewers play it over WHEP from this process or N destinations push
// it to an nginx-rtmp sink. Beffroi's CPU (/proc/<pid>/stat) and RSS are measured over a
// window once every reader is up. See bench/README.md.
//
//	go run ./bench/whepload -n 0,1,10,50 -mode both
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	streamName = "bench"
	publishKey = "bench-publish-key-7f3a"
)

func main() {
	var (
		counts   = flag.String("n", "0,1,10,50", "reader counts, comma-separated")
		mode     = flag.String("mode", "both", "whep, push or both")
		warmup   = flag.Duration("warmup", 5*time.Second, "wait after the readers are up")
		window   = flag.Duration("duration", 20*time.Second, "measurement window")
		bitrate  = flag.String("bitrate", "3M", "video bitrate of the clip (libx264)")
		verbose  = flag.Bool("v", false, "progress on stderr")
		keepLogs = flag.String("logdir", "", "keep Beffroi's logs and configurations here")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *counts, *mode, *warmup, *window, *bitrate, *verbose, *keepLogs)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "whepload:", err)
		os.Exit(1)
	}
}

type point struct {
	mode      string
	n         int
	cpu       time.Duration
	window    time.Duration
	rssBase   float64 // MiB
	rss       float64 // MiB, median over the window
	mbps      []float64
	frames    []float64 // share of the frames sent in the window, per viewer
	baseCPU   float64   // ms/s of the n=0 point of the same mode
	haveBase  bool
	destsLive int
	otherBusy float64
}

func run(ctx context.Context, counts, mode string, warmup, window time.Duration, bitrate string, verbose bool, logdir string) error {
	logf := func(format string, a ...any) {
		if verbose {
			fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
		}
	}
	var ns []int
	for _, s := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return fmt.Errorf("-n: %q is not a count", s)
		}
		ns = append(ns, n)
	}
	var modes []string
	switch mode {
	case "both":
		modes = []string{"whep", "push"}
	case "whep", "push":
		modes = []string{mode}
	default:
		return fmt.Errorf("-mode: %q is not whep, push or both", mode)
	}
	for _, bin := range []string{"ffmpeg", "nginx", "go"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is needed: %w", bin, err)
		}
	}
	dir, err := os.MkdirTemp("", "whepload-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if logdir != "" {
		dir = logdir
		_ = os.MkdirAll(dir, 0o750)
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	logf("building beffroi")
	bin := filepath.Join(dir, "beffroi")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/beffroi").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	_ = root
	logf("making the clip (%s video)", bitrate)
	clip := filepath.Join(dir, "clip.ts")
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "10", "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-g", "60", "-sc_threshold", "0",
		"-b:v", bitrate, "-maxrate", bitrate, "-bufsize", "2M", "-pix_fmt", "yuv420p",
		"-c:a", "libopus", "-b:a", "128k", "-shortest", clip).CombinedOutput(); err != nil {
		return fmt.Errorf("making the clip: %w\n%s", err, out)
	}

	var points []point
	for _, m := range modes {
		var base *point
		for _, n := range ns {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			logf("point mode=%s n=%d", m, n)
			p, err := measure(ctx, m, n, bin, clip, dir, warmup, window, logf)
			if err != nil {
				return fmt.Errorf("mode %s n=%d: %w", m, n, err)
			}
			if n == 0 {
				base = &p
			} else if base != nil {
				p.baseCPU, p.haveBase = ms(base.cpu)/base.window.Seconds(), true
			}
			points = append(points, p)
		}
	}
	report(os.Stdout, points, bitrate, warmup, window)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// measure runs one point: a fresh Beffroi, the publisher, n readers, then the window.
func measure(ctx context.Context, mode string, n int, bin, clip, dir string, warmup, window time.Duration, logf func(string, ...any)) (point, error) {
	p := point{mode: mode, n: n, window: window}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sinkAddr := ""
	if mode == "push" && n > 0 {
		addr, stopNginx, err := startNginx(ctx, dir)
		if err != nil {
			return p, err
		}
		defer stopNginx()
		sinkAddr = addr
	}
	httpAddr, srtAddr := freeAddr("tcp"), freeAddr("udp")
	cfg := filepath.Join(dir, fmt.Sprintf("beffroi-%s-%d.yaml", mode, n))
	if err := os.WriteFile(cfg, []byte(config(httpAddr, srtAddr, dir, mode, n, sinkAddr)), 0o600); err != nil {
		return p, err
	}
	logFile, err := os.Create(strings.TrimSuffix(cfg, ".yaml") + ".log")
	if err != nil {
		return p, err
	}
	defer logFile.Close()
	srv := exec.CommandContext(ctx, bin, "--config", cfg)
	srv.Stdout, srv.Stderr = logFile, logFile
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		return p, err
	}
	defer func() { _ = srv.Process.Signal(syscall.SIGTERM); _ = srv.Wait() }()
	if err := waitHTTP(ctx, "http://"+httpAddr+"/healthz", 15*time.Second); err != nil {
		return p, fmt.Errorf("beffroi did not start: %w", err)
	}
	pub := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
		"-re", "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "mpegts",
		"srt://"+srtAddr+"?streamid=publish:"+streamName+":"+publishKey)
	pub.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := pub.Start(); err != nil {
		return p, err
	}
	defer func() { _ = pub.Process.Kill(); _ = pub.Wait() }()
	api := "http://" + httpAddr + "/api/v1/streams/" + streamName
	if err := waitFor(ctx, 20*time.Second, func() bool { return strings.Contains(get(api), `"live": true`) }); err != nil {
		return p, errors.New("the stream did not go live")
	}
	time.Sleep(3 * time.Second)
	pid := srv.Process.Pid
	p.rssBase = rssMiB(pid)

	var viewers []*viewer
	switch {
	case mode == "whep":
		api := viewerAPI()
		for i := range n {
			v, err := newViewer(ctx, api, "http://"+httpAddr+"/whep/"+streamName)
			if err != nil {
				return p, fmt.Errorf("viewer %d: %w", i, err)
			}
			defer v.close()
			viewers = append(viewers, v)
		}
		logf("  %d viewers connected", n)
	case n > 0:
		if err := waitFor(ctx, 30*time.Second, func() bool { return destsLive(get(api)) >= n }); err != nil {
			return p, fmt.Errorf("destinations not all live: %s", get(api))
		}
		logf("  %d destinations live", n)
	}
	time.Sleep(warmup)

	cpu0, err := procCPU(pid)
	if err != nil {
		return p, err
	}
	busy0 := machineBusy()
	counts0 := snapshot(viewers)
	start := time.Now()
	var rss []float64
	for time.Since(start) < window {
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(time.Second):
		}
		rss = append(rss, rssMiB(pid))
	}
	cpu1, err := procCPU(pid)
	if err != nil {
		return p, err
	}
	el := time.Since(start)
	p.window = el
	p.cpu = cpu1 - cpu0
	p.otherBusy = (machineBusy() - busy0 - p.cpu).Seconds() / el.Seconds()
	slices.Sort(rss)
	if len(rss) > 0 {
		p.rss = rss[len(rss)/2]
	}
	counts1 := snapshot(viewers)
	for i := range viewers {
		b := counts1[i].bytes - counts0[i].bytes
		f := counts1[i].frames - counts0[i].frames
		p.mbps = append(p.mbps, float64(b)*8/el.Seconds()/1e6)
		p.frames = append(p.frames, 100*float64(f)/(30*el.Seconds()))
	}
	if mode == "push" {
		p.destsLive = destsLive(get(api))
	}
	return p, nil
}

func config(httpAddr, srtAddr, dir, mode string, n int, sink string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "http:\n  addr: %q\nrtmp:\n  addr: \"\"\nrtmps:\n  addr: \"\"\nrtsp:\n  addr: \"\"\nsrt:\n  addr: %q\n", httpAddr, srtAddr)
	fmt.Fprintf(&b, "webrtc:\n  udp_port: 0\n  tcp_port: -1\n  interfaces: [lo]\ndata_dir: %q\nlog:\n  level: warn\n", filepath.Join(dir, "data"))
	fmt.Fprintf(&b, "streams:\n  - name: %s\n    publish_key: %s\n", streamName, publishKey)
	if mode == "push" && n > 0 {
		b.WriteString("    destinations:\n")
		for i := range n {
			fmt.Fprintf(&b, "      - name: d%d\n        url: rtmp://%s/live/d%d\n", i, sink, i)
		}
	}
	return b.String()
}

// startNginx runs an nginx-rtmp sink (live on, no record) on a free loopback port.
func startNginx(ctx context.Context, dir string) (string, func(), error) {
	port := freeAddr("tcp")
	d := filepath.Join(dir, "nginx")
	_ = os.MkdirAll(d, 0o750)
	conf := fmt.Sprintf(`load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off; master_process off; worker_processes 1; pid %s/nginx.pid; error_log %s/error.log warn;
events { worker_connections 1024; }
rtmp { server { listen %s; chunk_size 4096; application live { live on; } } }
`, d, d, port)
	cf := filepath.Join(d, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, "nginx", "-p", d, "-c", cf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	if err := waitFor(ctx, 10*time.Second, func() bool {
		c, err := net.Dial("tcp", port)
		if err == nil {
			c.Close()
		}
		return err == nil
	}); err != nil {
		stop()
		return "", nil, errors.New("nginx did not start")
	}
	return port, stop, nil
}

func freeAddr(network string) string {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		defer func() { _ = c.Close() }()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(url string) string {
	resp, err := http.Get(url) //nolint:gosec,noctx // a loopback URL made here
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	return waitFor(ctx, timeout, func() bool { return get(url) != "" })
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the Beffroi module")
	}
	return filepath.Dir(gomod), nil
}

// procCPU returns utime+stime of a process (threads included) from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, errors.New("malformed stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// machineBusy returns the busy CPU time of the whole machine (/proc/stat).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i := 1; i < len(f) && i <= 8; i++ {
		if i == 4 || i == 5 {
			continue // idle, iowait
		}
		v, _ := strconv.ParseInt(f[i], 10, 64)
		busy += v
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// destsLive counts the live destinations in a stream's API view.
func destsLive(body string) int {
	var v struct {
		Destinations []struct {
			State string `json:"state"`
		} `json:"destinations"`
	}
	if json.Unmarshal([]byte(body), &v) != nil {
		return 0
	}
	n := 0
	for _, d := range v.Destinations {
		if d.State == "live" {
			n++
		}
	}
	return n
}

type counts struct{ bytes, frames int64 }

func snapshot(vs []*viewer) []counts {
	out := make([]counts, len(vs))
	for i, v := range vs {
		out[i] = counts{v.bytes.Load(), v.frames.Load()}
	}
	return out
}

func report(w io.Writer, points []point, bitrate string, warmup, window time.Duration) {
	fmt.Fprintf(w, "clip: 1280x720 30 fps H.264 at %s (no B-frames, keyframe every 2 s) + Opus 128k, over SRT; warm-up %s, window %s\n\n", bitrate, warmup, window)
	fmt.Fprintln(w, "| mode | readers | CPU % of a core | CPU ms / reader-s | marginal ms / reader-s | RSS base MiB | RSS / reader KiB | Mbit/s per viewer (min/mean) | frames min / mean % | other CPU % |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, p := range points {
		perS := ms(p.cpu) / p.window.Seconds()
		perReader, marginal, rssPer := "–", "–", "–"
		if p.n > 0 {
			perReader = fmt.Sprintf("%.3f", perS/float64(p.n))
			rssPer = fmt.Sprintf("%.1f", (p.rss-p.rssBase)*1024/float64(p.n))
			if p.haveBase {
				marginal = fmt.Sprintf("%.3f", (perS-p.baseCPU)/float64(p.n))
			}
		}
		rate, frames := "–", "–"
		if len(p.mbps) > 0 {
			rate = fmt.Sprintf("%.2f / %.2f", slices.Min(p.mbps), mean(p.mbps))
			frames = fmt.Sprintf("%.1f / %.1f", slices.Min(p.frames), mean(p.frames))
		} else if p.mode == "push" && p.n > 0 {
			frames = fmt.Sprintf("%d/%d live", p.destsLive, p.n)
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %s | %s | %.1f | %s | %s | %s | %.0f |\n",
			p.mode, p.n, perS/10, perReader, marginal, p.rssBase, rssPer, rate, frames, 100*p.otherBusy)
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
