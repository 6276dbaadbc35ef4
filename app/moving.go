package app

// To move to their owners (web/manage, web/replays) and typed status providers.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/relay/transcode"
	"github.com/beffroi/beffroi/web/manage"
	"github.com/beffroi/beffroi/web/replays"
)

// defaultStream is created when the configuration declares no stream.
const defaultStream = "live"

// pullStatus returns the state of a stream's camera puller, or nil.
func (a *App) pullStatus(stream string) any {
	for _, p := range a.pullers {
		if p.Stream.Name() == stream {
			return p.Status()
		}
	}
	return nil
}

// renditions returns the renditions made of a stream, or nil.
func (a *App) renditions(stream string) any {
	var l []transcode.RenditionStatus
	for _, r := range a.Renditions.Status() {
		if r.Stream == stream {
			l = append(l, r)
		}
	}
	if l == nil {
		return nil
	}
	return l
}

// recordingStatus returns the recorder's state for a stream (record.Status).
func (a *App) recordingStatus(stream string) any { return a.Recorder.Status(stream) }

// addDefaultStream makes the stream "live" in the database when there is no stream at all.
// Its publish URL is logged once, when it is made. (A key kept in data_dir/live.key by an
// older Beffroi is taken over.)
func (a *App) addDefaultStream(ctx context.Context) error {
	l, err := a.Store.ListStreams(ctx)
	if err != nil || len(l) > 0 {
		return err
	}
	path := filepath.Join(a.cfg.DataDir, "live.key")
	key := manage.NewKey()
	old, err := os.ReadFile(path)
	kept := err == nil && len(strings.TrimSpace(string(old))) > 0
	if kept {
		key = strings.TrimSpace(string(old))
	}
	if err := a.Store.CreateStream(ctx, manage.Stream{Name: defaultStream, PublishKey: key, Created: time.Now().UTC()}); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if kept {
		_ = os.Remove(path)
		a.log.Info("no stream configured: using the stream \"live\" (its publish key, from " + path + ", is now in the database)")
		return nil
	}
	a.announceDefault(defaultStream, key)
	return nil
}

// retentionPolicy turns record.retention and the streams' overrides into the sweep's
// policy. A stream's own max_size bounds that stream; record.retention.max_size bounds all.
func retentionPolicy(cfg *config.Config) (replays.Policy, error) {
	g := cfg.Record.Retention
	age, err := config.ParseAge(g.MaxAge)
	if err != nil {
		return replays.Policy{}, fmt.Errorf("record.retention.max_age: %w", err)
	}
	size, err := config.ParseSize(g.MaxSize)
	if err != nil {
		return replays.Policy{}, fmt.Errorf("record.retention.max_size: %w", err)
	}
	p := replays.Policy{Default: replays.Retention{MaxAge: age, MaxSize: size, KeepPublished: g.KeepPublished}}
	for _, s := range cfg.Streams {
		o := s.Record.Retention
		if o == (config.StreamRetention{}) {
			continue
		}
		r := replays.Retention{MaxAge: age, KeepPublished: g.KeepPublished}
		if o.MaxAge != "" {
			if r.MaxAge, err = config.ParseAge(o.MaxAge); err != nil {
				return p, fmt.Errorf("streams %q: record.retention.max_age: %w", s.Name, err)
			}
		}
		if r.MaxSize, err = config.ParseSize(o.MaxSize); err != nil {
			return p, fmt.Errorf("streams %q: record.retention.max_size: %w", s.Name, err)
		}
		if o.KeepPublished != nil {
			r.KeepPublished = *o.KeepPublished
		}
		if p.Streams == nil {
			p.Streams = map[string]replays.Retention{}
		}
		p.Streams[s.Name] = r
	}
	return p, nil
}
