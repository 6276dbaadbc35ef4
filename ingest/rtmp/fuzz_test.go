package rtmp

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/ingest/internal/guard"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// replayConn is a connection that delivers recorded client bytes, then EOF, and swallows
// what the server writes: a session replayed without a peer, at full speed.
type replayConn struct {
	r *bytes.Reader
}

func (c *replayConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *replayConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *replayConn) Close() error                { return nil }
func (c *replayConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1935}
}
func (c *replayConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

// recordClient returns the bytes a gortmplib client sends to reach the server at path (with
// key) and publish (or play) there, recorded by a proxy on loopback in front of a real server.
func recordClient(t testing.TB, ts *testServer, path, key string, publish bool) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var rec bytes.Buffer
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		up, err := net.Dial("tcp", ts.addr)
		if err != nil {
			return
		}
		defer up.Close()
		go func() { _, _ = io.Copy(c, up); c.Close() }() // ends when up is closed below
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			mu.Lock()
			rec.Write(buf[:n])
			mu.Unlock()
			if _, werr := up.Write(buf[:n]); err != nil || werr != nil {
				return
			}
		}
	})
	u := ts.url("rtmp", path, key)
	u.Host = ln.Addr().String()
	if publish {
		if e, err := newEncoder(t, u, nil); err == nil {
			_ = e.send(300 * time.Millisecond) // a sequence header, then media
			e.c.Close()
		}
	} else if c, err := connect(t, u, false, nil); err == nil {
		c.Close()
	}
	ln.Close()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return bytes.Clone(rec.Bytes())
}

// fuzzServer is a server for one replayed session: a registry with the test stream, readers
// allowed, the limiter with its defaults.
func fuzzServer(logger *slog.Logger) (*Server, *relay.Registry) {
	reg := relay.NewRegistry(relay.RegistryOptions{})
	if _, err := reg.Add(streamName, publishKey); err != nil {
		panic(err)
	}
	s := &Server{Registry: reg, AllowRead: true, ReadTimeout: time.Second, Logger: logger}
	s.keys = guard.NewFailures(logger, guard.Limits{})
	return s, reg
}

// FuzzHandle feeds what a stranger sends (the handshake, then chunked AMF commands: connect,
// createStream, publish or play, media) to the connection handler, seeded by real client
// sessions. Whatever arrives, the handler returns, and no log line holds the publish key
// nor the wrong key of the seeds.
func FuzzHandle(f *testing.F) {
	const wrongKey = "pk-conseil-wrong-fuzz"
	ts := startServer(f, nil)
	seeds := [][]byte{
		recordClient(f, ts, "/live", publishKey, true),
		recordClient(f, ts, "/live", wrongKey, true),
		recordClient(f, ts, "/other", wrongKey, true),
		recordClient(f, ts, "/live", streamName, false),
	}
	ts.stop()
	// The seeds get past the handshake: the replayed wrong key is refused as such.
	logs := &testutil.LogBuffer{}
	s, reg := fuzzServer(logs.Logger())
	s.handle(context.Background(), &replayConn{r: bytes.NewReader(seeds[1])})
	reg.StopAll()
	if !strings.Contains(logs.String(), "publish refused: unknown publish key") {
		f.Fatalf("the recorded session does not replay:\n%s", logs)
	}
	for _, b := range seeds {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		logs := &testutil.LogBuffer{}
		s, reg := fuzzServer(logs.Logger())
		defer reg.StopAll()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.handle(context.Background(), &replayConn{r: bytes.NewReader(in)})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the handler still runs 10 s after its input ended:\n%s", testutil.Stacks())
		}
		testutil.AssertNoSecret(t, "the log", logs.String(), publishKey, wrongKey)
	})
}
