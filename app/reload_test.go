package app

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/web/manage"
)

func destNames(a *App, stream string) []string {
	var l []string
	for _, s := range a.Outputs.List(stream) {
		l = append(l, s.Name)
	}
	slices.Sort(l)
	return l
}

// TestReloadAppliesStreamsAndDestinations: a reload adds, removes and changes what the file
// says, marks what it manages, lists the keys that need a restart, and refuses as a whole a
// file whose stream name a console stream already has.
func TestReloadAppliesStreamsAndDestinations(t *testing.T) {
	cfg := loopbackConfig(t)
	off := false
	cfg.Streams = []config.Stream{
		{Name: "event", PublishKey: "event-key-0123456789", Destinations: []config.Destination{
			{Name: "keep", URL: "rtmp://127.0.0.1:1/live/k1"},
			{Name: "gone", URL: "rtmp://127.0.0.1:1/live/k2"},
			{Name: "moved", URL: "rtmp://127.0.0.1:1/live/k3"},
			{Name: "paused", URL: "rtmp://127.0.0.1:1/live/k4", Enabled: &off},
		}},
		{Name: "old", PublishKey: "old-key-0123456789"},
	}
	a, err := New(cfg, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Store.Close() })

	on := true
	next := *cfg
	next.HTTP.Addr = "127.0.0.1:1"
	next.Streams = []config.Stream{
		{Name: "event", PublishKey: "event-key-rotated-0123", Destinations: []config.Destination{
			{Name: "keep", URL: "rtmp://127.0.0.1:1/live/k1"},
			{Name: "moved", URL: "rtmp://127.0.0.1:2/live/k3"},
			{Name: "paused", URL: "rtmp://127.0.0.1:1/live/k4", Enabled: &on},
			{Name: "new", URL: "rtmp://127.0.0.1:1/live/k5"},
		}},
		{Name: "fresh", PublishKey: "fresh-key-0123456789"},
	}
	ch, err := a.Reload(&next)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.StreamsAdded, []string{"fresh"}) || !slices.Equal(ch.StreamsRemoved, []string{"old"}) ||
		!slices.Equal(ch.StreamsChanged, []string{"event"}) || ch.Kept != 1 ||
		!slices.Equal(ch.DestinationsAdded, []string{"event/new"}) || !slices.Equal(ch.DestinationsRemoved, []string{"event/gone"}) ||
		!slices.Equal(ch.DestinationsChanged, []string{"event/moved", "event/paused"}) ||
		!slices.Equal(ch.NeedsRestart, []string{"http.addr"}) {
		t.Fatalf("changes %+v", ch)
	}
	if got := destNames(a, "event"); !slices.Equal(got, []string{"keep", "moved", "new", "paused"}) {
		t.Fatalf("destinations %v", got)
	}
	for _, s := range a.Outputs.List("event") {
		if s.Name == "paused" && !s.Enabled {
			t.Errorf("paused was switched on by the file")
		}
	}
	if a.Registry.Get("old") != nil || a.Registry.Get("fresh") == nil {
		t.Fatal("streams not added or removed")
	}
	if a.Registry.Authenticate("event-key-rotated-0123") == nil || a.Registry.Authenticate("event-key-0123456789") != nil {
		t.Fatal("the publish key was not changed")
	}
	if !a.managed("fresh", "") || a.managed("old", "") || !a.managed("event", "new") || a.managed("event", "gone") {
		t.Fatal("managed marks not updated")
	}

	// A stream made in the console has the name a new stream of the file wants: refused as a
	// whole, nothing changed.
	if err := a.Store.CreateStream(context.Background(), manage.Stream{Name: "console"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Registry.Add("console", "console-key-0123456789"); err != nil {
		t.Fatal(err)
	}
	bad := next
	bad.Streams = append(slices.Clone(next.Streams[:1]), config.Stream{Name: "console", PublishKey: "x-key-0123456789"})
	if _, err := a.Reload(&bad); err == nil || !strings.Contains(err.Error(), `streams "console"`) {
		t.Fatalf("reload over a console stream: %v", err)
	}
	if a.Registry.Get("fresh") == nil || a.managed("console", "") {
		t.Fatal("a refused reload changed something")
	}
	// An invalid file: refused with its key, nothing changed.
	inv := next
	inv.ReconnectGrace = -1
	inv.Streams = nil
	if _, err := a.Reload(&inv); err == nil || !strings.Contains(err.Error(), "reconnect_grace") {
		t.Fatalf("invalid reload: %v", err)
	}
	if a.Registry.Get("fresh") == nil {
		t.Fatal("an invalid reload changed something")
	}
}
