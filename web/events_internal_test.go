package web

import (
	"testing"
	"time"
)

func TestSlowSocketDropped(t *testing.T) {
	s := &Server{}
	h := s.events()
	slow := &socket{out: make(chan []byte, 1), done: make(chan struct{})}
	fast := &socket{out: make(chan []byte, 4), done: make(chan struct{})}
	h.subs[slow], h.subs[fast] = struct{}{}, struct{}{}
	h.broadcast(message{Type: "event", Time: time.Now()})
	h.broadcast(message{Type: "event", Time: time.Now()}) // slow's queue is full now
	select {
	case <-slow.done:
	default:
		t.Fatal("a socket with a full queue was kept")
	}
	select {
	case <-fast.done:
		t.Fatal("a socket that keeps up was closed")
	default:
	}
	if _, ok := h.subs[slow]; ok {
		t.Fatal("the slow socket is still subscribed")
	}
	if len(fast.out) != 2 {
		t.Fatalf("fast socket has %d messages, want 2", len(fast.out))
	}
}
