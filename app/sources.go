package app

import (
	"reflect"

	"github.com/beffroi/beffroi/config"
	ingestrtsp "github.com/beffroi/beffroi/ingest/rtsp"
	"github.com/beffroi/beffroi/relay"
)

// sourcesOptions are a stream of the file's sources as the relay takes them.
func sourcesOptions(s config.Stream) relay.SourcesOptions {
	o := relay.SourcesOptions{Primary: s.SourceName, FailoverAfter: s.FailoverAfter, FailbackAfter: s.FailbackAfter}
	for _, src := range s.Sources {
		o.Backups = append(o.Backups, relay.SourceSpec{Name: src.Name, PublishKey: src.PublishKey})
	}
	return o
}

// pullKey is the pull set's key of a stream's pulled backup source.
func pullKey(stream, source string) string { return stream + "/" + source }

// setSources applies a stream of the file's backup sources (at start and on reload): the
// relay's sources, and a puller for each camera source. prev is the stream as it was (nil at
// start, or when it is new).
func (a *App) setSources(cfg *config.Config, s config.Stream, prev *config.Stream) error {
	if prev != nil && sameSources(*prev, s) {
		return nil
	}
	if err := a.Registry.SetSources(s.Name, sourcesOptions(s)); err != nil {
		return err
	}
	if prev != nil {
		for _, src := range prev.Sources {
			if src.Pull.URL != "" {
				a.pulls.remove(pullKey(s.Name, src.Name))
			}
		}
	}
	for _, src := range s.Sources {
		if src.Pull.URL == "" {
			continue
		}
		a.pulls.set(pullKey(s.Name, src.Name), &ingestrtsp.Puller{
			URL: src.Pull.URL, Transport: src.Pull.Transport, Stream: a.Registry.Get(s.Name), Source: src.Name,
			Logger: a.log.With("source", src.Name), RetryMin: cfg.RTSP.PullRetryMin, RetryMax: cfg.RTSP.PullRetryMax,
		})
	}
	return nil
}

// removeSources stops the pullers of a stream's camera sources.
func (a *App) removeSources(s config.Stream) {
	for _, src := range s.Sources {
		if src.Pull.URL != "" {
			a.pulls.remove(pullKey(s.Name, src.Name))
		}
	}
}

// sameSources reports whether two versions of a stream of the file have the same sources.
func sameSources(a, b config.Stream) bool {
	return a.SourceName == b.SourceName && a.FailoverAfter == b.FailoverAfter &&
		a.FailbackAfter == b.FailbackAfter && reflect.DeepEqual(a.Sources, b.Sources)
}
