package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/web"
)

// What /healthz checks (web.HealthCheck), for the town's monitoring: the database answers and
// takes writes, the disks of the database and of the recordings are writable and have room,
// and every listener and other component is still running.

// health is the App's side of /healthz.
type health struct {
	mu sync.Mutex
	// diskSpace replaces statDisk in tests.
	diskSpace func(path string) (diskInfo, error)
	running   map[string]bool  // components launched by Run and not returned
	stopped   map[string]error // components that returned while they should have served
	ctx       context.Context  // Run's: once cancelled, everything is stopping
}

// diskInfo is what the disk check reads of a filesystem.
type diskInfo struct {
	Free     uint64 // bytes an unprivileged user may still write
	ReadOnly bool
	Device   uint64 // tells two directories on one filesystem apart from two filesystems
}

// errDiskUnknown: this system does not say how much room a filesystem has.
var errDiskUnknown = errors.New("free space unknown on this system")

// listenerNames are the components that own a listener ("ingest rtmp", "http"...).
func isListener(name string) bool {
	return strings.HasPrefix(name, "ingest ") || name == "http" || name == "https" || name == "http redirect"
}

// track records which components of phases are running, for the listeners and components
// checks: a component that returns before its phase is stopped (a listener closed under it,
// with or without an error) is reported until the process ends.
func (h *health) track(ctx context.Context, phases []phase) []phase {
	h.mu.Lock()
	// The context is asked when a check runs (not told through context.AfterFunc, whose
	// goroutine may run after everything has returned).
	h.running, h.stopped, h.ctx = map[string]bool{}, map[string]error{}, ctx
	h.mu.Unlock()
	out := make([]phase, len(phases))
	for i, p := range phases {
		p.run = slices.Clone(p.run)
		for j, c := range p.run {
			h.mu.Lock()
			h.running[c.Name] = true
			h.mu.Unlock()
			p.run[j].Run = func(ctx context.Context) error {
				err := c.Run(ctx)
				h.mu.Lock()
				delete(h.running, c.Name)
				if ctx.Err() == nil {
					h.stopped[c.Name] = err
				}
				h.mu.Unlock()
				return err
			}
		}
		out[i] = p
	}
	return out
}

// checkComponents reports the running components that match want and the ones that stopped.
func (h *health) checkComponents(want func(name string) bool, addr func(name string) string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx != nil && h.ctx.Err() != nil {
		return "", errors.New("shutting down")
	}
	var up, down []string
	for name := range h.running {
		if want(name) {
			if a := addr(name); a != "" {
				name += " " + a
			}
			up = append(up, name)
		}
	}
	for name, err := range h.stopped {
		if want(name) {
			if err != nil {
				name += " stopped: " + err.Error()
			} else {
				name += " stopped"
			}
			down = append(down, name)
		}
	}
	sort.Strings(up)
	sort.Strings(down)
	if len(down) > 0 {
		return strings.Join(up, ", "), errors.New(strings.Join(down, "; "))
	}
	return strings.Join(up, ", "), nil
}

// healthChecks are the checks of /healthz.
func (a *App) healthChecks() []web.HealthCheck {
	return append([]web.HealthCheck{
		{Name: "database", Check: func(ctx context.Context) (string, error) { return "", a.Store.Check(ctx) }},
		{Name: "disk", Check: func(context.Context) (string, error) { return a.checkDisk() }},
		{Name: "listeners", Check: func(context.Context) (string, error) {
			return a.health.checkComponents(isListener, a.componentAddr)
		}},
		{Name: "components", Check: func(context.Context) (string, error) {
			return a.health.checkComponents(func(n string) bool { return !isListener(n) }, func(string) string { return "" })
		}},
	}, a.https.certificateCheck()...)
}

// componentAddr is the address a listener component is bound to ("" for others).
func (a *App) componentAddr(name string) string {
	switch name {
	case "http":
		return a.hln.Addr().String()
	case "https":
		return a.https.addr()
	case "http redirect":
		return a.https.redirectAddr()
	}
	for _, s := range a.ingest {
		if "ingest "+s.protocol == name {
			return s.server.ListenAddr().String()
		}
	}
	return ""
}

// checkDisk looks at the filesystems of the database (data_dir) and of the recordings: each
// must be writable and, past health.min_free_disk, have that much room. It names them
// ("recordings disk"), never their paths.
func (a *App) checkDisk() (string, error) {
	minFree, err := config.ParseSize(a.cfg.Health.MinFreeDisk)
	if err != nil { // Validate refused it already
		return "", fmt.Errorf("health.min_free_disk: %w", err)
	}
	a.health.mu.Lock()
	stat := a.health.diskSpace
	a.health.mu.Unlock()
	if stat == nil {
		stat = statDisk
	}
	type disk struct {
		name string
		diskInfo
	}
	var disks []disk
	for _, d := range []struct{ name, dir string }{
		{"database", a.cfg.DataDir},
		{"recordings", a.cfg.RecordingsDir()},
	} {
		in, err := stat(existingDir(d.dir))
		if errors.Is(err, errDiskUnknown) {
			return err.Error(), nil
		}
		if err != nil {
			return "", fmt.Errorf("%s disk: %w", d.name, pathless(err))
		}
		if i := slices.IndexFunc(disks, func(o disk) bool { return o.Device == in.Device }); i >= 0 {
			disks[i].name += " and " + d.name
			continue
		}
		disks = append(disks, disk{d.name, in})
	}
	var ok, bad []string
	for _, d := range disks {
		switch {
		case d.ReadOnly:
			bad = append(bad, d.name+" disk: read-only")
		case minFree > 0 && d.Free < uint64(minFree):
			bad = append(bad, fmt.Sprintf("%s disk: %s free, below health.min_free_disk (%s)", d.name, bytesText(d.Free), a.cfg.Health.MinFreeDisk))
		default:
			ok = append(ok, fmt.Sprintf("%s disk: %s free", d.name, bytesText(d.Free)))
		}
	}
	if len(bad) > 0 {
		return strings.Join(ok, "; "), errors.New(strings.Join(bad, "; "))
	}
	return strings.Join(ok, "; "), nil
}

// existingDir returns dir, or its nearest parent that exists (the recordings directory is
// made with the first recording).
func existingDir(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}

// pathless drops the path from a file system error: /healthz is public.
func pathless(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// bytesText writes a size for people, in decimal units as disks are sold ("1.2 GB").
func bytesText(n uint64) string {
	switch {
	case n >= 1e12:
		return fmt.Sprintf("%.1f TB", float64(n)/1e12)
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%d kB", n/1e3)
}
