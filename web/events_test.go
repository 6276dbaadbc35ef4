package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/web"
)

// mutableDestinations lets a test change what the API reports.
type mutableDestinations struct {
	mu sync.Mutex
	m  map[string][]outputs.Status
}

func (d *mutableDestinations) List(stream string) []outputs.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]outputs.Status(nil), d.m[stream]...)
}

func (d *mutableDestinations) set(stream string, l ...outputs.Status) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[stream] = l
}

type wsMessage struct {
	Type    string `json:"type"`
	Streams []struct {
		Name   string `json:"name"`
		State  string `json:"state"`
		Tracks []struct {
			Frames uint64 `json:"frames"`
		} `json:"tracks"`
	} `json:"streams"`
	Events []struct {
		Stream, Kind, Subject, Level, Message string
	} `json:"events"`
}

func TestEventsSocket(t *testing.T) {
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: time.Minute})
	t.Cleanup(reg.StopAll)
	st, err := reg.Add("concert", liveKey)
	if err != nil {
		t.Fatal(err)
	}
	dests := &mutableDestinations{m: map[string][]outputs.Status{}}
	dests.set("concert", outputs.Status{Name: "youtube", Protocol: "rtmp", Host: "a.rtmp.youtube.com", Enabled: true, State: outputs.StateIdle})
	s := web.New(web.Options{Registry: reg, Destinations: dests})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()

	ws, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/events", nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	defer ws.Close()
	msgs := make(chan wsMessage, 100)
	go func() {
		defer close(msgs)
		for {
			var m wsMessage
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			msgs <- m
		}
	}()
	next := func(match func(wsMessage) bool, what string) wsMessage {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("socket closed while waiting for %s", what)
				}
				if match(m) {
					return m
				}
			case <-deadline:
				t.Fatalf("no %s", what)
			}
		}
	}
	hello := next(func(m wsMessage) bool { return m.Type == "hello" }, "hello")
	if len(hello.Streams) != 1 || hello.Streams[0].State != "idle" {
		t.Fatalf("hello: %+v", hello)
	}
	event := func(kind, contains string) {
		t.Helper()
		next(func(m wsMessage) bool {
			return m.Type == "event" && len(m.Events) == 1 && m.Events[0].Kind == kind && strings.Contains(m.Events[0].Message, contains)
		}, kind+" event with "+contains)
	}

	p := st.Publish(relay.SourceInfo{Protocol: "rtmp", RemoteAddr: "192.0.2.9:4000"})
	event("stream_live", "rtmp from 192.0.2.9:4000")
	v, err := relay.NewH264Track(testutil.SPS720(), testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	if v, err = p.SetTrack(v); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		d := time.Duration(i) * time.Second / 30
		_ = p.WriteFrame(&relay.Frame{Track: v, DTS: d, PTS: d, Key: i == 0, Units: [][]byte{make([]byte, 100)}})
	}
	// Stats every second, with the frames published.
	next(func(m wsMessage) bool {
		return m.Type == "stats" && len(m.Streams) == 1 && len(m.Streams[0].Tracks) == 1 && m.Streams[0].Tracks[0].Frames == 10
	}, "stats with 10 frames")

	dests.set("concert", outputs.Status{Name: "youtube", Protocol: "rtmp", Host: "a.rtmp.youtube.com", Enabled: true,
		State: outputs.StateRetrying, LastError: "connect: refused"})
	event("destination", "retrying: connect: refused")
	dests.set("concert", outputs.Status{Name: "youtube", Protocol: "rtmp", Host: "a.rtmp.youtube.com", Enabled: true, State: outputs.StateLive})
	event("destination", "destination live")
	p.Close()
	event("publisher", "publisher lost")

	// A second socket gets the log so far in its hello.
	ws2, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws2.Close()
	var h2 wsMessage
	if err := ws2.ReadJSON(&h2); err != nil {
		t.Fatal(err)
	}
	if h2.Type != "hello" || len(h2.Events) < 4 {
		t.Fatalf("second hello: %+v", h2)
	}
	b, _ := json.Marshal(h2)
	testutil.AssertNoSecret(t, "events", string(b), liveKey)

	// A page from another site cannot open the socket.
	hdr := http.Header{"Origin": {"https://evil.example"}}
	if _, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/events", hdr); err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin socket: %v, %v", err, res)
	}

	// Shutdown closes the sockets.
	cancel()
	<-ran
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-msgs:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("socket still open after Run returned")
		}
	}
}
