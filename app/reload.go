package app

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/beffroi/beffroi/config"
	ingestrtsp "github.com/beffroi/beffroi/ingest/rtsp"
	"github.com/beffroi/beffroi/internal/httpjson"
	"github.com/beffroi/beffroi/web/replays"
)

// Changes is what a reload did.
type Changes struct {
	StreamsAdded        []string `json:"streams_added,omitempty"`
	StreamsRemoved      []string `json:"streams_removed,omitempty"`
	StreamsChanged      []string `json:"streams_changed,omitempty"`
	DestinationsAdded   []string `json:"destinations_added,omitempty"` // "stream/destination"
	DestinationsRemoved []string `json:"destinations_removed,omitempty"`
	DestinationsChanged []string `json:"destinations_changed,omitempty"`
	// Kept counts the destinations of the file left as they were (connected ones stay
	// connected).
	Kept int `json:"destinations_kept"`
	// NeedsRestart names the keys that changed but take effect at the next start only
	// (listeners, paths, TLS, tuning).
	NeedsRestart []string `json:"needs_restart,omitempty"`
}

// ErrNoConfigSource is returned by ReloadConfig when the App was built without
// WithConfigSource.
var ErrNoConfigSource = errors.New("reload: no configuration source")

// WithConfigSource says where ReloadConfig (SIGHUP, POST /api/v1/reload) reads the
// configuration again: the file and environment cmd/beffroi read at start.
func WithConfigSource(load func() (*config.Config, error)) Option {
	return func(o *options) { o.source = load }
}

// ReloadConfig reads the configuration again from its source and applies it (Reload).
func (a *App) ReloadConfig() (Changes, error) {
	if a.source == nil {
		return Changes{}, ErrNoConfigSource
	}
	next, err := a.source()
	if err != nil {
		a.log.Error("reload refused: the configuration has an error; nothing changed", "error", err.Error())
		return Changes{}, err
	}
	return a.Reload(next)
}

// Reload applies a new configuration to the running App, as a reload should: the streams and
// destinations of the file that were added, removed or changed take effect at once, and what
// did not change is left alone (a live destination keeps its platform session). Retention
// applies at the next sweep. Other keys (listeners, paths, TLS, tuning) take effect at the
// next start: they are listed in NeedsRestart. A configuration that cannot be applied as a
// whole (a stream name or publish key already taken by a stream made in the console)
// changes nothing and returns the error naming the stream.
func (a *App) Reload(next *config.Config) (Changes, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if err := next.Validate(); err != nil {
		return Changes{}, err
	}
	if err := a.checkReload(next); err != nil {
		a.log.Error("reload refused: nothing changed", "error", err.Error())
		return Changes{}, err
	}
	retention, err := replays.PolicyFromConfig(next)
	if err != nil {
		return Changes{}, err
	}
	prev := a.applied
	var ch Changes
	ch.NeedsRestart = staticChanges(a.cfg, next) // what runs is what started

	old := map[string]config.Stream{}
	for _, s := range prev.Streams {
		old[s.Name] = s
	}
	nextNames := map[string]bool{}
	for _, s := range next.Streams {
		nextNames[s.Name] = true
	}
	for _, s := range prev.Streams {
		if !nextNames[s.Name] {
			a.removeStream(s, &ch)
		}
	}
	for _, s := range next.Streams {
		o, existed := old[s.Name]
		if !existed {
			a.addStream(next, s, &ch)
			continue
		}
		a.changeStream(next, o, s, &ch)
	}
	a.Replays.SetRetention(retention)
	a.applied = next
	a.inForce.Store(next)
	a.log.Info("configuration reloaded",
		"streams_added", len(ch.StreamsAdded), "streams_removed", len(ch.StreamsRemoved), "streams_changed", len(ch.StreamsChanged),
		"destinations_added", len(ch.DestinationsAdded), "destinations_removed", len(ch.DestinationsRemoved),
		"destinations_changed", len(ch.DestinationsChanged), "destinations_kept", ch.Kept)
	if len(ch.NeedsRestart) > 0 {
		a.log.Warn("reload: these keys changed and take effect at the next start", "keys", strings.Join(ch.NeedsRestart, ", "))
	}
	return ch, nil
}

