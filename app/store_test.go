package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/web/store"
)

func loopbackConfig(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTMP.Addr = "127.0.0.1:0"
	cfg.SRT.Addr = ""
	cfg.RTSP.Addr = ""
	cfg.WebRTC.UDPPort = 0
	cfg.WebRTC.TCPPort = -1
	cfg.WebRTC.Interfaces = []string{"lo"}
	cfg.DataDir = t.TempDir()
	return cfg
}

// TestDatabaseFailureStopsStartUp: a database that cannot be opened is a start-up error
// naming the file.
func TestDatabaseFailureStopsStartUp(t *testing.T) {
	cfg := loopbackConfig(t)
	db := filepath.Join(cfg.DataDir, store.FileName)
	if err := os.Mkdir(db, 0o755); err != nil { // a directory where the file should be
		t.Fatal(err)
	}
	_, err := New(cfg, nil, "test")
	if err == nil || !strings.Contains(err.Error(), db) {
		t.Fatalf("New: %v", err)
	}
}

// TestStoreOpenedAtStartClosedAtShutdown: the database is there once New returns and closed
// when Run has returned.
func TestStoreOpenedAtStartClosedAtShutdown(t *testing.T) {
	cfg := loopbackConfig(t)
	a, err := New(cfg, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := a.Store.SchemaVersion(context.Background()); err != nil || v < 1 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, store.FileName)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := a.Store.SchemaVersion(context.Background()); err == nil {
		t.Fatal("the database is still open after Run returned")
	}
}

func TestRetentionPolicy(t *testing.T) {
	no := false
	cfg := config.Default()
	cfg.Record.Retention = config.Retention{MaxAge: "30d", MaxSize: "100GiB", KeepPublished: true}
	cfg.Streams = []config.Stream{
		{Name: "main"},
		{Name: "council", Record: config.StreamRecord{Retention: config.StreamRetention{MaxAge: "0", KeepPublished: &no}}},
		{Name: "sport", Record: config.StreamRecord{Retention: config.StreamRetention{MaxSize: "10GiB"}}},
	}
	p, err := retentionPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Default.MaxAge != 30*24*time.Hour || p.Default.MaxSize != 100<<30 || !p.Default.KeepPublished {
		t.Fatalf("default %+v", p.Default)
	}
	if _, ok := p.Streams["main"]; ok {
		t.Fatal("a stream without overrides has its own policy")
	}
	if c := p.Streams["council"]; c.MaxAge != 0 || c.KeepPublished || c.MaxSize != 0 {
		t.Fatalf("council %+v", c)
	}
	// sport keeps the global age and published rule, with a size limit of its own.
	if s := p.Streams["sport"]; s.MaxAge != 30*24*time.Hour || !s.KeepPublished || s.MaxSize != 10<<30 {
		t.Fatalf("sport %+v", s)
	}
}
