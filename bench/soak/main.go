// Command soak runs one event for a long time and watches Beffroi's memory, goroutines and
// files stay flat: one stream at -bitrate over RTMP, -destinations nginx-rtmp platforms, -viewers
// LL-HLS viewers (bench/viewerload's client, run as a subprocess) and the recording, for
// -duration. At the end the publisher goes away for -standby inside the grace, so that the
// standby picture's cost is measured too, then the recording is checked with ffprobe.
//
//	go run ./bench/soak -duration 1h
//	go run ./bench/soak -duration 10m -warmup 2m   # a CI-sized run
//
// It prints a sample line every -every and a summary: RSS growth after the warm-up, goroutines
// and open files at the warm-up and at the end, frames skipped and reconnects of each reader,
// the recording's duration against the time published, and the CPU Beffroi and the encoders
// it started (ffmpeg) used while the standby picture was on air. See bench/README.md.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/beffroi/beffroi/bench/internal/benchkit"
)

const (
	streamName = "soak"
	publishKey = "soak-publish-key-0123456789"
	adminToken = "soak-admin-token-0123456789"
)

type options struct {
	duration, warmup, every, standby time.Duration
	bitrate                          string
	destinations, viewers            int
	logdir, logLevel                 string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", time.Hour, "how long the stream is published")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Minute, "growth is measured from this point of the run on")
	flag.DurationVar(&o.every, "every", 30*time.Second, "sampling period")
	flag.DurationVar(&o.standby, "standby", 20*time.Second, "at the end, the publisher is away this long (inside the grace); 0: no standby phase")
	flag.StringVar(&o.bitrate, "bitrate", "6M", "video bitrate of the published stream (constant, libx264)")
	flag.IntVar(&o.destinations, "destinations", 3, "nginx-rtmp platforms the stream is forwarded to")
	flag.IntVar(&o.viewers, "viewers", 20, "LL-HLS viewers (bench/viewerload)")
	flag.StringVar(&o.logdir, "logdir", "", "keep the logs, configuration and recording here")
	flag.StringVar(&o.logLevel, "loglevel", "warn", "Beffroi's log level (its log is beffroi.log in -logdir)")
	flag.Parse()
	if o.warmup >= o.duration {
		fmt.Fprintln(os.Stderr, "soak: -warmup must be shorter than -duration")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func run(ctx context.Context, o options) error {
	for _, bin := range []string{"ffmpeg", "ffprobe", "nginx", "go"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is needed: %w", bin, err)
		}
	}
	dir := o.logdir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "soak-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	logf("building beffroi and viewerload")
	bin, err := benchkit.BuildBeffroi(ctx, dir)
	if err != nil {
		return err
	}
	viewerload, err := buildViewerload(ctx, dir)
	if err != nil {
		return err
	}
	logf("making a 20 s clip at %s, looped by the publisher", o.bitrate)
	clip := filepath.Join(dir, "clip.ts")
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-sc_threshold", "0",
		"-b:v", o.bitrate, "-minrate", o.bitrate, "-maxrate", o.bitrate, "-bufsize", o.bitrate,
		"-x264-params", "nal-hrd=cbr", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "128k", "-shortest", clip).CombinedOutput(); err != nil {
		return fmt.Errorf("making the clip: %w\n%s", err, out)
	}

	nginxDir := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(nginxDir, 0o750); err != nil {
		return err
	}
	ngx, err := benchkit.StartNginxRTMP(ctx, nginxDir, "application live { live on; }")
	if err != nil {
		return err
	}
	defer ngx.Stop()

	httpAddr, err := benchkit.FreeAddr("tcp")
	if err != nil {
		return err
	}
	rtmpAddr, err := benchkit.FreeAddr("tcp")
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "beffroi.yaml")
	if err := os.WriteFile(cfg, []byte(config(dir, httpAddr, rtmpAddr, ngx.Addr, o)), 0o600); err != nil {
		return err
	}
	srv, err := benchkit.Start(ctx, exec.Command(bin, "--config", cfg), rtmpAddr, filepath.Join(dir, "beffroi.log"))
	if err != nil {
		return err
	}
	defer srv.Stop()
	api := &apiClient{base: "http://" + httpAddr}

	pub, err := publish(ctx, clip, rtmpAddr, dir)
	if err != nil {
		return err
	}
	published := time.Now()
	if err := waitFor(ctx, 30*time.Second, func() bool {
		st, err := api.stream(ctx)
		return err == nil && st.Live && st.liveDestinations() == o.destinations
	}); err != nil {
		return fmt.Errorf("the stream and its %d destinations did not go live: %s", o.destinations, srv.LogTail())
	}
	// The viewers hold until the end of the run, then viewerload makes some leave and checks
	// the count follows: its summary is in the report.
	hold := o.duration - time.Since(published) - 5*time.Second
	viewers := exec.CommandContext(ctx, viewerload, "-url", api.base, "-stream", streamName, "-n", strconv.Itoa(o.viewers),
		"-waves", "1", "-hold", hold.Round(time.Second).String(), "-baseline", "0", "-token", adminToken)
	vl, err := benchkit.Start(ctx, viewers, "", filepath.Join(dir, "viewerload.log"))
	if err != nil {
		return err
	}
	defer vl.Stop()
	logf("live: %d destinations, %d viewers joining; sampling every %s for %s", o.destinations, o.viewers, o.every, o.duration)

	fmt.Printf("| t | RSS MiB | heap MiB | goroutines | open files | CPU %% of a core | viewers | destinations live |\n|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	var samples []sample
	var atWarmup *sample
	prev, err := takeSample(ctx, api, srv.Pid(), published)
	if err != nil {
		return err
	}
	for time.Since(published) < o.duration {
		if err := sleep(ctx, min(o.every, o.duration-time.Since(published))); err != nil {
			return err
		}
		s, err := takeSample(ctx, api, srv.Pid(), published)
		if err != nil {
			return err
		}
		s.cpuShare = s.cpu.Sub(prev.cpu).Total().Seconds() / (s.at - prev.at).Seconds()
		prev = s
		samples = append(samples, s)
		if atWarmup == nil && s.at >= o.warmup {
			atWarmup = &samples[len(samples)-1]
		}
		fmt.Printf("| %s | %.1f | %.1f | %d | %d | %.1f | %d | %d |\n", s.at.Round(time.Second), s.rssMiB, s.heapMiB,
			s.goroutines, s.files, 100*s.cpuShare, s.viewers, s.stream.liveDestinations())
	}
	end, err := api.stream(ctx)
	if err != nil {
		return err
	}
	select {
	case <-vl.Exited():
	case <-time.After(90 * time.Second):
		vl.Stop()
	}
	encoders, err := benchkit.ReapedChildrenCPU(srv.Pid())
	if err != nil {
		return err
	}

	publishedFor := time.Since(published)
	standbyCPU := ""
	if o.standby > 0 {
		standbyCPU, err = standbyPhase(ctx, api, srv.Pid(), pub, o.standby)
		if err != nil {
			return err
		}
	} else {
		pub.Stop()
	}
	logf("publisher gone; waiting for the recording to end")
	rec, err := waitRecording(ctx, api)
	if err != nil {
		return err
	}
	probed, err := probeDuration(ctx, api.base+rec.URLs.Playlist)
	if err != nil {
		return fmt.Errorf("the recording does not decode: %w", err)
	}

	fmt.Println()
	if atWarmup == nil || len(samples) == 0 {
		return errors.New("the run ended before the warm-up: nothing to compare")
	}
	last := samples[len(samples)-1]
	peak := atWarmup.rssMiB
	for _, s := range samples {
		if s.at >= atWarmup.at {
			peak = max(peak, s.rssMiB)
		}
	}
	fmt.Printf("RSS: %.1f MiB at %s, %.1f MiB at the end (%+.1f%%), peak after the warm-up %.1f MiB\n",
		atWarmup.rssMiB, atWarmup.at.Round(time.Second), last.rssMiB, 100*(last.rssMiB-atWarmup.rssMiB)/atWarmup.rssMiB, peak)
	fmt.Printf("goroutines: %d at %s, %d at the end; open files: %d, %d\n",
		atWarmup.goroutines, atWarmup.at.Round(time.Second), last.goroutines, atWarmup.files, last.files)
	for _, d := range end.Destinations {
		fmt.Printf("destination %s: %s, %d frames, %d skipped, %d reconnects\n", d.Name, d.State, d.Frames, d.Skipped, d.Reconnects)
	}
	if end.Recording != nil {
		fmt.Printf("recorder: %s, %d frames skipped\n", end.Recording.State, end.Recording.Skipped)
	}
	fmt.Printf("recording %s: %d segments, %.1f s in the catalogue, %.1f s decoded by ffprobe, for %.1f s published\n",
		rec.ID, rec.Segments, rec.Duration, probed, publishedFor.Seconds())
	fmt.Print(viewerSummary(filepath.Join(dir, "viewerload.log")))
	fmt.Printf("encoders Beffroi started and that ended during the run (the standby picture's preparation among them): %.1f s of CPU\n", encoders.Total().Seconds())
	if standbyCPU != "" {
		fmt.Println(standbyCPU)
	}
	return nil
}

