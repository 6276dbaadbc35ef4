// Package edges holds the shipped configurations of caching edges in front of a Beffroi origin
// (nginx-edge.conf for nginx proxy_cache, varnish-edge.vcl for Varnish), and runs them on
// loopback, each as its own process with its own port and directory, for the tests and
// benchmarks (test/e2e, bench/edgeload). The configurations a town installs are the files
// themselves; Start only fills in the origin, the port and the paths.
package edges

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
)

// The shipped configurations.
var (
	//go:embed nginx-edge.conf
	NginxConf string
	//go:embed varnish-edge.vcl
	VarnishVCL string
)

// Kinds of edge.
const (
	Nginx   = "nginx"
	Varnish = "varnish"
)

// Edge is one running edge.
type Edge struct {
	// Kind is Nginx or Varnish; URL its origin ("http://127.0.0.1:port"); Dir its files
	// (configuration, cache, logs, Varnish's working directory).
	Kind, URL, Dir string

	cmd  *exec.Cmd
	out  *testutil.LogBuffer
	done chan struct{}
	err  error
}

// replace replaces old by repl in conf, and fails when old is not there: the shipped file and
// this package must agree on what a town edits.
func replace(conf, old, repl string) (string, error) {
	if !strings.Contains(conf, old) {
		return "", fmt.Errorf("the shipped configuration no longer contains %q", old)
	}
	return strings.ReplaceAll(conf, old, repl), nil
}

// NginxConfig returns a whole nginx configuration running the shipped edge in the foreground:
// origin ("127.0.0.1:8080") as its upstream, listening on 127.0.0.1:port, its cache and logs
// in dir.
func NginxConfig(origin string, port int, dir string) (string, error) {
	conf := NginxConf
	var err error
	for _, r := range [][2]string{
		{"server 127.0.0.1:8080;", "server " + origin + ";"},
		{"listen 80;", "listen 127.0.0.1:" + strconv.Itoa(port) + ";"},
		{"/var/cache/nginx/beffroi", filepath.Join(dir, "cache")},
		{"/var/log/nginx/beffroi-edge.log", filepath.Join(dir, "access.log")},
	} {
		if conf, err = replace(conf, r[0], r[1]); err != nil {
			return "", err
		}
	}
	edge := filepath.Join(dir, "beffroi-edge.conf")
	if err := os.WriteFile(edge, []byte(conf), 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf(`daemon off; master_process off; worker_processes 1; worker_rlimit_nofile 16384;
pid %[1]s/nginx.pid; error_log %[1]s/error.log info;
events { worker_connections 8192; }
http { access_log off; include %[2]s; }
`, dir, edge), nil
}

// VarnishConfig returns the shipped VCL with origin ("127.0.0.1:8080") as its backend.
func VarnishConfig(origin string) (string, error) {
	host, port, err := net.SplitHostPort(origin)
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", origin, err)
	}
	vcl, err := replace(VarnishVCL, `.host = "127.0.0.1";`, `.host = "`+host+`";`)
	if err != nil {
		return "", err
	}
	return replace(vcl, `.port = "8080";`, `.port = "`+port+`";`)
}

// Start runs an edge of kind in front of origin (host:port) in dir, on a free loopback port,
// and returns once it answers. The edge runs until ctx is cancelled or Stop.
func Start(ctx context.Context, kind, origin, dir string) (*Edge, error) {
	var last error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		e, err := start(ctx, kind, origin, dir, port)
		if err == nil {
			return e, nil
		}
		last = err // most likely another process took the port: try another
	}
	return nil, last
}

