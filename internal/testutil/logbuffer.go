package testutil

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// LogBuffer collects what many goroutines write, typically log lines: it is an io.Writer
// safe for concurrent use, read back with String. The zero value is ready to use.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logger returns a logger writing text lines, debug level included, to l.
func (l *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// WaitFor waits, as WaitFor does, until a line contains substr.
func (l *LogBuffer) WaitFor(t testing.TB, substr string) {
	t.Helper()
	WaitFor(t, "log line "+substr, func() bool { return strings.Contains(l.String(), substr) })
}

// Count returns how many lines contain every one of parts.
func (l *LogBuffer) Count(parts ...string) int {
	n := 0
	for line := range strings.Lines(l.String()) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			n++
		}
	}
	return n
}

// AssertNoSecret fails the test (without stopping it) for each of secrets that text, which
// what names, contains, showing where.
func AssertNoSecret(t testing.TB, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if i := strings.Index(text, s); i >= 0 {
			lo, hi := max(i-120, 0), min(i+len(s)+40, len(text))
			t.Errorf("%s contains the secret %q: ...%s...", what, s, text[lo:hi])
		}
	}
}