func config(dir, httpAddr, rtmpAddr, platform string, o options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "http:\n  addr: %q\nrtmp:\n  addr: %q\nrtmps:\n  addr: \"\"\nsrt:\n  addr: \"\"\nrtsp:\n  addr: \"\"\n", httpAddr, rtmpAddr)
	fmt.Fprintf(&b, "webrtc:\n  udp_port: 0\n  tcp_port: -1\n  interfaces: [lo]\n")
	fmt.Fprintf(&b, "data_dir: %q\nlog:\n  level: %s\nadmin:\n  token: %q\n", filepath.Join(dir, "data"), o.logLevel, adminToken)
	// The platforms are on loopback, which destinations may reach only by this opt-in.
	b.WriteString("outputs:\n  allow_private_networks: true\n")
	fmt.Fprintf(&b, "reconnect_grace: %s\n", max(30*time.Second, o.standby+15*time.Second))
	fmt.Fprintf(&b, "streams:\n  - name: %s\n    publish_key: %s\n    destinations:\n", streamName, publishKey)
	for i := range o.destinations {
		fmt.Fprintf(&b, "      - name: d%d\n        url: rtmp://%s/live/d%d\n", i, platform, i)
	}
	return b.String()
}

func buildViewerload(ctx context.Context, dir string) (string, error) {
	root, err := benchkit.ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "viewerload")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./bench/viewerload")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./bench/viewerload: %w\n%s", err, out)
	}
	return bin, nil
}

