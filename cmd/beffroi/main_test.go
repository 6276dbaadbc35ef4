package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/web/store"
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
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	data := filepath.Join(dir, "data")
	good := write("good.yaml", "data_dir: "+data+"\nstreams:\n  - name: concert\n    publish_key: a-long-secret-key\n"+
		"    destinations:\n      - name: yt\n        url: rtmp://a.rtmp.youtube.com/live2/SECRETSTREAMKEY\n")
	bad := write("bad.yaml", "streams:\n  - name: concert\n    publish_key: tiny7\nlog:\n  format: xml\n")
	check := func(env []string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"config", "check"}, args...), env, &out, &errb)
		return code, out.String(), errb.String()
	}

	code, out, errs := check(nil, "--config", good)
	for _, want := range []string{
		"configuration OK (" + good + ")",
		"listeners: http :8080, rtmp :1935, srt :8890/udp, rtsp :8554, webrtc 8189/udp and 8189/tcp",
		"streams in the file: 1, with 1 destination(s)",
		"database: none yet, the first start makes it",
		"log: info, text",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("good config: code %d, no %q in\n%s%s", code, want, out, errs)
		}
	}
	if strings.Contains(out, "SECRETSTREAMKEY") || strings.Contains(out, "a-long-secret-key") {
		t.Errorf("the summary shows a key:\n%s", out)
	}
	// The format from the environment and from a flag, read as run reads them.
	if _, out, _ := check([]string{"BEFFROI_LOG_FORMAT=json"}, "--config", good); !strings.Contains(out, "log: info, json") {
		t.Errorf("BEFFROI_LOG_FORMAT: %s", out)
	}
	if _, out, _ := check(nil, "--config", good, "--log-format", "json"); !strings.Contains(out, "log: info, json") {
		t.Errorf("--log-format: %s", out)
	}

	// HTTPS over ACME: its listeners, where its certificate comes from.
	acme := write("acme.yaml", "data_dir: "+data+"\ntls:\n  domain: live.ville-exemple.fr\n  email: com@ville-exemple.fr\n")
	code, out, errs = check(nil, "--config", acme)
	for _, want := range []string{
		"rtmps :1936, https :443, http redirect :80,",
		"tls: certificate for live.ville-exemple.fr over ACME from Let's Encrypt, kept in " + filepath.Join(data, "acme"),
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("tls config: code %d, no %q in\n%s%s", code, want, out, errs)
		}
	}

	code, out, errs = check(nil, "--config", bad)
	if code != 1 || out != "" || !strings.Contains(errs, "configuration has 2 problem(s) ("+bad+"):") ||
		!strings.Contains(errs, "\n  config: streams[0].publish_key: too short") ||
		!strings.Contains(errs, "\n  config: log.format: \"xml\" is not one of text, json") {
		t.Fatalf("bad config: code %d, stdout %q, stderr %q", code, out, errs)
	}
	if strings.Contains(errs, "tiny7") {
		t.Fatalf("the error repeats the key: %q", errs)
	}
	if code, _, errs := check(nil, "--config", filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(errs, "missing.yaml") {
		t.Errorf("missing file: code %d, %q", code, errs)
	}

	// The database: up to date after a start; from a newer Beffroi, a problem.
	s, err := store.Open(context.Background(), filepath.Join(data, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := s.SchemaVersion(context.Background())
	_ = s.Close()
	if _, out, _ := check(nil, "--config", good); !strings.Contains(out, fmt.Sprintf("database: schema version %d, up to date", v)) {
		t.Errorf("database up to date: %s", out)
	}
	db, err := sql.Open("sqlite", filepath.Join(data, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO schema_migrations VALUES (999, 'future', 0)"); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if code, _, errs := check(nil, "--config", good); code != 1 || !strings.Contains(errs, "newer than this Beffroi knows") {
		t.Errorf("newer database: code %d, %q", code, errs)
	}
	var errb bytes.Buffer
	if code := run([]string{"config"}, nil, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), "usage: beffroi config check") {
		t.Errorf("usage: %d %q", code, errb.String())
	}
}

// With log.format json every line the process logs is one JSON object, and keys stay out
// of it as out of text logs.
func TestJSONLogs(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr, cfg.RTMP.Addr, cfg.SRT.Addr, cfg.RTSP.Addr = "127.0.0.1:0", "127.0.0.1:0", "", ""
	cfg.WebRTC.UDPPort, cfg.WebRTC.TCPPort = 0, -1
	cfg.Log.Format = "json"
	const key, platformKey = "a-long-secret-publish-key", "SECRETSTREAMKEY"
	cfg.Streams = []config.Stream{{Name: "concert", PublishKey: key,
		Destinations: []config.Destination{{Name: "yt", URL: "rtmp://127.0.0.1:1/live2/" + platformKey}}}}
	var logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := serve(ctx, cfg, "", nil, &logs); err != nil {
		t.Fatalf("serve: %v", err)
	}
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Time, Level, Msg string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Time == "" || rec.Level == "" || rec.Msg == "" {
			t.Fatalf("not a JSON log record (%v): %s", err, line)
		}
		msgs = append(msgs, rec.Msg)
	}
	if !slices.Contains(msgs, "listening") || !slices.Contains(msgs, "stopped") {
		t.Errorf("messages %q", msgs)
	}
	if strings.Contains(logs.String(), key) || strings.Contains(logs.String(), platformKey) {
		t.Errorf("a key reached the logs:\n%s", logs.String())
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
