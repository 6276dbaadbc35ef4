package benchkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// FreeAddr returns a loopback address ("127.0.0.1:port") on which nothing listens now, for
// network "tcp" or "udp".
func FreeAddr(network string) (string, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer func() { _ = c.Close() }()
		return c.LocalAddr().String(), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Proc is a server the tool runs as a subprocess, its output in a log file.
type Proc struct {
	Cmd    *exec.Cmd
	Addr   string // the TCP address it was waited on
	exited chan struct{}
	logf   string
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Exited is closed once the process has ended.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Stop asks the process to terminate, then kills it after a few seconds.
func (p *Proc) Stop() {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.exited
	}
}

// LogTail returns the end of the process's output, for error messages.
func (p *Proc) LogTail() string {
	b, _ := os.ReadFile(p.logf)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// Start starts cmd with its output in logf and waits until addr accepts TCP connections
// (addr "" waits for nothing). The process dies with the tool, even if the tool is killed.
func Start(ctx context.Context, cmd *exec.Cmd, addr, logf string) (*Proc, error) {
	f, err := os.Create(logf)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &Proc{Cmd: cmd, Addr: addr, exited: make(chan struct{}), logf: logf}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	if addr == "" {
		return p, nil
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited at start: %s", filepath.Base(cmd.Path), p.LogTail())
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s: %s not listening after 15 s: %s", filepath.Base(cmd.Path), addr, p.LogTail())
		}
	}
}

// ModuleRoot returns the directory of the main module's go.mod: the tools run from inside
// the Beffroi module.
func ModuleRoot() (string, error) {
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

// BuildBeffroi builds cmd/beffroi of the module the tool runs in into dir and returns the
// binary's path.
func BuildBeffroi(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
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
