package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
)

func TestVersionAndHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, nil, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "beffroi ") {
		t.Fatalf("version: code %d, out %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"--help"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "--config") {
		t.Fatalf("--help: code %d, out %q", code, out.String())
	}
	errb.Reset()
	if code := run([]string{"frobnicate"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: code %d, stderr %q", code, errb.String())
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("streams:\n  - name: concert\n    publish_key: a-long-secret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("streams:\n  - name: concert\n    publish_key: tiny7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"config", "check", "--config", good}, nil, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "configuration OK") || !strings.Contains(out.String(), "1 stream(s)") {
		t.Fatalf("good config: code %d, out %q, err %q", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code := run([]string{"config", "check", "--config", bad}, nil, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "streams[0].publish_key: too short") {
		t.Fatalf("bad config: code %d, err %q", code, errb.String())
	}
	if strings.Contains(errb.String(), "tiny7") {
		t.Fatalf("the error repeats the key: %q", errb.String())
	}
}

// With no stream configured, Beffroi creates "live", keeps its key in data_dir and logs the
// publish URL only the first time.
func TestDefaultStream(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Addr, cfg.RTMP.Addr, cfg.SRT.Addr, cfg.RTSP.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.WebRTC.UDPPort = 0
	cfg.WebRTC.TCPPort = 0

	start := func() string {
		var logs bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if err := serve(ctx, cfg, "", &logs); err != nil {
			t.Fatalf("serve: %v", err)
		}
		return logs.String()
	}
	first := start()
	key, err := os.ReadFile(filepath.Join(dir, "live.key"))
	if err != nil {
		t.Fatal(err)
	}
	if len(key) < 16 {
		t.Fatalf("generated key %d characters long", len(key))
	}
	if !strings.Contains(first, "/live/"+string(key)) {
		t.Fatalf("first start did not log the publish URL:\n%s", first)
	}
	second := start()
	if strings.Contains(second, string(key)) {
		t.Fatalf("second start logged the key again:\n%s", second)
	}
	if !strings.Contains(second, `using the stream \"live\"`) {
		t.Fatalf("second start did not say it uses the stream:\n%s", second)
	}
	if !strings.Contains(second, "stopped") {
		t.Fatalf("no clean shutdown:\n%s", second)
	}
}
