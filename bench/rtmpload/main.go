// Command rtmpload measures the cost of RTMP fan-out, side by side in one run, for Beffroi
// and for nginx with its RTMP module doing the same fan-out.
//
//	go run ./bench/rtmpload -n 10,50,200,500 -mode both
//
// For each reader count, mode and server it starts a fresh server on loopback, publishes one
// synthetic ~4 Mbit/s 30 fps H.264 + AAC stream in real time (gortmplib Client and Writer),
// attaches the readers, waits the warm-up, then measures over -duration: the server's CPU
// (utime+stime from /proc/<pid>/stat) per reader-second, its RSS per reader, the latency from
// the publisher's write to each reader's receipt of every video frame (the publisher stamps
// the wall clock into each NAL unit), the frames each reader got, and the bytes sent.
//
// Modes: play attaches N RTMP players; push configures N push destinations (Beffroi
// destinations, nginx `push` lines) that publish to a sink RTMP server run by the tool.
//
// See bench/README.md for the columns and the figures of a run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/beffroi/beffroi/bench/internal/benchkit"
)

// options are the command-line flags.
type options struct {
	counts    []int
	modes     []string
	servers   []string
	duration  time.Duration
	warmup    time.Duration
	bitrate   int
	inProcess bool
	profile   string
	logDir    string
	verbose   bool
	retries   int
	maxOther  float64
	quietWait time.Duration

	beffroiBin string
}

func main() {
	os.Exit(mainCode())
}

// mainCode runs the tool and returns its exit code, once every subprocess is stopped.
func mainCode() int {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtmpload:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "rtmpload:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("rtmpload", flag.ContinueOnError)
	n := fs.String("n", "10,50,200,500", "reader counts, comma-separated")
	mode := fs.String("mode", "both", "play, push or both")
	servers := fs.String("servers", "beffroi,nginx", "servers to measure, comma-separated: beffroi, nginx")
	o := &options{}
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "measurement window per point")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "wait after the readers attached, before measuring")
	fs.IntVar(&o.bitrate, "bitrate", 4_000_000, "published stream bitrate, bits/s (video and audio)")
	fs.BoolVar(&o.inProcess, "inprocess", false,
		"run Beffroi inside this process (internal/app) instead of a subprocess; its CPU column then includes the tool")
	fs.StringVar(&o.profile, "cpuprofile", "",
		"profile Beffroi during each window into PREFIX-<mode>-<n>: .pprof (runtime/pprof, with -inprocess) or .perf.data (perf record -g on the subprocess)")
	fs.StringVar(&o.logDir, "logdir", "", "keep each server's log and configuration in this directory")
	fs.BoolVar(&o.verbose, "v", false, "log progress to stderr")
	fs.Float64Var(&o.maxOther, "max-other", 0.15,
		"CPUs other processes may use during a window before the point is measured again")
	fs.IntVar(&o.retries, "retries", 2, "how many times a disturbed point is measured again")
	fs.DurationVar(&o.quietWait, "quiet-wait", 2*time.Minute,
		"before each point, wait up to this long for the machine to be quiet (other processes under -max-other)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for f := range strings.SplitSeq(*n, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 || v > 5000 {
			return nil, fmt.Errorf("-n: %q is not a reader count from 1 to 5000", f)
		}
		o.counts = append(o.counts, v)
	}
	switch *mode {
	case "play", "push":
		o.modes = []string{*mode}
	case "both":
		o.modes = []string{"play", "push"}
	default:
		return nil, fmt.Errorf("-mode: %q is not play, push or both", *mode)
	}
	for s := range strings.SplitSeq(*servers, ",") {
		s = strings.TrimSpace(s)
		if s != "beffroi" && s != "nginx" {
			return nil, fmt.Errorf("-servers: unknown server %q", s)
		}
		o.servers = append(o.servers, s)
	}
	if o.duration < time.Second || o.duration > 10*time.Minute {
		return nil, fmt.Errorf("-duration: from 1s to 10m")
	}
	if o.warmup < 0 || o.warmup > 5*time.Minute {
		return nil, fmt.Errorf("-warmup: from 0 to 5m")
	}
	if o.retries < 0 || o.retries > 10 {
		return nil, fmt.Errorf("-retries: from 0 to 10")
	}
	if o.quietWait < 0 || o.quietWait > 30*time.Minute {
		return nil, fmt.Errorf("-quiet-wait: from 0 to 30m")
	}
	if o.bitrate < 500_000 || o.bitrate > 50_000_000 {
		return nil, fmt.Errorf("-bitrate: from 500000 to 50000000")
	}
	return o, nil
}

func (o *options) logf(format string, args ...any) {
	if o.verbose {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
	}
}

func run(ctx context.Context, o *options) error {
	tmp, err := os.MkdirTemp("", "rtmpload-bin-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	if slices.Contains(o.servers, "beffroi") && !o.inProcess {
		o.logf("building beffroi")
		var err error
		if o.beffroiBin, err = benchkit.BuildBeffroi(ctx, tmp); err != nil {
			return err
		}
	}
	if slices.Contains(o.servers, "nginx") {
		if _, err := exec.LookPath("nginx"); err != nil {
			return fmt.Errorf("nginx not found (apt-get install nginx libnginx-mod-rtmp)")
		}
		if _, err := os.Stat(benchkit.NginxRTMPModule); err != nil {
			return fmt.Errorf("nginx RTMP module: %w (apt-get install libnginx-mod-rtmp)", err)
		}
	}

	fmt.Println(machine())
	fmt.Printf("stream: %.2f Mbit/s (IDR %d B every %d frames, P %d B, %d fps; AAC %d B x %.2f/s), warm-up %s, window %s\n\n",
		float64(o.bitrate)/1e6, idrSize, gop, pSize(o.bitrate), fps, audioSize,
		float64(audioRate)/audioFrameLen, o.warmup, o.duration)

	var results []*result
	for _, mode := range o.modes {
		for _, n := range o.counts {
			for _, srv := range o.servers {
				if ctx.Err() != nil {
					break
				}
				r := measurePoint(ctx, o, srv, mode, n)
				if r.err != nil {
					fmt.Fprintf(os.Stderr, "rtmpload: %s %s n=%d: %v\n", srv, mode, n, r.err)
				} else {
					o.logf("  cpu %.3f ms/reader-s, p50 %.2f ms, p99 %.2f ms, machine busy %.0f%%, others %.2f CPUs",
						r.cpuPerReaderSecond(), ms(r.p50), ms(r.p99), 100*r.busy, r.other)
				}
				results = append(results, r)
			}
		}
	}
	printTable(os.Stdout, results, o.maxOther)
	return ctx.Err()
}

// machine describes where the run happens.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	ngx := ""
	if out, err := exec.Command("nginx", "-v").CombinedOutput(); err == nil {
		ngx = ", " + strings.TrimSpace(strings.TrimPrefix(string(out), "nginx version: "))
	}
	return fmt.Sprintf("machine: %d CPUs (%s)%s, %s%s", runtime.NumCPU(), model, kernel, runtime.Version(), ngx)
}
