package whep

import (
	"os"
	"testing"
	"time"

	"github.com/beffroi/beffroi/relay"
)

// TestProfileViewers plays to 10 in-process viewers for a while, for go test -cpuprofile.
// It runs only with WHEP_PROFILE=1.
func TestProfileViewers(t *testing.T) {
	if os.Getenv("WHEP_PROFILE") == "" {
		t.Skip("set WHEP_PROFILE=1")
	}
	ts := startServer(t, nil)
	feed(t, ts.st, relay.Opus)
	for range 10 {
		newViewer(t, nil).play(t, ts)
	}
	time.Sleep(10 * time.Second)
}
