package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/beffroi/beffroi/bench/internal/benchkit"
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

func rtmpURL(addr, app, name string) *url.URL {
	return &url.URL{Scheme: "rtmp", Host: addr, Path: "/" + app, Fragment: name}
}

// proc is a server running as a subprocess.
type proc struct {
	*benchkit.Proc
	pubKey string
}

func (p *proc) publishURL() *url.URL { return rtmpURL(p.Addr, "live", p.pubKey) }
func (p *proc) playURL() *url.URL    { return rtmpURL(p.Addr, "live", streamName) }
func (p *proc) pid() int             { return p.Pid() }
func (p *proc) stop()                { p.Stop() }
func (p *proc) logTail() string      { return p.LogTail() }

// beffroiConfig returns the YAML configuration of a point.
func beffroiConfig(s pointSetup, httpAddr, rtmpAddr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "http:\n  addr: %q\nrtmp:\n  addr: %q\n  read: true\nrtmps:\n  addr: \"\"\n", httpAddr, rtmpAddr)
	fmt.Fprintf(&b, "data_dir: %q\nlog:\n  level: warn\n", filepath.Join(s.dir, "data"))
	// The platforms are on loopback, which destinations may reach only by this opt-in.
	b.WriteString("outputs:\n  allow_private_networks: true\n")
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
	httpAddr, err := benchkit.FreeAddr("tcp")
	if err != nil {
		return nil, err
	}
	rtmpAddr, err := benchkit.FreeAddr("tcp")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(s.dir, "beffroi.yaml")
	if err := os.WriteFile(cfg, []byte(beffroiConfig(s, httpAddr, rtmpAddr)), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Dir = s.dir
	p, err := benchkit.Start(ctx, cmd, rtmpAddr, filepath.Join(s.dir, "beffroi.log"))
	if err != nil {
		return nil, err
	}
	return &proc{Proc: p, pubKey: publishKey}, nil
}

// nginxApps returns the applications of a point's nginx: nginx-rtmp doing the same fan-out,
// with its defaults (chunk_size 4096, no record, no GOP cache).
func nginxApps(s pointSetup) string {
	var b strings.Builder
	b.WriteString("application live {\n      live on;\n")
	if s.push {
		for i := range s.readers {
			fmt.Fprintf(&b, "      push rtmp://%s/live/d%d;\n", s.sinkAddr, i)
		}
	}
	b.WriteString("    }")
	return b.String()
}

// startNginx runs nginx with the RTMP module in the foreground, one process.
func startNginx(ctx context.Context, s pointSetup) (server, error) {
	p, err := benchkit.StartNginxRTMP(ctx, s.dir, nginxApps(s))
	if err != nil {
		return nil, err
	}
	return &proc{Proc: p, pubKey: streamName}, nil
}
