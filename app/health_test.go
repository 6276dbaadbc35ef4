package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

type healthBody struct {
	Status string
	Checks map[string]struct {
		Status, Detail, Error string
	}
	Problems []string
}

// getHealth asks /healthz until ok says the answer is the one awaited, for up to 15 s
// (answers are reused for a second).
func getHealth(t *testing.T, base string, ok func(code int, h healthBody, raw string) bool) (int, healthBody, string) {
	t.Helper()
	var (
		code int
		h    healthBody
		raw  string
	)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		code, raw, h = resp.StatusCode, string(b), healthBody{}
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatalf("/healthz: %v: %s", err, b)
		}
		if ok(code, h, raw) {
			return code, h, raw
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never gave the awaited answer; last: %d %s", code, raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *health) setDiskSpace(f func(string) (diskInfo, error)) {
	h.mu.Lock()
	h.diskSpace = f
	h.mu.Unlock()
}

// TestHealthz: /healthz is 200 with every check ok on a healthy App, and 503 naming what is
// wrong for each failure: a disk short of room or read-only, a listener that stopped, a
// database that no longer answers. It never shows a path.
func TestHealthz(t *testing.T) {
	cfg := loopbackConfig(t)
	a, err := New(cfg, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return")
		}
	}()
	base := "http://" + a.HTTPAddr()
	noPath := func(raw string) {
		t.Helper()
		if strings.Contains(raw, cfg.DataDir) {
			t.Errorf("/healthz shows the data directory: %s", raw)
		}
	}

	_, h, raw := getHealth(t, base, func(code int, h healthBody, _ string) bool { return code == http.StatusOK })
	for _, name := range []string{"database", "disk", "listeners", "components"} {
		if h.Checks[name].Status != "ok" {
			t.Errorf("check %q: %+v", name, h.Checks[name])
		}
	}
	if l := h.Checks["listeners"].Detail; !strings.Contains(l, "ingest rtmp "+a.RTMPAddr()) || !strings.Contains(l, "http "+a.HTTPAddr()) {
		t.Errorf("listeners: %q", l)
	}
	// Both directories are on one filesystem here: one disk, named for both.
	if d := h.Checks["disk"].Detail; !strings.Contains(d, "database and recordings disk: ") || !strings.Contains(d, " free") {
		t.Errorf("disk: %q", d)
	}
	noPath(raw)

	// The disk short of room, then read-only.
	a.health.setDiskSpace(func(string) (diskInfo, error) { return diskInfo{Free: 1_200_000_000}, nil })
	_, h, raw = getHealth(t, base, func(code int, _ healthBody, _ string) bool { return code == http.StatusServiceUnavailable })
	want := "database and recordings disk: 1.2 GB free, below health.min_free_disk (2GB)"
	if h.Status != "fail" || h.Checks["disk"].Error != want || len(h.Problems) != 1 || h.Problems[0] != "disk: "+want {
		t.Errorf("disk short of room: %s", raw)
	}
	if h.Checks["database"].Status != "ok" || h.Checks["listeners"].Status != "ok" {
		t.Errorf("other checks failed with the disk: %s", raw)
	}
	a.health.setDiskSpace(func(string) (diskInfo, error) { return diskInfo{Free: 1e12, ReadOnly: true}, nil })
	getHealth(t, base, func(_ int, h healthBody, _ string) bool {
		return h.Checks["disk"].Error == "database and recordings disk: read-only"
	})
	a.health.setDiskSpace(nil)
	getHealth(t, base, func(code int, _ healthBody, _ string) bool { return code == http.StatusOK })

	// The database closed.
	if err := a.Store.Close(); err != nil {
		t.Fatal(err)
	}
	_, h, raw = getHealth(t, base, func(_ int, h healthBody, _ string) bool { return h.Checks["database"].Status == "fail" })
	if !strings.Contains(h.Checks["database"].Error, "database does not answer") {
		t.Errorf("database closed: %s", raw)
	}
	noPath(raw)

	// A listener closed under its server: the RTMP server returns, which stops the App (a
	// failure stops everything, for systemd to restart); what /healthz says meanwhile names it.
	for _, s := range a.ingest {
		if s.protocol == "rtmp" {
			s.server.Close()
		}
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "ingest rtmp") {
			t.Errorf("Run: %v", err)
		}
		done <- err
	case <-time.After(30 * time.Second):
		t.Fatal("closing the RTMP listener did not stop the App")
	}
	listeners := a.healthChecks()[2]
	if _, err := listeners.Check(ctx); err == nil || !strings.HasPrefix(err.Error(), "ingest rtmp stopped: rtmp: accept: ") {
		t.Errorf("listeners after RTMP stopped: %v", err)
	}
}

// A component that returns without an error before it is stopped (a listener whose server
// gives up quietly) is reported too, and every check fails once shutdown has begun.
func TestHealthTracksComponents(t *testing.T) {
	var h health
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quit := make(chan struct{})
	serve := func(ctx context.Context) error { <-ctx.Done(); return nil }
	phases := h.track(ctx, []phase{
		{name: "ingest", run: []Component{
			{"ingest srt", func(context.Context) error { <-quit; return nil }},
			{"ingest rtmp", serve},
		}},
		{name: "destinations", run: []Component{{"destinations", serve}}},
	})
	done := make(chan error, 1)
	go func() { done <- runPhases(ctx, slog.New(slog.DiscardHandler), phases) }()
	addr := func(string) string { return "" }
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := h.checkComponents(isListener, addr)
		if err == nil && d == "ingest rtmp, ingest srt" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listeners never all running: %q, %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(quit)
	for {
		d, err := h.checkComponents(isListener, addr)
		if err != nil {
			if err.Error() != "ingest srt stopped" || d != "ingest rtmp" {
				t.Errorf("after SRT returned: %q, %v", d, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stopped listener was never reported")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d, err := h.checkComponents(func(n string) bool { return !isListener(n) }, addr); err != nil || d != "destinations" {
		t.Errorf("components: %q, %v", d, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := h.checkComponents(isListener, addr); err == nil || err.Error() != "shutting down" {
		t.Errorf("after shutdown: %v", err)
	}
}
