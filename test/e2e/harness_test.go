package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/app"
	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
)

// publishKey is the publish key of the stream "event" that startBeffroi declares.
const publishKey = "test-publish-key"

// rtmpModule is the nginx-rtmp module the nginx peers load.
const rtmpModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// shared is a directory for what every test of the package reuses (the clips).
var shared string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "beffroi-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	shared = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requirePeers skips the test when a real peer is missing (or under -short); with
// BEFFROI_E2E=require a missing peer fails the test instead.
func requirePeers(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with real peers: skipped under -short")
	}
	var missing []string
	for _, bin := range []string{"ffmpeg", "ffprobe", "nginx"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if _, err := os.Stat(rtmpModule); err != nil {
		missing = append(missing, rtmpModule+" (libnginx-mod-rtmp)")
	}
	if len(missing) == 0 {
		return
	}
	msg := "end-to-end peers missing: " + strings.Join(missing, ", ") +
		" (apt-get install ffmpeg nginx libnginx-mod-rtmp, or run .ci/run)"
	if os.Getenv("BEFFROI_E2E") == "require" {
		t.Fatal(msg + "; BEFFROI_E2E=require")
	}
	t.Skip(msg)
}

// freePort returns a loopback port nothing listens on (for a while).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// logSink receives an instance's log: every line goes to t.Log and stays in memory so tests
// can search it (and check that no secret was logged).
type logSink struct {
	t      *testing.T
	prefix string

	mu   sync.Mutex
	buf  bytes.Buffer
	done bool // the test is over: t.Log may no longer be called
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if !s.done {
		s.t.Logf("%s%s", s.prefix, bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}

// String returns everything logged so far.
func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Lines returns the logged lines that contain every one of parts.
func (s *logSink) Lines(parts ...string) []string {
	var out []string
	for l := range strings.Lines(s.String()) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			out = append(out, strings.TrimRight(l, "\n"))
		}
	}
	return out
}

// beffroi is a running App with its captured log.
type beffroi struct {
	*app.App
	Cfg  *config.Config
	Logs *logSink

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startBeffroi runs an App on loopback ports with one stream "event" (publish key
// "test-publish-key"), a 10 s reconnect grace, quick destination retries and destinations
// allowed on private networks (the test platforms are on 127.0.0.1); mutate adjusts
// the configuration before start. The App stops at the end of the test.
func startBeffroi(t *testing.T, mutate func(*config.Config)) *beffroi {
	t.Helper()
	return startNamedBeffroi(t, "", mutate)
}

// startNamedBeffroi is startBeffroi with a prefix on the log lines, for tests running two
// instances, and the App's options.
func startNamedBeffroi(t *testing.T, name string, mutate func(*config.Config), opts ...app.Option) *beffroi {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTMP.Addr = "127.0.0.1:0"
	cfg.RTMPS.Addr = "127.0.0.1:0" // listens only when a certificate is set
	cfg.SRT.Addr = "127.0.0.1:0"
	cfg.RTSP.Addr = "127.0.0.1:0"
	cfg.WebRTC.UDPPort = 0
	cfg.WebRTC.TCPPort = 0
	cfg.WebRTC.Interfaces = []string{"lo"}
	cfg.DataDir = t.TempDir()
	cfg.ReconnectGrace = 10 * time.Second
	cfg.Outputs.RetryMin = 200 * time.Millisecond
	cfg.Outputs.RetryMax = 2 * time.Second
	cfg.Streams = []config.Stream{{Name: "event", PublishKey: publishKey}}
	cfg.Admin.Token = adminToken // the operator API needs it
	// Every test platform (nginx, a second instance, an SRT listener) is on 127.0.0.1, which
	// destinations refuse by default: the instances opt in, as a town relaying to its own
	// servers would. TestPrivateDestinationRefused runs with the default.
	cfg.Outputs.AllowPrivateNetworks = true
	// The adaptive HLS ladder (ffmpeg encoding rungs while players watch) is on by default;
	// the tests of other things run without its CPU cost and its wait on the first
	// multivariant request. TestLadderWatchPage turns it back on.
	cfg.HLS.Ladder = "off"
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("configuration: %v", err)
	}
	prefix := ""
	if name != "" {
		prefix = "[" + name + "] "
	}
	sink := &logSink{t: t, prefix: prefix}
	a, err := app.New(cfg, app.NewLogger(cfg.Log, sink), "e2e", opts...)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &beffroi{App: a, Cfg: cfg, Logs: sink, cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		b.Stop(t)
		sink.mu.Lock()
		sink.done = true
		sink.mu.Unlock()
	})
	return b
}

// Stop shuts the App down (ingest first, then the streams end, then the destinations close
// their sessions) and waits for Run to return. Calling it again does nothing.
func (b *beffroi) Stop(t *testing.T) {
	t.Helper()
	b.once.Do(func() {
		b.cancel()
		select {
		case err := <-b.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return 30 s after cancellation")
		}
	})
}

