package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/beffroi/beffroi/app"
	"github.com/beffroi/beffroi/config"
)

// serve runs Beffroi until ctx ends. SIGHUP reads the configuration again (load) and applies
// its streams and destinations (app.Reload); an invalid file changes nothing.
func serve(ctx context.Context, cfg *config.Config, cfgPath string, load func() (*config.Config, error), logw io.Writer) error {
	log := app.NewLogger(cfg.Log, logw)
	if cfgPath == "" {
		cfgPath = "none (embedded defaults)"
	}
	log.Info("starting Beffroi", "version", version, "config", cfgPath, "data_dir", cfg.DataDir)
	a, err := app.New(cfg, log, version, app.WithConfigSource(load))
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for {
		select {
		case err := <-done:
			return err
		case <-hup:
			log.Info("SIGHUP: reading the configuration again", "config", cfgPath)
			_, _ = a.ReloadConfig() // logs what changed, or why nothing did
		}
	}
}