// publish loops the clip to Beffroi over RTMP at its own pace, as a camera would send it.
func publish(ctx context.Context, clip, rtmpAddr, dir string) (*benchkit.Proc, error) {
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-re", "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "flv",
		"rtmp://"+rtmpAddr+"/live/"+publishKey)
	return benchkit.Start(ctx, cmd, "", filepath.Join(dir, "publisher.log"))
}

// sample is what is read of the server at one time of the run.
type sample struct {
	at                time.Duration // since the publisher started
	rssMiB, heapMiB   float64
	goroutines, files int
	cpu               benchkit.CPUTimes
	cpuShare          float64 // of a core, since the previous sample
	stream            streamJSON
	viewers           int // the server's count
}

func takeSample(ctx context.Context, api *apiClient, pid int, since time.Time) (sample, error) {
	s := sample{at: time.Since(since)}
	rss, err := benchkit.ProcRSS(pid)
	if err != nil {
		return s, err
	}
	s.rssMiB = float64(rss) / 1024
	if s.cpu, err = benchkit.ProcCPU(pid); err != nil {
		return s, err
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.files = len(fds)
	}
	m, err := api.metrics(ctx, "go_goroutines", "go_memstats_heap_inuse_bytes")
	if err != nil {
		return s, err
	}
	s.goroutines, s.heapMiB = int(m["go_goroutines"]), m["go_memstats_heap_inuse_bytes"]/(1<<20)
	var aud struct {
		Now map[string]int `json:"now"`
	}
	if err := api.get(ctx, "/api/v1/streams/"+streamName+"/audience", &aud); err != nil {
		return s, err
	}
	s.viewers = aud.Now["total"]
	s.stream, err = api.stream(ctx)
	return s, err
}