// checkReload refuses, before anything changes, what would fail half-way: a new stream of the
// file whose name or publish key a stream made in the console already has.
func (a *App) checkReload(next *config.Config) error {
	for _, s := range next.Streams {
		if st := a.Registry.Get(s.Name); st != nil && !a.managed(s.Name, "") {
			return fmt.Errorf("config: streams %q: a stream of that name was made in the console; delete it there or rename this one", s.Name)
		}
		if st := a.Registry.Authenticate(s.PublishKey); st != nil && st.Name() != s.Name {
			return fmt.Errorf("config: streams %q: publish_key: already used by the stream %q", s.Name, st.Name())
		}
	}
	return nil
}

func (a *App) removeStream(s config.Stream, ch *Changes) {
	for _, d := range s.Destinations {
		_ = a.Outputs.Remove(s.Name, d.Name)
		ch.DestinationsRemoved = append(ch.DestinationsRemoved, s.Name+"/"+d.Name)
	}
	a.pulls.remove(s.Name)
	a.removeSources(s)
	a.Registry.Remove(s.Name) // a publisher still on it is disconnected
	a.setConfigured(s, false)
	ch.StreamsRemoved = append(ch.StreamsRemoved, s.Name)
	a.log.Info("reload: stream removed", "stream", s.Name)
}

func (a *App) addStream(cfg *config.Config, s config.Stream, ch *Changes) {
	if _, err := a.Registry.Add(s.Name, s.PublishKey); err != nil {
		a.log.Error("reload: stream not added", "stream", s.Name, "error", err.Error())
		return
	}
	if err := a.setSources(cfg, s, nil); err != nil {
		a.log.Error("reload: backup sources not set", "stream", s.Name, "error", err.Error())
	}
	a.setConfigured(s, true)
	a.Recorder.SetEnabled(s.Name, s.IsRecorded(cfg.Record))
	for _, d := range s.Destinations {
		a.addDestination(s.Name, d, ch, &ch.DestinationsAdded)
	}
	if s.Pull.URL != "" {
		a.pulls.set(s.Name, a.newPuller(cfg, s))
	}
	ch.StreamsAdded = append(ch.StreamsAdded, s.Name)
	a.log.Info("reload: stream added", "stream", s.Name)
}

func (a *App) addDestination(stream string, d config.Destination, ch *Changes, list *[]string) {
	err := a.Outputs.Add(stream, destinationConfig(d))
	if err != nil {
		a.log.Error("reload: destination not added", "stream", stream, "destination", d.Name, "error", err.Error())
		return
	}
	*list = append(*list, stream+"/"+d.Name)
}

// changeStream applies what changed in one stream of the file.
func (a *App) changeStream(cfg *config.Config, o, s config.Stream, ch *Changes) {
	changed := false
	if o.PublishKey != s.PublishKey {
		if err := a.Registry.SetKey(s.Name, s.PublishKey); err != nil {
			a.log.Error("reload: publish key not changed", "stream", s.Name, "error", err.Error())
		} else {
			changed = true
			a.log.Info("reload: publish key changed (the publisher on air goes on; the next connection needs the new key)", "stream", s.Name)
		}
	}
	if o.IsRecorded(a.applied.Record) != s.IsRecorded(cfg.Record) {
		a.Recorder.SetEnabled(s.Name, s.IsRecorded(cfg.Record))
		changed = true
	}
	if o.Pull != s.Pull {
		a.pulls.remove(s.Name)
		if s.Pull.URL != "" {
			a.pulls.set(s.Name, a.newPuller(cfg, s))
		}
		changed = true
	}
	if !sameSources(o, s) {
		if err := a.setSources(cfg, s, &o); err != nil {
			a.log.Error("reload: backup sources not changed", "stream", s.Name, "error", err.Error())
		} else {
			changed = true
		}
	}
	if changed {
		ch.StreamsChanged = append(ch.StreamsChanged, s.Name)
	}

	oldDests := map[string]config.Destination{}
	for _, d := range o.Destinations {
		oldDests[d.Name] = d
	}
	for _, d := range s.Destinations {
		od, ok := oldDests[d.Name]
		delete(oldDests, d.Name)
		switch {
		case !ok:
			a.configured.set(s.Name+"/"+d.Name, true)
			a.addDestination(s.Name, d, ch, &ch.DestinationsAdded)
		case sameDestination(od, d):
			ch.Kept++
		case od.URL == d.URL && od.IsEnabled() != d.IsEnabled() && sameBut(od, d):
			if err := a.Outputs.SetEnabled(s.Name, d.Name, d.IsEnabled()); err == nil {
				ch.DestinationsChanged = append(ch.DestinationsChanged, s.Name+"/"+d.Name)
			}
		default: // a new URL (or key): a new session with the platform
			_ = a.Outputs.Remove(s.Name, d.Name)
			a.addDestination(s.Name, d, ch, &ch.DestinationsChanged)
		}
	}
	for _, d := range o.Destinations {
		if _, gone := oldDests[d.Name]; gone {
			_ = a.Outputs.Remove(s.Name, d.Name)
			a.configured.set(s.Name+"/"+d.Name, false)
			ch.DestinationsRemoved = append(ch.DestinationsRemoved, s.Name+"/"+d.Name)
		}
	}
}

