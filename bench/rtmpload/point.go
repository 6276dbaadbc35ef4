package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/beffroi/beffroi/bench/internal/benchkit"
)

// measurePoint runs a point, again when other processes disturbed it, and keeps the least
// disturbed measurement.
func measurePoint(ctx context.Context, o *options, srv, mode string, n int) *result {
	var best *result
	for attempt := 1; attempt <= 1+o.retries && ctx.Err() == nil; attempt++ {
		waitQuiet(ctx, o)
		o.logf("%s %s n=%d (attempt %d)", srv, mode, n, attempt)
		r := runPoint(ctx, o, srv, mode, n)
		r.attempts = attempt
		switch {
		case best == nil, best.err != nil && r.err == nil,
			best.err == nil && r.err == nil && r.other < best.other:
			best = r
		}
		if r.err == nil && r.other <= o.maxOther {
			break
		}
		if r.err == nil {
			o.logf("  other processes used %.2f CPUs during the window (most: %s)", r.other, r.otherName)
		}
	}
	best.attempts = max(best.attempts, 1)
	return best
}

// waitQuiet waits, up to -quiet-wait, until the machine runs less than -max-other CPUs of
// work: other engineers' tests on a shared machine would skew the figures.
func waitQuiet(ctx context.Context, o *options) {
	deadline := time.Now().Add(o.quietWait)
	for ctx.Err() == nil {
		t0 := readProcTable()
		if err := sleepCtx(ctx, time.Second); err != nil {
			return
		}
		cpu, name := otherCPU(t0, readProcTable(), time.Second)
		load := cpu.Seconds()
		if load <= o.maxOther {
			return
		}
		if time.Now().After(deadline) {
			o.logf("machine still busy (%.2f CPUs, most: %s), measuring anyway", load, name)
			return
		}
		o.logf("machine busy (%.2f CPUs, most: %s), waiting", load, name)
		_ = sleepCtx(ctx, 2*time.Second)
	}
}

// cleanups runs registered functions once, last first.
type cleanups struct{ fns []func() }

func (c *cleanups) add(f func()) func() {
	f = sync.OnceFunc(f)
	c.fns = append(c.fns, f)
	return f
}

func (c *cleanups) run() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runPoint measures one server with n readers in one mode, from a fresh start.
func runPoint(ctx context.Context, o *options, kind, mode string, n int) *result {
	res := &result{server: kind, mode: mode, readers: n, window: o.duration, inProcess: kind == "beffroi" && o.inProcess}
	var c cleanups
	defer c.run()
	fail := func(err error) *result {
		res.err = err
		return res
	}

	dir, err := os.MkdirTemp("", "rtmpload-")
	if err != nil {
		return fail(err)
	}
	c.add(func() {
		keepLogs(o.logDir, dir, fmt.Sprintf("%s-%s-%d-", kind, mode, n))
		_ = os.RemoveAll(dir)
	})
	win := newWindow()
	capacity := int(o.duration.Seconds()*fps*1.25) + 64
	set := &readerSet{}
	setup := pointSetup{dir: dir, push: mode == "push", readers: n}
	var sk *sink
	if setup.push {
		if sk, err = startSink(win, capacity, set); err != nil {
			return fail(err)
		}
		setup.sinkAddr = sk.addr()
	}
	closeReaders := c.add(func() {
		if sk != nil {
			sk.close()
		} else {
			set.close()
		}
	})

	var srv server
	switch {
	case kind == "nginx":
		srv, err = startNginx(ctx, setup)
	case o.inProcess:
		srv, err = startBeffroiInProcess(setup)
	default:
		srv, err = startBeffroiProc(ctx, o.beffroiBin, setup)
	}
	if err != nil {
		return fail(err)
	}
	c.add(srv.stop)
	fail = func(err error) *result {
		if t := srv.logTail(); t != "" {
			err = fmt.Errorf("%w\n%s log:\n%s", err, kind, t)
		}
		res.err = err
		return res
	}
	pid := srv.pid()

	pub, err := startPublisher(ctx, srv.publishURL(), o.bitrate, win)
	if err != nil {
		return fail(err)
	}
	closePublisher := c.add(pub.close)
	// The stream goes live, the server settles; then its memory with the publisher only.
	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		return fail(err)
	}
	res.rssBase = medianRSS(pid, 5, 200*time.Millisecond)

	o.logf("  attaching %d readers", n)
	if setup.push {
		sk.open()
	} else {
		actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := attachPlayers(actx, set, srv.playURL(), n, win, capacity)
		cancel()
		if err != nil {
			return fail(err)
		}
	}
	res.attached = waitReceiving(ctx, set, n, 30*time.Second)
	if res.attached == 0 {
		return fail(fmt.Errorf("no reader received media"))
	}
	if res.attached < n {
		res.note = fmt.Sprintf("only %d of %d readers received media", res.attached, n)
	}
	if err := sleepCtx(ctx, o.warmup); err != nil {
		return fail(err)
	}
	if err := pub.failed(); err != nil {
		return fail(err)
	}

	// The window is set before any frame stamped inside it exists, so the publisher and
	// every reader judge each frame alike.
	t0 := time.Now().Add(100 * time.Millisecond)
	t1 := t0.Add(o.duration)
	win.start.Store(t0.UnixNano())
	win.end.Store(t1.UnixNano())
	time.Sleep(time.Until(t0))
	s0, err := takeSnapshot(pid, set)
	if err != nil {
		return fail(err)
	}
	stopProfile, err := startProfile(ctx, o, kind, mode, n, pid, res)
	if err != nil {
		return fail(err)
	}
	var rss []int64
	for time.Now().Before(t1) {
		if err := sleepCtx(ctx, min(time.Second, time.Until(t1))); err != nil {
			stopProfile()
			return fail(err)
		}
		if v, err := benchkit.ProcRSS(pid); err == nil {
			rss = append(rss, v)
		}
	}
	s1, err := takeSnapshot(pid, set)
	stopProfile()
	if err != nil {
		return fail(err)
	}
	res.measure(s0, s1)
	res.rssLoaded = median(rss)

	// Frames stamped before t1 may still be on their way.
	_ = sleepCtx(ctx, 1500*time.Millisecond)
	perr := pub.failed()
	closePublisher()
	closeReaders()
	if perr != nil {
		return fail(perr)
	}
	res.expected = pub.inWindow
	res.summarise(set.snapshot())
	return res
}

