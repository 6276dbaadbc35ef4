// Command beffroi runs the Beffroi live-event broadcasting relay.
//
//	beffroi [run] [flags]      start the relay
//	beffroi config check [flags]  validate the configuration, look at the database, exit 0 or 1
//	beffroi version            print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/beffroi/beffroi/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `Beffroi %s, a live-event broadcasting relay.

Usage:
  beffroi [run] [flags]          start the relay
  beffroi config check [flags]   validate the configuration and the database, then exit:
                                 0 and a summary when it is OK, 1 and each problem otherwise
  beffroi version                print the version

Flags:
%s`, version, config.FlagUsages())
}

func run(args, env []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "beffroi", version)
		return 0
	case "help":
		usage(stdout)
		return 0
	case "config":
		if len(args) == 0 || args[0] != "check" {
			fmt.Fprintln(stderr, "usage: beffroi config check [flags]")
			return 2
		}
		return configCheck(args[1:], env, stdout, stderr)
	case "run":
		cfg, path, err := loadConfig(args, env)
		if err != nil {
			return reportConfigError(stdout, stderr, err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		load := func() (*config.Config, error) {
			c, _, err := loadConfig(args, env)
			return c, err
		}
		if err := serve(ctx, cfg, path, load, stderr); err != nil {
			fmt.Fprintln(stderr, "beffroi:", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "beffroi: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
}

func loadConfig(args, env []string) (*config.Config, string, error) {
	cfg, path, err := config.Load(args, env)
	if err != nil {
		return nil, path, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, path, err
	}
	return cfg, path, nil
}

func reportConfigError(stdout, stderr io.Writer, err error) int {
	if errors.Is(err, pflag.ErrHelp) {
		usage(stdout)
		return 0
	}
	fmt.Fprintln(stderr, err)
	return 2
}
