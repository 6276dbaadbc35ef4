package main

import (
	"context"
	"io"

	"github.com/beffroi/beffroi/app"
	"github.com/beffroi/beffroi/config"
)

func serve(ctx context.Context, cfg *config.Config, cfgPath string, logw io.Writer) error {
	log := app.NewLogger(cfg.Log, logw)
	if cfgPath == "" {
		cfgPath = "none (embedded defaults)"
	}
	log.Info("starting Beffroi", "version", version, "config", cfgPath, "data_dir", cfg.DataDir)
	a, err := app.New(cfg, log, version)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
