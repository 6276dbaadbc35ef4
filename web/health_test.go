package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/beffroi/beffroi/web"
)

type healthCheckJSON struct{ Status, Detail, Error string }

type healthJSON struct {
	Status, Version string
	Checks          map[string]healthCheckJSON
	Problems        []string
}

// /healthz runs every check: 200 when all pass, 503 naming each failure, one that never
// answers fails after 3 s instead of holding the monitor.
func TestHealthzReportsEachCheck(t *testing.T) {
	serve := func(checks ...web.HealthCheck) healthJSON {
		t.Helper()
		srv := httptest.NewServer(web.New(web.Options{Version: "v-test", Health: checks}).Handler())
		defer srv.Close()
		r := get(t, srv, "/healthz")
		var h healthJSON
		decode(t, r, &h)
		if want := map[bool]int{true: http.StatusOK, false: http.StatusServiceUnavailable}[h.Status == "ok"]; r.code != want {
			t.Errorf("status %q answered %d", h.Status, r.code)
		}
		return h
	}
	ok := web.HealthCheck{"disk", func(context.Context) (string, error) { return "recordings disk: 41.2 GB free", nil }}
	h := serve(ok, web.HealthCheck{"database", func(context.Context) (string, error) { return "", nil }})
	if h.Status != "ok" || h.Version != "v-test" || h.Checks["disk"].Detail != "recordings disk: 41.2 GB free" ||
		h.Checks["database"].Status != "ok" || len(h.Problems) != 0 {
		t.Errorf("healthy: %+v", h)
	}

	h = serve(ok,
		web.HealthCheck{"database", func(context.Context) (string, error) { return "", errors.New("database is read-only") }},
		web.HealthCheck{"listeners", func(ctx context.Context) (string, error) { <-ctx.Done(); return "", ctx.Err() }},
	)
	if h.Status != "fail" || h.Checks["disk"].Status != "ok" ||
		h.Checks["database"] != (healthCheckJSON{Status: "fail", Error: "database is read-only"}) ||
		h.Checks["listeners"].Error != "no answer within 3s" {
		t.Errorf("failing: %+v", h)
	}
	if len(h.Problems) != 2 || h.Problems[0] != "database: database is read-only" || h.Problems[1] != "listeners: no answer within 3s" {
		t.Errorf("problems: %q", h.Problems)
	}
}
