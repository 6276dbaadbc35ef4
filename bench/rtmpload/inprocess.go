package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/beffroi/beffroi/app"
	"github.com/beffroi/beffroi/config"
)

// serverLabel is the pprof label every Beffroi goroutine carries in -inprocess runs
// (goroutines inherit their creator's labels): `go tool pprof -tagfocus server=beffroi`
// keeps the server's samples and drops the load tool's.
const serverLabel = "server"

// inproc is Beffroi assembled by internal/app inside the load tool's own process, so that
// runtime/pprof can profile it. Its CPU time cannot be told apart from the tool's in
// /proc/self/stat: -inprocess rows report the whole process.
type inproc struct {
	a      *app.App
	cancel context.CancelFunc
	done   chan struct{}
}

func (p *inproc) publishURL() *url.URL { return rtmpURL(p.a.RTMPAddr(), "live", publishKey) }
func (p *inproc) playURL() *url.URL    { return rtmpURL(p.a.RTMPAddr(), "live", streamName) }
func (p *inproc) pid() int             { return os.Getpid() }

func (p *inproc) logTail() string { return "" }

func (p *inproc) stop() {
	p.cancel()
	<-p.done
}

// startBeffroiInProcess builds the same configuration as the subprocess runs and serves it
// from this process.
func startBeffroiInProcess(s pointSetup) (server, error) {
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTMP.Addr, cfg.RTMP.Read = "127.0.0.1:0", true
	cfg.RTMPS.Addr = ""
	cfg.DataDir = filepath.Join(s.dir, "data")
	cfg.Log.Level = "warn"
	st := config.Stream{Name: streamName, PublishKey: publishKey}
	if s.push {
		for i := range s.readers {
			st.Destinations = append(st.Destinations, config.Destination{
				Name: fmt.Sprintf("d%d", i), URL: fmt.Sprintf("rtmp://%s/live/d%d", s.sinkAddr, i),
			})
		}
	}
	cfg.Streams = []config.Stream{st}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a, err := app.New(cfg, app.NewLogger(cfg.Log, os.Stderr), "rtmpload")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &inproc{a: a, cancel: cancel, done: make(chan struct{})}
	go pprof.Do(ctx, pprof.Labels(serverLabel, "beffroi"), func(ctx context.Context) {
		defer close(p.done)
		if err := a.Run(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "rtmpload: in-process beffroi:", err)
		}
	})
	return p, nil
}