// PublishURL is the RTMP URL an encoder uses with key.
func (b *beffroi) PublishURL(key string) string {
	return "rtmp://" + b.RTMPAddr() + "/live/" + key
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// adminToken is the API token every test instance is started with (BEFFROI_ADMIN_TOKEN).
const adminToken = "e2e-admin-token-0123456789"

// get returns the body of a GET on the App's HTTP server.
func (b *beffroi) get(path string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+b.HTTPAddr()+path, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return string(body), nil
}

// streamView is /api/v1/streams/{name} as a client reads it.
type streamView struct {
	Name      string `json:"name"`
	Live      bool   `json:"live"`
	State     string `json:"state"`
	Publishes uint64 `json:"publishes"`
	Source    *struct {
		Protocol   string `json:"protocol"`
		RemoteAddr string `json:"remote_addr"`
	} `json:"source"`
	Tracks []struct {
		Kind             string  `json:"kind"`
		Codec            string  `json:"codec"`
		Width            int     `json:"width"`
		Height           int     `json:"height"`
		FPS              float64 `json:"fps"`
		KeyframeInterval float64 `json:"keyframe_interval"`
		Frames           int     `json:"frames"`
	} `json:"tracks"`
	Destinations []outputs.Status `json:"destinations"`
	Standby      bool             `json:"standby"`
	Paused       bool             `json:"paused"`
}

// getStream GETs /api/v1/streams/{name}, returning the decoded view and the raw body.
func (b *beffroi) getStream(name string) (streamView, string, error) {
	var v streamView
	body, err := b.get("/api/v1/streams/" + name)
	if err != nil {
		return v, body, err
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return v, body, fmt.Errorf("decoding %q: %w", body, err)
	}
	return v, body, nil
}

// apiStream GETs /api/v1/streams/{name}, failing the test on error.
func apiStream(t *testing.T, b *beffroi, name string) streamView {
	t.Helper()
	v, _, err := b.getStream(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitStream polls the API until the stream is in state ("live", "reconnecting", "idle").
func waitStream(t *testing.T, b *beffroi, name, state string, timeout time.Duration) streamView {
	t.Helper()
	var v streamView
	testutil.Eventually(t, timeout, func() error {
		var err error
		if v, _, err = b.getStream(name); err != nil {
			return err
		}
		if v.State != state {
			return fmt.Errorf("stream %q is %q, want %q", name, v.State, state)
		}
		return nil
	})
	return v
}

// destStatus returns a destination's status, or false when the stream has no such destination.
func destStatus(b *beffroi, stream, dest string) (outputs.Status, bool) {
	for _, s := range b.Outputs.List(stream) {
		if s.Name == dest {
			return s, true
		}
	}
	return outputs.Status{}, false
}

// waitDest polls the destination manager until the destination reaches state.
func waitDest(t *testing.T, b *beffroi, stream, dest string, state outputs.State, timeout time.Duration) outputs.Status {
	t.Helper()
	var st outputs.Status
	testutil.Eventually(t, timeout, func() error {
		var ok bool
		if st, ok = destStatus(b, stream, dest); !ok {
			return fmt.Errorf("no destination %q on stream %q", dest, stream)
		}
		if st.State != state {
			return fmt.Errorf("destination %q is %q (last error %q), want %q", dest, st.State, st.LastError, state)
		}
		return nil
	})
	return st
}

// transition is one state change of a destination, as a stateRecorder saw it.
type transition struct {
	At    time.Duration // since the recorder started
	State outputs.State
	Error string
	Skips uint64
	Recon uint64
}

func (tr transition) String() string {
	s := fmt.Sprintf("+%.1fs %s", tr.At.Seconds(), tr.State)
	if tr.Error != "" {
		s += fmt.Sprintf(" (%s)", tr.Error)
	}
	return s + fmt.Sprintf(" skipped=%d reconnects=%d", tr.Skips, tr.Recon)
}

// recordStates samples a stream's destinations every 50 ms until the returned function is
// called (or the test ends), which returns each destination's state changes.
func recordStates(t *testing.T, b *beffroi, stream string) func() map[string][]transition {
	start := time.Now()
	hist := map[string][]transition{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, s := range b.Outputs.List(stream) {
				h := hist[s.Name]
				if len(h) == 0 || h[len(h)-1].State != s.State {
					hist[s.Name] = append(h, transition{time.Since(start), s.State, s.LastError, s.Skipped, s.Reconnects})
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	finish := func() map[string][]transition {
		once.Do(func() { close(stop) })
		<-done
		return hist
	}
	t.Cleanup(func() { finish() })
	return finish
}

// missedStart checks, once the publisher is done and while the session is still on (the
// reconnect grace), that destinations set up before the broadcast started sent every frame the
// stream received, and returns how many seconds of the broadcast's start each missed: 0, or
// about 2 s when destinations join after the media held back by ingest (an error).
func missedStart(t *testing.T, b *beffroi, stream string, dests ...string) map[string]float64 {
	t.Helper()
	var in, audio int
	out := map[string]int{}
	deadline := time.Now().Add(3 * time.Second)
	for {
		v, _, err := b.getStream(stream)
		if err != nil {
			t.Fatal(err)
		}
		if !v.Live {
			break // the session is over: keep the last counts
		}
		in, audio = 0, 0
		for _, tr := range v.Tracks {
			in += tr.Frames
			if tr.Kind == "audio" {
				audio = tr.Frames
			}
		}
		done := true
		for _, d := range dests {
			s, _ := destStatus(b, stream, d)
			out[d] = int(s.Frames)
			// A few audio frames may precede the first video keyframe, where destinations start.
			done = done && out[d] >= in-10
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if in == 0 {
		t.Fatalf("stream %q is no longer live: cannot compare what its destinations sent", stream)
	}
	// Seconds of media, from the frame rates (30 fps video, AAC at 48 kHz: 46.875 frames/s).
	perSecond := 30 + 46.875
	if audio == 0 {
		perSecond = 30
	}
	missed := map[string]float64{}
	for _, d := range dests {
		missing := in - out[d]
		t.Logf("destination %q sent %d frames; the stream received %d", d, out[d], in)
		if missing <= 10 {
			continue
		}
		secs := float64(missing) / perSecond
		missed[d] = secs
		if secs < 1 || secs > 3 {
			t.Errorf("destination %q sent %d of the %d frames the stream received", d, out[d], in)
			continue
		}
		t.Errorf("destination %q missed the first %.1f s of the broadcast: destinations must "+
			"receive the media ingest holds back while it analyses the tracks", d, secs)
	}
	return missed
}
