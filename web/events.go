package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/beffroi/beffroi/outputs"
)

// Live updates on /api/v1/events. One watcher compares snapshots of every stream four times a
// second and turns what changed into events (a publisher connected, a destination retrying
// with its error); every second it sends the streams' stats. Each message is encoded once and
// handed to every socket's bounded queue; a socket whose queue is full is too slow to follow
// the event and is closed (the console reconnects and gets a fresh snapshot).
const (
	watchInterval = 250 * time.Millisecond
	statsInterval = time.Second
	// socketQueue is how many messages a socket may have waiting to be written.
	socketQueue = 32
	// eventLogSize is how many recent events a new socket receives.
	eventLogSize = 200
	pingInterval = 20 * time.Second
	pongWait     = 2*pingInterval + 10*time.Second
	writeWait    = 10 * time.Second
)

// Event is one thing that happened, in words an operator reads in the stream page's log.
type Event struct {
	Time    time.Time `json:"time"`
	Stream  string    `json:"stream"`
	Kind    string    `json:"kind"` // stream_live, stream_idle, publisher, destination
	Subject string    `json:"subject,omitempty"`
	Level   string    `json:"level"` // info, warning, error
	Message string    `json:"message"`
}

// message is what a socket receives.
type message struct {
	Type    string       `json:"type"` // hello, stats, event
	Time    time.Time    `json:"time"`
	Streams []streamJSON `json:"streams,omitempty"`
	Events  []Event      `json:"events,omitempty"` // hello: the recent log; event: one
}

type hub struct {
	s        *Server
	upgrader *websocket.Upgrader

	mu   sync.Mutex
	subs map[*socket]struct{}
	log  []Event // the newest eventLogSize events, oldest first
	last map[string]streamJSON
}

type socket struct {
	conn *websocket.Conn
	out  chan []byte
	once sync.Once
	done chan struct{}
}

func (c *socket) close() {
	c.once.Do(func() { close(c.done) })
}

func newUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 16 << 10,
		// The default origin check refuses cross-site pages: a page elsewhere cannot watch
		// the console's events with the operator's cookie.
	}
}

// Run watches the streams for the event log and the live updates until ctx ends, then
// closes every events socket. Without it, /api/v1/events sends only its first snapshot.
func (s *Server) Run(ctx context.Context) {
	h := s.events()
	watch := time.NewTicker(watchInterval)
	defer watch.Stop()
	nextStats := time.Now().Add(statsInterval)
	for {
		select {
		case <-ctx.Done():
			h.closeAll()
			return
		case now := <-watch.C:
			h.diff(now)
			if !now.Before(nextStats) {
				nextStats = now.Add(statsInterval)
				h.stats(now)
			}
		}
	}
}

func (s *Server) events() *hub {
	s.hubOnce.Do(func() {
		s.hub = &hub{s: s, upgrader: newUpgrader(), subs: map[*socket]struct{}{}, last: map[string]streamJSON{}}
	})
	return s.hub
}

func (h *hub) snapshot() []streamJSON {
	list := []streamJSON{}
	for _, st := range h.s.o.Registry.List() {
		list = append(list, h.s.stream(st))
	}
	return list
}

// diff turns the changes since the last snapshot into events.
func (h *hub) diff(now time.Time) {
	cur := h.snapshot()
	h.mu.Lock()
	var evs []Event
	seen := map[string]bool{}
	for _, st := range cur {
		seen[st.Name] = true
		evs = append(evs, changes(now, h.last[st.Name], st)...)
		h.last[st.Name] = st
	}
	for name := range h.last {
		if !seen[name] {
			delete(h.last, name)
		}
	}
	h.log = append(h.log, evs...)
	if over := len(h.log) - eventLogSize; over > 0 {
		h.log = append(h.log[:0], h.log[over:]...)
	}
	h.mu.Unlock()
	for _, e := range evs {
		h.broadcast(message{Type: "event", Time: now, Events: []Event{e}})
	}
}

