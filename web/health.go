package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// A HealthCheck is one entry of /healthz ("database", "disk", "listeners"). Check returns a
// short sentence on what it found when all is well (may be empty), or an error saying what is
// wrong. /healthz is public: neither may hold a secret, a full path or a stream key.
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) (string, error)
}

const (
	// healthTimeout bounds each check: one that has not answered by then fails.
	healthTimeout = 3 * time.Second
	// healthMaxAge is how long an answer is served again: /healthz is public, and a
	// stranger polling it in a loop must not turn into a database transaction per request.
	healthMaxAge = time.Second
)

// healthJSON is the body of /healthz.
type healthJSON struct {
	Status  string                     `json:"status"` // "ok" or "fail"
	Version string                     `json:"version"`
	Checks  map[string]healthCheckJSON `json:"checks"`
	// Problems lists what is wrong, one line per failed check ("disk: ..."), for a monitor
	// that only shows the text.
	Problems []string `json:"problems,omitempty"`
}

type healthCheckJSON struct {
	Status string `json:"status"` // "ok" or "fail"
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// healthState keeps the last answer of /healthz for healthMaxAge.
type healthState struct {
	mu   sync.Mutex
	at   time.Time
	last healthJSON
}

// healthz answers 200 when every check passes and 503 naming what is wrong otherwise.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	h := s.health.get(r.Context(), s.o.Health, s.o.Version)
	code := http.StatusOK
	if h.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, h)
}

// get returns the last answer if it is recent, else runs every check (at once, each under
// healthTimeout). Concurrent callers wait for one run.
func (hs *healthState) get(ctx context.Context, checks []HealthCheck, version string) healthJSON {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if !hs.at.IsZero() && time.Since(hs.at) < healthMaxAge {
		return hs.last
	}
	// Not the request's context: the answer is shared with whoever asks next.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healthTimeout)
	defer cancel()
	type result struct {
		detail string
		err    error
	}
	results := make([]chan result, len(checks))
	for i, c := range checks {
		results[i] = make(chan result, 1) // a check that never returns leaks no blocked send
		go func() {
			d, err := c.Check(ctx)
			results[i] <- result{d, err}
		}()
	}
	noAnswer := fmt.Errorf("no answer within %s", healthTimeout)
	out := healthJSON{Status: "ok", Version: version, Checks: make(map[string]healthCheckJSON, len(checks))}
	for i, c := range checks {
		var res result
		select {
		case res = <-results[i]:
		case <-ctx.Done():
			select {
			case res = <-results[i]: // it did answer in time
			default:
				res.err = noAnswer
			}
		}
		if errors.Is(res.err, context.DeadlineExceeded) {
			res.err = noAnswer // say what happened rather than "context deadline exceeded"
		}
		if res.err != nil {
			out.Status = "fail"
			out.Checks[c.Name] = healthCheckJSON{Status: "fail", Detail: res.detail, Error: res.err.Error()}
			out.Problems = append(out.Problems, c.Name+": "+res.err.Error())
			continue
		}
		out.Checks[c.Name] = healthCheckJSON{Status: "ok", Detail: res.detail}
	}
	hs.last, hs.at = out, time.Now()
	return out
}
