package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// streamName and publishKey name the stream on both servers (nginx has no key: it publishes
// and plays the same name).
const (
	streamName = "bench"
	publishKey = "bench-publish-key-0123"
	nginxRTMP  = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
)

// server is a server under test, fresh for one measurement point.
type server interface {
	// publishURL and playURL are in gortmplib's form: rtmp://host:port/app#name.
	publishURL() *url.URL
	playURL() *url.URL
	// pid is the process to measure; for an in-process server, the tool's own.
	pid() int
	stop()
	// logTail returns the end of the server's log, for error messages.
	logTail() string
}

// pointSetup is what a server needs to know about a point.
type pointSetup struct {
	dir      string // private temporary directory
	push     bool
	readers  int
	sinkAddr string // push destinations' address
}

// freePort returns a loopback port nobody listens on.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func rtmpURL(addr, app, name string) *url.URL {
	return &url.URL{Scheme: "rtmp", Host: addr, Path: "/" + app, Fragment: name}
}

// proc is a server running as a subprocess.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	pubKey string
	exited chan struct{}
	logf   string
}

func (p *proc) publishURL() *url.URL { return rtmpURL(p.addr, "live", p.pubKey) }
func (p *proc) playURL() *url.URL    { return rtmpURL(p.addr, "live", streamName) }
func (p *proc) pid() int             { return p.cmd.Process.Pid }

// stop asks the process to terminate, then kills it after a few seconds.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// logTail returns the end of the process's output, for error messages.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logf)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// startProc starts cmd with its output in logf and waits until addr accepts connections.
func startProc(ctx context.Context, cmd *exec.Cmd, addr, logf string) (*proc, error) {
	f, err := os.Create(logf)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	// The server dies with the tool, even if the tool is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &proc{cmd: cmd, addr: addr, exited: make(chan struct{}), logf: logf}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited at start: %s", filepath.Base(cmd.Path), p.logTail())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s: %s not listening after 15 s: %s", filepath.Base(cmd.Path), addr, p.logTail())
		}
	}
}

// buildBeffroi builds cmd/beffroi of the module at root into dir.
func buildBeffroi(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "beffroi")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/beffroi")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/beffroi: %w\n%s", err, out.String())
	}
	return bin, nil
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the Beffroi module")
	}
	return filepath.Dir(gomod), nil
}

// beffroiConfig returns the YAML configuration of a point.
func beffroiConfig(s pointSetup, httpAddr, rtmpAddr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "http:\n  addr: %q\nrtmp:\n  addr: %q\n  read: true\nrtmps:\n  addr: \"\"\n", httpAddr, rtmpAddr)
	fmt.Fprintf(&b, "data_dir: %q\nlog:\n  level: warn\n", filepath.Join(s.dir, "data"))
	fmt.Fprintf(&b, "streams:\n  - name: %s\n    publish_key: %s\n", streamName, publishKey)
	if s.push {
		b.WriteString("    destinations:\n")
		for i := range s.readers {
			fmt.Fprintf(&b, "      - name: d%d\n        url: rtmp://%s/live/d%d\n", i, s.sinkAddr, i)
		}
	}
	return b.String()
}

// startBeffroiProc runs the Beffroi binary with a generated configuration.
func startBeffroiProc(ctx context.Context, bin string, s pointSetup) (server, error) {
	hp, err := freePort()
	if err != nil {
		return nil, err
	}
	rp, err := freePort()
	if err != nil {
		return nil, err
	}
	httpAddr, rtmpAddr := "127.0.0.1:"+strconv.Itoa(hp), "127.0.0.1:"+strconv.Itoa(rp)
	cfg := filepath.Join(s.dir, "beffroi.yaml")
	if err := os.WriteFile(cfg, []byte(beffroiConfig(s, httpAddr, rtmpAddr)), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Dir = s.dir
	p, err := startProc(ctx, cmd, rtmpAddr, filepath.Join(s.dir, "beffroi.log"))
	if err != nil {
		return nil, err
	}
	p.pubKey = publishKey
	return p, nil
}

// nginxConfig returns the nginx configuration of a point: nginx-rtmp doing the same fan-out,
// with its defaults (chunk_size 4096, no record, no GOP cache).
func nginxConfig(s pointSetup, rtmpAddr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "load_module %s;\ndaemon off;\nmaster_process off;\nworker_processes 1;\n", nginxRTMP)
	fmt.Fprintf(&b, "worker_rlimit_nofile 16384;\npid %s;\nerror_log %s warn;\n",
		filepath.Join(s.dir, "nginx.pid"), filepath.Join(s.dir, "error.log"))
	b.WriteString("events {\n  worker_connections 8192;\n}\n")
	fmt.Fprintf(&b, "rtmp {\n  access_log off;\n  server {\n    listen %s;\n    application live {\n      live on;\n", rtmpAddr)
	if s.push {
		for i := range s.readers {
			fmt.Fprintf(&b, "      push rtmp://%s/live/d%d;\n", s.sinkAddr, i)
		}
	}
	b.WriteString("    }\n  }\n}\n")
	return b.String()
}

// startNginx runs nginx with the RTMP module in the foreground, one process.
func startNginx(ctx context.Context, s pointSetup) (server, error) {
	rp, err := freePort()
	if err != nil {
		return nil, err
	}
	rtmpAddr := "127.0.0.1:" + strconv.Itoa(rp)
	if err := os.MkdirAll(filepath.Join(s.dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(s.dir, "nginx.conf")
	if err := os.WriteFile(cfg, []byte(nginxConfig(s, rtmpAddr)), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("nginx", "-p", s.dir, "-c", cfg, "-e", filepath.Join(s.dir, "error.log"))
	p, err := startProc(ctx, cmd, rtmpAddr, filepath.Join(s.dir, "nginx.log"))
	if err != nil {
		return nil, err
	}
	p.pubKey = streamName
	return p, nil
}