// snapshot is what is measured at both ends of the window.
type snapshot struct {
	at           time.Time
	server, tool benchkit.CPUTimes
	machine      benchkit.MachineTimes
	procs        procTable
	bytes        uint64
}

func takeSnapshot(pid int, set *readerSet) (snapshot, error) {
	s := snapshot{at: time.Now(), bytes: set.bytes()}
	var err error
	if s.server, err = benchkit.ProcCPU(pid); err != nil {
		return s, err
	}
	if s.tool, err = benchkit.ProcCPU(os.Getpid()); err != nil {
		return s, err
	}
	s.procs = readProcTable()
	s.machine, err = benchkit.MachineCPU()
	return s, err
}

// measure sets the window's figures from its two ends.
func (r *result) measure(s0, s1 snapshot) {
	r.window = s1.at.Sub(s0.at)
	server, tool := s1.server.Sub(s0.server), s1.tool.Sub(s0.tool)
	r.cpu, r.toolCPU = server.Total(), tool.Total()
	r.bytes = s1.bytes - s0.bytes
	dm := s1.machine.Total - s0.machine.Total
	if dm <= 0 {
		return
	}
	r.busy = float64(s1.machine.Busy-s0.machine.Busy) / float64(dm)
	other, name := otherCPU(s0.procs, s1.procs, r.window)
	r.other, r.otherName = float64(other)/float64(r.window), name
}

// startProfile starts profiling Beffroi for the window when -cpuprofile is set, and returns
// the function that stops it.
func startProfile(ctx context.Context, o *options, kind, mode string, n, pid int, res *result) (func(), error) {
	if o.profile == "" || kind != "beffroi" {
		return func() {}, nil
	}
	base := fmt.Sprintf("%s-%s-%d", o.profile, mode, n)
	if o.inProcess {
		f, err := os.Create(base + ".pprof")
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		res.profile = f.Name()
		return sync.OnceFunc(func() {
			pprof.StopCPUProfile()
			f.Close()
		}), nil
	}
	out := base + ".perf.data"
	cmd := exec.CommandContext(ctx, "perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", out, "--quiet")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(base + ".perf.log")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("perf: %w", err)
	}
	res.profile = out
	return sync.OnceFunc(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	}), nil
}

// keepLogs copies the logs and configurations of a point's directory into logDir.
func keepLogs(logDir, dir, prefix string) {
	if logDir == "" {
		return
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return
	}
	for _, pat := range []string{"*.log", "*.conf", "*.yaml"} {
		files, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				_ = os.WriteFile(filepath.Join(logDir, prefix+filepath.Base(f)), b, 0o644)
			}
		}
	}
}