func start(ctx context.Context, kind, origin, dir string, port int) (*Edge, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	e := &Edge{Kind: kind, URL: "http://127.0.0.1:" + strconv.Itoa(port), Dir: dir, out: &testutil.LogBuffer{}, done: make(chan struct{})}
	switch kind {
	case Nginx:
		conf, err := NginxConfig(origin, port, dir)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		_ = os.Remove(filepath.Join(dir, "error.log"))
		e.cmd = exec.CommandContext(ctx, "nginx", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	case Varnish:
		vcl, err := VarnishConfig(origin)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "edge.vcl")
		if err := os.WriteFile(path, []byte(vcl), 0o644); err != nil {
			return nil, err
		}
		// -j none: no privilege separation (the test's directories belong to whoever runs
		// it); -F: in the foreground, stopped with the process.
		e.cmd = exec.CommandContext(ctx, "varnishd", "-F", "-j", "none", "-n", filepath.Join(dir, "work"),
			"-a", "127.0.0.1:"+strconv.Itoa(port), "-f", path, "-s", "malloc,256m")
	default:
		return nil, fmt.Errorf("edge kind %q: want %q or %q", kind, Nginx, Varnish)
	}
	e.cmd.Stdout, e.cmd.Stderr = e.out, e.out
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	go func() {
		e.err = e.cmd.Wait()
		close(e.done)
	}()
	if err := e.waitReady(20 * time.Second); err != nil {
		e.Stop()
		return nil, fmt.Errorf("%s on port %d did not start: %w\n%s", kind, port, err, e.Output())
	}
	return e, nil
}

// waitReady waits until the edge itself answers HTTP on its port: its own 404 or the
// origin's answer through it (before it binds, another process may hold the port).
func (e *Edge) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-e.done:
			return fmt.Errorf("exited: %w", e.err)
		default:
		}
		resp, err := client.Get(e.URL + "/api/v1/public/streams/-edge-check-")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("X-Cache-Status") != "" || resp.Header.Get("X-Cache") != "" {
				return nil
			}
			err = errors.New("answered without a cache status: not this edge")
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Output is what the edge process wrote (and, for nginx, its error log).
func (e *Edge) Output() string {
	s := e.out.String()
	if e.Kind == Nginx {
		b, _ := os.ReadFile(filepath.Join(e.Dir, "error.log"))
		s += string(b)
	}
	return s
}

// Stop ends the edge and waits for it.
func (e *Edge) Stop() {
	select {
	case <-e.done:
		return
	default:
	}
	_ = e.cmd.Process.Kill()
	<-e.done
}

// Origin is what an edge sent to the origin so far.
type Origin struct {
	// Fetches are the requests for what the edge caches (playlists, parts, segments, the
	// public status): the misses and refreshes, what collapsing keeps flat.
	Fetches int64
	// Passes are the requests passed through (beacons, multivariant playlists, pages):
	// one per viewer's request, by design.
	Passes int64
}

// OriginRequests returns what the edge has sent to the origin so far: from nginx's access log
// (the shipped log format: lines with an upstream address, cached locations with a cache
// status), from Varnish's counters (MAIN.backend_req, MAIN.s_pass).
func (e *Edge) OriginRequests(ctx context.Context) (Origin, error) {
	var o Origin
	switch e.Kind {
	case Nginx:
		f, err := os.Open(filepath.Join(e.Dir, "access.log"))
		if err != nil {
			return o, err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			_, up, ok := strings.Cut(line, " upstream=")
			if !ok || strings.HasPrefix(up, "-") {
				continue
			}
			if strings.Contains(line, " cache=- ") {
				o.Passes++
			} else {
				o.Fetches++
			}
		}
		return o, sc.Err()
	default:
		out, err := exec.CommandContext(ctx, "varnishstat", "-n", filepath.Join(e.Dir, "work"), "-1",
			"-f", "MAIN.backend_req", "-f", "MAIN.s_pass").Output()
		if err != nil {
			return o, fmt.Errorf("varnishstat: %w", err)
		}
		var req int64 = -1
		o.Passes = -1
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				continue
			}
			switch f[0] {
			case "MAIN.backend_req":
				req = n
			case "MAIN.s_pass":
				o.Passes = n
			}
		}
		if req < 0 || o.Passes < 0 {
			return Origin{}, fmt.Errorf("varnishstat: unexpected output %q", out)
		}
		o.Fetches = req - o.Passes
		return o, nil
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Available reports which of the edge programs are missing from PATH (none: both run here).
func Available() []string {
	var missing []string
	for _, bin := range []string{"nginx", "varnishd", "varnishstat"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	return missing
}