// changes lists what happened between two snapshots of a stream (prev is zero the first
// time a stream is seen: only what is live is told then).
func changes(now time.Time, prev, cur streamJSON) []Event {
	var out []Event
	add := func(kind, subject, level, msg string) {
		out = append(out, Event{Time: now, Stream: cur.Name, Kind: kind, Subject: subject, Level: level, Message: msg})
	}
	switch {
	case cur.State != prev.State && cur.State == "live" && prev.State == "reconnecting":
		add("publisher", "", "info", fmt.Sprintf("publisher back (%s from %s)", cur.Source.Protocol, cur.Source.RemoteAddr))
	case cur.State != prev.State && cur.State == "live":
		add("stream_live", "", "info", fmt.Sprintf("live: %s from %s", cur.Source.Protocol, cur.Source.RemoteAddr))
	case cur.State != prev.State && cur.State == "reconnecting":
		add("publisher", "", "warning", "publisher lost: waiting for it to come back (reconnect grace)")
	case cur.State != prev.State && cur.State == "idle" && prev.State != "":
		add("stream_idle", "", "info", "stream ended")
	}
	out = append(out, sourceChanges(now, prev, cur)...)
	before := map[string]destinationJSON{}
	for _, d := range prev.Destinations {
		before[d.Name] = d
	}
	for _, d := range cur.Destinations {
		p, known := before[d.Name]
		if !known && prev.Name != "" {
			add("destination", d.Name, "info", "destination added")
		}
		if known && p.State == d.State && p.LastError == d.LastError {
			continue
		}
		if !known && (d.State == outputs.StateIdle || d.State == outputs.StateDisabled) {
			continue
		}
		switch d.State {
		case outputs.StateLive:
			add("destination", d.Name, "info", "destination live")
		case outputs.StateConnecting:
			add("destination", d.Name, "info", "destination connecting")
		case outputs.StateRetrying:
			add("destination", d.Name, "error", "destination failed, retrying: "+d.LastError)
		case outputs.StateDisabled:
			add("destination", d.Name, "info", "destination switched off")
		case outputs.StateIdle:
			if known && p.State != outputs.StateDisabled {
				add("destination", d.Name, "info", "destination idle")
			}
		}
	}
	if prev.Name != "" {
		after := map[string]bool{}
		for _, d := range cur.Destinations {
			after[d.Name] = true
		}
		for _, d := range prev.Destinations {
			if !after[d.Name] {
				add("destination", d.Name, "info", "destination removed")
			}
		}
	}
	return out
}

func (h *hub) stats(now time.Time) {
	h.mu.Lock()
	n := len(h.subs)
	h.mu.Unlock()
	if n == 0 {
		return
	}
	h.broadcast(message{Type: "stats", Time: now, Streams: h.snapshot()})
}

// broadcast encodes m once and queues it on every socket; a socket that cannot take it is
// closed.
func (h *hub) broadcast(m message) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c.out <- b:
		default:
			delete(h.subs, c)
			c.close()
		}
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		delete(h.subs, c)
		c.close()
	}
}

// serveEvents serves GET /api/v1/events: a websocket of live updates.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	h := s.events()
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered the client with the reason
	}
	c := &socket{conn: conn, out: make(chan []byte, socketQueue), done: make(chan struct{})}
	h.mu.Lock()
	hello := message{Type: "hello", Time: time.Now(), Events: append([]Event(nil), h.log...)}
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	hello.Streams = h.snapshot()
	if b, err := json.Marshal(hello); err == nil {
		select {
		case c.out <- b:
		default: // already too slow: the loop below closes it
			c.close()
		}
	}

	// Reader: answers pongs and notices the client leaving; the client sends nothing else.
	// The handler owns it: closing the connection ends it, and the handler waits for it.
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer c.close()
		conn.SetReadLimit(4096)
		_ = conn.SetReadDeadline(time.Now().Add(pongWait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(pingInterval)
	defer func() {
		ping.Stop()
		h.mu.Lock()
		delete(h.subs, c)
		h.mu.Unlock()
		c.close()
		_ = conn.Close()
		<-read
	}()
	for {
		select {
		case b := <-c.out:
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		case <-c.done:
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "too slow or shutting down: reconnect"),
				time.Now().Add(time.Second))
			return
		}
	}
}

// sourceChanges tells a switch between a stream's backup sources: "failover to phone",
// "back to camera" (a source of higher priority), and the operator's manual choice.
func sourceChanges(now time.Time, prev, cur streamJSON) []Event {
	var out []Event
	add := func(subject, level, msg string) {
		out = append(out, Event{Time: now, Stream: cur.Name, Kind: "source", Subject: subject, Level: level, Message: msg})
	}
	if cur.ManualSource != prev.ManualSource && prev.Name != "" {
		if cur.ManualSource != "" {
			add(cur.ManualSource, "info", "source chosen by the operator: "+cur.ManualSource)
		} else {
			add(prev.ManualSource, "info", "sources back to automatic")
		}
	}
	if cur.OnAir == "" || prev.OnAir == "" || cur.OnAir == prev.OnAir {
		return out
	}
	prio := map[string]int{}
	for _, s := range cur.Sources {
		prio[s.Name] = s.Priority
	}
	if prio[cur.OnAir] < prio[prev.OnAir] {
		add(cur.OnAir, "info", "back to "+cur.OnAir+" (from "+prev.OnAir+")")
	} else {
		add(cur.OnAir, "warning", "failover to "+cur.OnAir+" (from "+prev.OnAir+")")
	}
	return out
}