// sameDestination reports whether two destinations of the file are the same.
func sameDestination(a, b config.Destination) bool {
	return a.IsEnabled() == b.IsEnabled() && sameBut(a, b)
}

// sameBut reports whether two destinations differ in nothing but Enabled.
func sameBut(a, b config.Destination) bool {
	a.Enabled, b.Enabled = nil, nil
	return reflect.DeepEqual(a, b)
}

// setConfigured marks a stream of the file and its destinations as managed by it, or no
// longer.
func (a *App) setConfigured(s config.Stream, on bool) {
	a.configured.set(s.Name, on)
	for _, d := range s.Destinations {
		a.configured.set(s.Name+"/"+d.Name, on)
	}
}

// newPuller makes the camera puller of a stream of the file.
func (a *App) newPuller(cfg *config.Config, s config.Stream) *ingestrtsp.Puller {
	return &ingestrtsp.Puller{
		URL: s.Pull.URL, Transport: s.Pull.Transport, Stream: a.Registry.Get(s.Name), Logger: a.log,
		RetryMin: cfg.RTSP.PullRetryMin, RetryMax: cfg.RTSP.PullRetryMax,
	}
}

// liveKeys are the keys a reload applies itself: the streams, and the retention that the
// next sweep follows.
func liveKeys() []string { return []string{"streams", "record.retention"} }

// staticChanges lists the keys, "section.key", whose values differ between prev and next
// and that a reload does not apply.
func staticChanges(prev, next *config.Config) []string {
	var out []string
	var walk func(prefix string, a, b reflect.Value)
	walk = func(prefix string, a, b reflect.Value) {
		if slices.Contains(liveKeys(), prefix) {
			return
		}
		if a.Kind() != reflect.Struct {
			if !reflect.DeepEqual(a.Interface(), b.Interface()) {
				out = append(out, prefix)
			}
			return
		}
		t := a.Type()
		for i := range t.NumField() {
			key := t.Field(i).Tag.Get("mapstructure")
			if key == "" {
				continue
			}
			if prefix != "" {
				key = prefix + "." + key
			}
			walk(key, a.Field(i), b.Field(i))
		}
	}
	walk("", reflect.ValueOf(*prev), reflect.ValueOf(*next))
	return out
}

// serveReload is POST /api/v1/reload: 200 with the Changes, 422 with the configuration's
// error (nothing changed).
func (a *App) serveReload(w http.ResponseWriter, r *http.Request) {
	ch, err := a.ReloadConfig()
	detail := "refused"
	if err == nil {
		detail = fmt.Sprintf("%d streams added, %d removed, %d changed; %d destinations added, %d removed, %d changed, %d kept",
			len(ch.StreamsAdded), len(ch.StreamsRemoved), len(ch.StreamsChanged),
			len(ch.DestinationsAdded), len(ch.DestinationsRemoved), len(ch.DestinationsChanged), ch.Kept)
	}
	a.accounts.Audit(r, "config.reload", "", detail)
	switch {
	case errors.Is(err, ErrNoConfigSource):
		httpjson.Error(w, http.StatusNotImplemented, "this Beffroi was started without a configuration file to read again")
	case err != nil:
		httpjson.Error(w, http.StatusUnprocessableEntity, err.Error())
	default:
		httpjson.Write(w, http.StatusOK, ch)
	}
}
