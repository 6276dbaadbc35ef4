package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
)

// player is one RTMP player (mode=play) reading a stream from the server under test.
type player struct {
	conn net.Conn
	out  *recv
}

// dialPlayer sets up a play session with gortmplib's Client, then hands the connection to a
// chunkReader, started by run.
func dialPlayer(ctx context.Context, u *url.URL, win *window, capacity int) (*player, *chunkReader, error) {
	var rc *recordingConn
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		rc = &recordingConn{Conn: c, recording: true}
		return rc, nil
	}
	cl := &gortmplib.Client{URL: u, Publish: false, DialContext: dial}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.Initialize(ictx); err != nil {
		return nil, nil, fmt.Errorf("play %s: %w", u.Redacted(), err)
	}
	pending, err := rc.takeOver()
	if err != nil {
		rc.Close()
		return nil, nil, err
	}
	out := newRecv(capacity)
	return &player{conn: rc.Conn, out: out}, newChunkReader(rc.Conn, pending, win, out), nil
}

// readerSet runs the readers of one measurement point: players, or the sessions of the push
// sink.
type readerSet struct {
	mu    sync.Mutex
	conns []net.Conn
	recvs []*recv
	wg    sync.WaitGroup
}

// add registers a connection and its measurements, and runs its reader.
func (s *readerSet) add(c net.Conn, out *recv, cr *chunkReader) {
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.recvs = append(s.recvs, out)
	s.mu.Unlock()
	s.wg.Go(func() { out.err = cr.run() })
}

// track registers a connection still being set up, so that close closes it.
func (s *readerSet) track(c net.Conn) {
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
}

// snapshot returns the readers registered so far.
func (s *readerSet) snapshot() []*recv {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*recv(nil), s.recvs...)
}

// receiving counts the readers that got at least one stamped frame.
func (s *readerSet) receiving() int {
	n := 0
	for _, r := range s.snapshot() {
		if r.media.Load() {
			n++
		}
	}
	return n
}

// bytes sums the bytes received by every reader.
func (s *readerSet) bytes() uint64 {
	var n uint64
	for _, r := range s.snapshot() {
		n += r.bytes.Load()
	}
	return n
}

// closeConns closes every connection registered so far.
func (s *readerSet) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// close closes every connection and waits for the readers to return.
func (s *readerSet) close() {
	s.closeConns()
	s.wg.Wait()
}

// attachPlayers connects n players, a few at a time, within the deadline of ctx.
func attachPlayers(ctx context.Context, set *readerSet, u *url.URL, n int, win *window, capacity int) error {
	const parallel = 16
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			p, cr, err := dialPlayer(ctx, u, win, capacity)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			set.add(p.conn, p.out, cr)
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d players failed, first: %w", len(errs), n, errs[0])
	}
	return nil
}

// sink is the RTMP server push destinations publish to: a gortmplib ServerConn accepts each
// session, then a chunkReader measures it like a player. Sessions wait at a gate before their
// handshake, so that the server's memory can be measured with its destinations connecting but
// no media flowing to them yet.
type sink struct {
	ln       net.Listener
	gate     chan struct{}
	win      *window
	capacity int
	set      *readerSet
	done     chan struct{}
	wg       sync.WaitGroup
}

// startSink listens on a free loopback port.
func startSink(win *window, capacity int, set *readerSet) (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	s := &sink{ln: ln, gate: make(chan struct{}), win: win, capacity: capacity, set: set, done: make(chan struct{})}
	s.wg.Go(s.serve)
	return s, nil
}

func (s *sink) addr() string { return s.ln.Addr().String() }

// open lets waiting and future sessions proceed.
func (s *sink) open() { close(s.gate) }

func (s *sink) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.set.track(c)
		s.wg.Go(func() { s.handle(c) })
	}
}

func (s *sink) handle(c net.Conn) {
	select {
	case <-s.gate:
	case <-s.done:
		return
	case <-time.After(2 * time.Minute):
		c.Close()
		return
	}
	rc := &recordingConn{Conn: c, recording: true}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	sc := &gortmplib.ServerConn{RW: rc}
	if err := sc.Initialize(); err != nil {
		c.Close()
		return
	}
	if len(rc.log) > 0 && rc.log[0] != 3 {
		c.Close() // encrypted RTMP (RTMPE): not parsable here, and no server under test sends it
		return
	}
	if err := sc.AcceptConn(); err != nil {
		c.Close()
		return
	}
	if !sc.Publish {
		_ = sc.RejectAction()
		c.Close()
		return
	}
	if err := sc.AcceptAction(); err != nil {
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	pending, err := rc.takeOver()
	if err != nil {
		c.Close()
		return
	}
	out := newRecv(s.capacity)
	s.set.add(c, out, newChunkReader(c, pending, s.win, out))
}

// close stops accepting, closes every session and waits for their goroutines.
func (s *sink) close() {
	close(s.done)
	s.ln.Close()
	s.set.closeConns()
	s.wg.Wait() // sessions still setting up fail at once on their closed connection
	s.set.close()
}

// waitReceiving waits until want readers received a stamped frame, or the deadline.
func waitReceiving(ctx context.Context, set *readerSet, want int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		got := set.receiving()
		if got >= want || time.Now().After(deadline) || ctx.Err() != nil {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}
