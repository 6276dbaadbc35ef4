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
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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

	"github.com/beffroi/beffroi/bench/internal/benchkit"
)

const (
	streamName = "bench"
	publishKey = "bench-publish-key-7f3a"
	// adminToken is the API token of the Beffroi under test (admin.token), to read its stream.
	adminToken = "whepload-admin-token-0123456789"
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
	dir := logdir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "whepload-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	logf("building beffroi")
	bin, err := benchkit.BuildBeffroi(ctx, dir)
	if err != nil {
		return err
	}
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
		nginxDir := filepath.Join(dir, "nginx")
		if err := os.MkdirAll(nginxDir, 0o750); err != nil {
			return p, err
		}
		ngx, err := benchkit.StartNginxRTMP(ctx, nginxDir, "chunk_size 4096;\n    application live { live on; }")
		if err != nil {
			return p, err
		}
		defer ngx.Stop()
		sinkAddr = ngx.Addr
	}
	httpAddr, err := benchkit.FreeAddr("tcp")
	if err != nil {
		return p, err
	}
	srtAddr, err := benchkit.FreeAddr("udp")
	if err != nil {
		return p, err
	}
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

	cpu0, err := benchkit.ProcCPU(pid)
	if err != nil {
		return p, err
	}
	m0, err := benchkit.MachineCPU()
	if err != nil {
		return p, err
	}
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
	cpu1, err := benchkit.ProcCPU(pid)
	if err != nil {
		return p, err
	}
	m1, err := benchkit.MachineCPU()
	if err != nil {
		return p, err
	}
	el := time.Since(start)
	p.window = el
	p.cpu = cpu1.Sub(cpu0).Total()
	p.otherBusy = (m1.Busy - m0.Busy - p.cpu).Seconds() / el.Seconds()
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
	fmt.Fprintf(&b, "admin:\n  token: %q\n", adminToken)
	// The sink is on loopback, which destinations may reach only by this opt-in.
	b.WriteString("outputs:\n  allow_private_networks: true\n")
	fmt.Fprintf(&b, "streams:\n  - name: %s\n    publish_key: %s\n", streamName, publishKey)
	if mode == "push" && n > 0 {
		b.WriteString("    destinations:\n")
		for i := range n {
			fmt.Fprintf(&b, "      - name: d%d\n        url: rtmp://%s/live/d%d\n", i, sink, i)
		}
	}
	return b.String()
}

func get(url string) string {
	req, err := http.NewRequest(http.MethodGet, url, nil) //nolint:noctx // a loopback URL made here
	if err != nil {
		return ""
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req) //nolint:gosec // a loopback URL made here
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

// rssMiB is the process's resident set in MiB, 0 when it cannot be read.
func rssMiB(pid int) float64 {
	kib, err := benchkit.ProcRSS(pid)
	if err != nil {
		return 0
	}
	return float64(kib) / 1024
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
