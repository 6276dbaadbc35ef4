package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
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

// With no stream at all, the first start makes "live" in the database and logs its publish
// URL, and makes the user "admin" with a one-time password it logs; later starts log
// neither again.
func TestFirstStart(t *testing.T) {
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
		if err := serve(ctx, cfg, "", nil, &logs); err != nil {
			t.Fatalf("serve: %v", err)
		}
		return logs.String()
	}
	first := start()
	m := regexp.MustCompile(`publish_url=rtmp://[^ ]+/live/([a-z0-9]{16,})`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first start did not log the publish URL:\n%s", first)
	}
	key := m[1]
	pw := regexp.MustCompile(`one-time password[^\n]*password=([A-Za-z0-9_-]{12,})`).FindStringSubmatch(first)
	if pw == nil {
		t.Fatalf("first start did not log the admin's one-time password:\n%s", first)
	}
	second := start()
	if strings.Contains(second, key) || strings.Contains(second, pw[1]) {
		t.Fatalf("second start logged the key or the password again:\n%s", second)
	}
	if !strings.Contains(second, "stopped") {
		t.Fatalf("no clean shutdown:\n%s", second)
	}

	// A key kept in data_dir/live.key by an older Beffroi is taken over.
	dir2 := t.TempDir()
	const oldKey = "oldkeyfromlivekeyfile"
	if err := os.WriteFile(filepath.Join(dir2, "live.key"), []byte(oldKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir2
	out := start()
	if strings.Contains(out, oldKey) || !strings.Contains(out, "now in the database") {
		t.Fatalf("taking over live.key:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir2, "live.key")); !os.IsNotExist(err) {
		t.Fatalf("live.key left behind: %v", err)
	}
}
