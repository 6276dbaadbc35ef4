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
