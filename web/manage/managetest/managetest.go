// Package managetest holds what tests of manage and of its stores share: an in-memory Store
// and the conformance test every Store implementation must pass.
package managetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/web/manage"
)

// MemStore is a manage.Store in memory.
type MemStore struct {
	mu      sync.Mutex
	streams []manage.Stream
	dests   []manage.Destination
}

// ListStreams implements manage.Store.
func (m *MemStore) ListStreams(context.Context) ([]manage.Stream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.streams), nil
}

// CreateStream implements manage.Store.
func (m *MemStore) CreateStream(_ context.Context, s manage.Stream) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.streams {
		if o.Name == s.Name {
			return fmt.Errorf("stream %q exists", s.Name)
		}
	}
	m.streams = append(m.streams, s)
	return nil
}

// SetStreamKey implements manage.Store.
func (m *MemStore) SetStreamKey(_ context.Context, name, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.streams {
		if m.streams[i].Name == name {
			m.streams[i].PublishKey = key
			return nil
		}
	}
	return fmt.Errorf("no stream %q", name)
}

// SetStreamRecord implements manage.Store.
func (m *MemStore) SetStreamRecord(_ context.Context, name string, on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.streams {
		if m.streams[i].Name == name {
			m.streams[i].NoRecord = !on
			return nil
		}
	}
	return fmt.Errorf("no stream %q", name)
}

// DeleteStream implements manage.Store.
func (m *MemStore) DeleteStream(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.streams = slices.DeleteFunc(m.streams, func(s manage.Stream) bool { return s.Name == name })
	m.dests = slices.DeleteFunc(m.dests, func(d manage.Destination) bool { return d.Stream == name })
	return nil
}

// ListDestinations implements manage.Store.
func (m *MemStore) ListDestinations(context.Context) ([]manage.Destination, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.dests), nil
}

// SaveDestination implements manage.Store.
func (m *MemStore) SaveDestination(_ context.Context, d manage.Destination) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.dests {
		if m.dests[i].Stream == d.Stream && m.dests[i].Name == d.Name {
			m.dests[i] = d
			return nil
		}
	}
	m.dests = append(m.dests, d)
	return nil
}

// DeleteDestination implements manage.Store.
func (m *MemStore) DeleteDestination(_ context.Context, stream, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dests = slices.DeleteFunc(m.dests, func(d manage.Destination) bool { return d.Stream == stream && d.Name == name })
	return nil
}

// StoreConformance checks that st (empty) behaves as manage.Store says.
func StoreConformance(t *testing.T, st manage.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if l, err := st.ListStreams(ctx); err != nil || len(l) != 0 {
		t.Fatalf("ListStreams on an empty store: %v, %v", l, err)
	}
	for _, n := range []string{"concert", "conseil"} {
		if err := st.CreateStream(ctx, manage.Stream{Name: n, PublishKey: "key-" + n, Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateStream(ctx, manage.Stream{Name: "concert", PublishKey: "other"}); err == nil {
		t.Fatal("CreateStream accepted a taken name")
	}
	if err := st.SetStreamKey(ctx, "concert", "key-2"); err != nil {
		t.Fatal(err)
	}
	l, err := st.ListStreams(ctx)
	if err != nil || len(l) != 2 {
		t.Fatalf("ListStreams: %v, %v", l, err)
	}
	slices.SortFunc(l, func(a, b manage.Stream) int { return strings.Compare(a.Name, b.Name) })
	if l[0].Name != "concert" || l[0].PublishKey != "key-2" || !l[0].Created.Equal(now) || l[0].NoRecord {
		t.Fatalf("stream after SetStreamKey: %+v", l[0])
	}
	if err := st.SetStreamRecord(ctx, "conseil", false); err != nil {
		t.Fatal(err)
	}
	if err := st.SetStreamRecord(ctx, "nope", false); err == nil {
		t.Fatal("SetStreamRecord of an unknown stream")
	}
	l, _ = st.ListStreams(ctx)
	slices.SortFunc(l, func(a, b manage.Stream) int { return strings.Compare(a.Name, b.Name) })
	if !l[1].NoRecord || l[0].NoRecord {
		t.Fatalf("after SetStreamRecord: %+v", l)
	}
	d := manage.Destination{Stream: "concert", Name: "youtube", URL: "rtmp://a.rtmp.youtube.com/live2/k", Enabled: true}
	if err := st.SaveDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Enabled = false
	d.URL = "rtmp://a.rtmp.youtube.com/live2/k2"
	d.AllowPrivate = true
	d.Shape = "vertical-blur"
	if err := st.SaveDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	_ = st.SaveDestination(ctx, manage.Destination{Stream: "conseil", Name: "youtube", URL: "rtmp://h/a/b", Enabled: true})
	_ = st.SaveDestination(ctx, manage.Destination{Stream: "file-stream", Name: "fb", URL: "rtmps://h/a/b", Enabled: true})
	ds, err := st.ListDestinations(ctx)
	if err != nil || len(ds) != 3 {
		t.Fatalf("ListDestinations: %+v, %v", ds, err)
	}
	for _, x := range ds {
		if x.Stream == "concert" && (x.Enabled || x.URL != d.URL || !x.AllowPrivate || x.Shape != d.Shape) {
			t.Fatalf("SaveDestination did not replace: %+v", x)
		}
		if x.Stream != "concert" && x.AllowPrivate {
			t.Fatalf("a destination saved without allow_private has it: %+v", x)
		}
	}
	if err := st.DeleteDestination(ctx, "conseil", "youtube"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteStream(ctx, "concert"); err != nil {
		t.Fatal(err)
	}
	ds, _ = st.ListDestinations(ctx)
	if len(ds) != 1 || ds[0].Stream != "file-stream" {
		t.Fatalf("after deletions: %+v", ds)
	}
	if l, _ := st.ListStreams(ctx); len(l) != 1 || l[0].Name != "conseil" {
		t.Fatalf("streams after deletion: %+v", l)
	}
}
