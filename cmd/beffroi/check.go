package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/web/store"
)

// configCheck is `beffroi config check [flags]`: it loads and validates the configuration as
// run does (loadConfig), looks at the database without changing it, and prints OK with a
// summary (exit 0) or each problem on its line, naming its key (exit 1). Nothing secret is
// printed.
func configCheck(args, env []string, stdout, stderr io.Writer) int {
	cfg, path, err := loadConfig(args, env)
	if errors.Is(err, pflag.ErrHelp) {
		usage(stdout)
		return 0
	}
	shown := path
	if shown == "" {
		shown = "no file: embedded defaults"
	}
	if err != nil {
		lines := strings.Split(err.Error(), "\n")
		fmt.Fprintf(stderr, "configuration has %d problem(s) (%s):\n", len(lines), shown)
		for _, l := range lines {
			fmt.Fprintln(stderr, "  "+l)
		}
		return 1
	}
	db := filepath.Join(cfg.DataDir, store.FileName)
	sc, err := store.Inspect(context.Background(), db)
	if err != nil {
		fmt.Fprintf(stderr, "configuration has 1 problem(s) (%s):\n  %v\n", shown, err)
		return 1
	}
	fmt.Fprintf(stdout, "configuration OK (%s)\n", shown)
	for _, l := range summary(cfg, sc) {
		fmt.Fprintln(stdout, "  "+l)
	}
	return 0
}

// summary describes in a few lines what run would start with this configuration.
func summary(cfg *config.Config, sc store.Schema) []string {
	var ls []string
	add := func(name, addr, suffix string) {
		if addr != "" {
			ls = append(ls, name+" "+addr+suffix)
		}
	}
	add("http", cfg.HTTP.Addr, "")
	add("rtmp", cfg.RTMP.Addr, "")
	if cfg.RTMPS.Cert != "" || cfg.TLS.Enabled() {
		add("rtmps", cfg.RTMPS.Addr, "")
	}
	if cfg.TLS.Enabled() {
		add("https", cfg.TLS.HTTPSListen, "")
		add("http redirect", cfg.TLS.HTTPListen, "")
	}
	add("srt", cfg.SRT.Addr, "/udp")
	add("rtsp", cfg.RTSP.Addr, "")
	rtc := fmt.Sprintf("webrtc %d/udp", cfg.WebRTC.UDPPort)
	if cfg.WebRTC.TCPPort >= 0 {
		rtc += fmt.Sprintf(" and %d/tcp", cfg.WebRTC.TCPPort)
	}
	ls = append(ls, rtc)

	dests := 0
	for _, s := range cfg.Streams {
		dests += len(s.Destinations)
	}
	rec := "recordings in " + cfg.RecordingsDir()
	if !cfg.Record.Enabled {
		rec = "recording off (unless a stream turns it on)"
	}
	if cfg.Record.Storage == config.StorageS3 { // the keys are never shown
		rec += fmt.Sprintf(", uploaded to bucket %q at %s", cfg.Record.S3.Bucket, cfg.Record.S3.Endpoint)
	}
	var dbLine string
	switch {
	case !sc.Exists:
		dbLine = fmt.Sprintf("database: none yet, the first start makes it (schema version %d)", sc.Latest)
	case sc.Version < sc.Latest:
		dbLine = fmt.Sprintf("database: schema version %d; the next start backs it up, then migrates it to %d", sc.Version, sc.Latest)
	default:
		dbLine = fmt.Sprintf("database: schema version %d, up to date", sc.Version)
	}
	lines := []string{
		"listeners: " + strings.Join(ls, ", "),
		fmt.Sprintf("streams in the file: %d, with %d destination(s)", len(cfg.Streams), dests),
		"data_dir: " + cfg.DataDir + "; " + rec,
		dbLine,
		"log: " + cfg.Log.Level + ", " + cfg.Log.Format,
	}
	if t := tlsSummary(cfg); t != "" {
		lines = append(lines, t)
	}
	return lines
}

// tlsSummary says where the HTTPS certificate comes from ("" without a tls section).
func tlsSummary(cfg *config.Config) string {
	t := cfg.TLS
	switch {
	case t.Domain != "":
		ca := t.ACMECA
		if ca == "" {
			ca = "Let's Encrypt"
		}
		return fmt.Sprintf("tls: certificate for %s over ACME from %s, kept in %s", t.Domain, ca, filepath.Join(cfg.DataDir, "acme"))
	case t.Cert != "":
		return "tls: certificate from " + t.Cert
	}
	return ""
}