// standbyPhase stops the publisher, measures the CPU of Beffroi and of the processes it
// started while the standby picture is on air for d, and returns the figures' line.
func standbyPhase(ctx context.Context, api *apiClient, pid int, pub *benchkit.Proc, d time.Duration) (string, error) {
	cpu0, err := benchkit.ProcCPU(pid)
	if err != nil {
		return "", err
	}
	kids0, _ := benchkit.ChildrenCPU(pid)
	t0 := time.Now()
	pub.Stop()
	logf("publisher stopped: standby for %s", d)
	if err := waitFor(ctx, 10*time.Second, func() bool {
		st, err := api.stream(ctx)
		return err == nil && st.Standby
	}); err != nil {
		return "", errors.New("the standby picture did not go on air within 10 s of the publisher leaving")
	}
	onAir := time.Since(t0)
	if err := sleep(ctx, d-onAir); err != nil {
		return "", err
	}
	cpu1, err := benchkit.ProcCPU(pid)
	if err != nil {
		return "", err
	}
	kids1, comm := benchkit.ChildrenCPU(pid)
	el := time.Since(t0).Seconds()
	var kids time.Duration
	names := map[string]bool{}
	for child, c := range kids1 {
		kids += c.Sub(kids0[child]).Total() // a child started in between counts whole
		names[comm[child]] = true
	}
	st, _ := api.stream(ctx)
	live := st.liveDestinations()
	return fmt.Sprintf("standby (%.0f s, on air %.1f s after the publisher left, %d destinations still live): Beffroi %.1f%% of a core, its children %v %.1f%%",
		el, onAir.Seconds(), live, 100*cpu1.Sub(cpu0).Total().Seconds()/el, keys(names), 100*kids.Seconds()/el), nil
}

func keys(m map[string]bool) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	return s
}

// waitRecording waits for the stream's recording to be finished and returns it.
func waitRecording(ctx context.Context, api *apiClient) (recordingJSON, error) {
	var rec recordingJSON
	err := waitFor(ctx, 2*time.Minute, func() bool {
		var list struct {
			Recordings []recordingJSON `json:"recordings"`
		}
		if err := api.get(ctx, "/api/v1/recordings?stream="+streamName, &list); err != nil || len(list.Recordings) == 0 {
			return false
		}
		rec = list.Recordings[0]
		return rec.State != "recording"
	})
	if err != nil {
		return rec, fmt.Errorf("the recording did not end within 2 minutes (state %q)", rec.State)
	}
	return rec, nil
}

// probeDuration decodes the whole playlist with ffmpeg and returns the duration it read.
func probeDuration(ctx context.Context, playlist string) (float64, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-headers", "Authorization: Bearer "+adminToken+"\r\n",
		"-show_entries", "format=duration", "-of", "csv=p=0", playlist).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, out)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

// viewerSummary returns viewerload's summary lines (its per-second lines left out).
func viewerSummary(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "  t=") && strings.TrimSpace(line) != "" {
			b.WriteString("viewerload: " + strings.TrimSpace(line) + "\n")
		}
	}
	return b.String()
}

type streamJSON struct {
	Live         bool `json:"live"`
	Standby      bool `json:"standby"`
	Destinations []struct {
		Name       string `json:"name"`
		State      string `json:"state"`
		Frames     uint64 `json:"frames"`
		Skipped    uint64 `json:"frames_skipped"`
		Reconnects uint64 `json:"reconnects"`
	} `json:"destinations"`
	Recording *struct {
		State   string `json:"state"`
		Skipped uint64 `json:"frames_skipped"`
	} `json:"recording"`
}

func (s streamJSON) liveDestinations() int {
	n := 0
	for _, d := range s.Destinations {
		if d.State == "live" {
			n++
		}
	}
	return n
}

type recordingJSON struct {
	ID       string  `json:"id"`
	State    string  `json:"state"`
	Duration float64 `json:"duration"`
	Segments int     `json:"segments"`
	URLs     struct {
		Playlist string `json:"playlist"`
	} `json:"urls"`
}

type apiClient struct{ base string }

// httpClient bounds every API request: a server that stops answering fails the run.
var httpClient = &http.Client{Timeout: 10 * time.Second} //nolint:gochecknoglobals // the tool's one client

func (a *apiClient) do(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return resp, nil
}

func (a *apiClient) get(ctx context.Context, path string, v any) error {
	resp, err := a.do(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func (a *apiClient) stream(ctx context.Context) (streamJSON, error) {
	var s streamJSON
	err := a.get(ctx, "/api/v1/streams/"+streamName, &s)
	return s, err
}

// metrics reads the named gauges of the server's /metrics (Prometheus' text format).
func (a *apiClient) metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	resp, err := a.do(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for _, n := range names {
			if name == n {
				v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
				if err == nil {
					out[n] = v
				}
			}
		}
	}
	return out, sc.Err()
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
