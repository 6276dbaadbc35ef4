package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/beffroi/beffroi/app"
	"github.com/beffroi/beffroi/bench/hlscrowd"
	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
)

// startServer runs Beffroi in process with one stream "event", and ffmpeg publishing a
// 640x360 clip to it over RTMP, until the test ends.
func startServer(t *testing.T, window, beaconWindow time.Duration) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs ffmpeg: skipped under -short")
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("BEFFROI_E2E") == "require" {
			t.Fatal("ffmpeg missing; BEFFROI_E2E=require")
		}
		t.Skip("ffmpeg missing")
	}
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4", "-c:v", "libx264", "-preset", "veryfast",
		"-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", clip).CombinedOutput(); err != nil {
		t.Fatalf("making the clip: %v\n%s", err, out)
	}
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTMP.Addr = "127.0.0.1:0"
	cfg.RTMPS.Addr, cfg.SRT.Addr, cfg.RTSP.Addr = "", "", ""
	cfg.WebRTC.UDPPort = 0
	cfg.WebRTC.TCPPort = -1
	cfg.WebRTC.Interfaces = []string{"lo"}
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Log.Level = "warn"
	cfg.Audience.Window, cfg.Audience.BeaconWindow = window, beaconWindow
	cfg.Streams = []config.Stream{{Name: "event", PublishKey: "load-test-key"}}
	cfg.Admin.Token = loadToken
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Start(t, a.Run)
	ctx, cancel := context.WithCancel(context.Background())
	ff := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", clip,
		"-c", "copy", "-f", "flv", "rtmp://"+a.RTMPAddr()+"/live/load-test-key")
	if err := ff.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = ff.Wait() })
	base := "http://" + a.HTTPAddr()
	// The HLS is ready once the multivariant playlist is served (a request that counts
	// nobody: a token counts once its player reloads its media playlist or beacons).
	testutil.Eventually(t, 20*time.Second, func() error {
		resp, err := http.Get(base + "/hls/event/index.m3u8")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("multivariant playlist: %s", resp.Status)
		}
		return nil
	})
	return base
}

// loadToken is the operator API token the test server is started with.
const loadToken = "viewerload-test-token-0123"

// within reports whether got is within 1% of want.
func within(got, want int) bool {
	return math.Abs(float64(got-want)) <= 0.01*float64(want)
}

// TestCountedConcurrency: 500 simulated viewers join in waves (players reloading their media
// playlist every second, players whose playlists a CDN serves and who only post beacons; half
// the players post beacons too; full LL-HLS players are left to the benchmarks: 500 of them
// saturate this 2-core machine, and the count is the same whatever the request rate); the server's count stays within 1% of the truth; a wave
// of leavers drops out once the windows are over; viewers reloading their page with their
// token stay one viewer each; beacons and HLS requests of one viewer are one viewer.
func TestCountedConcurrency(t *testing.T) {
	// Windows several times the reload and beacon periods: a crowd of 500 simulated players
	// on a busy 2-core machine (or under the race detector) is late by seconds at times.
	const window, beaconWindow = 8 * time.Second, 10 * time.Second
	base := startServer(t, window, beaconWindow)
	ctx := t.Context()
	// Each viewer comes from its own loopback address, as on the internet: the server limits
	// the tokens one address gets (outputs/hls TestFlood is the other case).
	l := &hlscrowd.Load{Base: base, Stream: "event", Token: loadToken, BeaconEvery: 2 * time.Second,
		Mix: []hlscrowd.Kind{hlscrowd.KindPoll, hlscrowd.KindPoll, hlscrowd.KindPoll, hlscrowd.KindCDN}, OwnAddresses: true}
	c := hlscrowd.NewCrowd(l)
	defer c.Close()
	for w := range 5 {
		if err := c.Join(ctx, 100); err != nil {
			t.Fatalf("wave %d: %v", w+1, err)
		}
		time.Sleep(500 * time.Millisecond) // waves half a second apart, as a crowd arrives
	}
	check := func(what string, truth int) {
		t.Helper()
		var dev []int
		for range 8 {
			now, _, err := l.Counted(ctx)
			if err != nil {
				t.Fatal(err)
			}
			dev = append(dev, now["total"])
			if !within(now["total"], truth) {
				t.Errorf("%s: the server counts %d viewers (%v), the truth is %d: more than 1%% apart", what, now["total"], now, truth)
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Logf("%s: truth %d, counted %v", what, truth, dev)
	}
	// Steady state: every viewer has been watching for a whole window.
	time.Sleep(window)
	check("steady state, 500 viewers", 500)

	// A wave leaves: the count falls to the truth once the windows are over, not before.
	c.Leave(100)
	testutil.Eventually(t, beaconWindow+5*time.Second, func() error {
		now, _, err := l.Counted(ctx)
		if err != nil {
			return err
		}
		if !within(now["total"], 400) {
			return fmt.Errorf("counted %d after 100 of 500 left, want 400", now["total"])
		}
		return nil
	})
	check("after 100 left", 400)

	// 50 viewers reload their page, keeping their token: still 400 viewers, and no new
	// distinct one.
	c.Reload(50)
	time.Sleep(window)
	check("after 50 reloads", 400)
	_, distinct, err := l.Counted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if distinct != c.Distinct() {
		t.Errorf("distinct viewers counted %d, want %d (the crowd's tokens)", distinct, c.Distinct())
	}
	for _, k := range []string{"playlist", "blocking", "part", "beacon"} {
		p50, p99, n := c.Stats.Percentiles(k)
		t.Logf("%s requests: %d, p50 %s, p99 %s", k, n, p50, p99)
	}
	// Parts gone from the live window (404) or dropped mean a simulated LL player fell
	// behind: the tool's own lateness on a busy machine, not a counting matter.
	for what, n := range c.Stats.Errors() {
		if what != "part 404" && what != "part dropped (player behind)" {
			t.Errorf("%d request errors: %s", n, what)
		} else {
			t.Logf("%d parts asked for after they left the live window (simulated players behind)", n)
		}
	}
}
