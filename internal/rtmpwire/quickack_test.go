package rtmpwire

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/beffroi/beffroi/internal/testutil"
)

// TestQuickAckReads: with quick acknowledgements on and off, reads deliver what the peer
// wrote, on TCP, on TLS over TCP, and on a connection that is not TCP (nothing to switch).
func TestQuickAckReads(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	tcp := func(t *testing.T) (net.Conn, net.Conn) {
		c, s := tcpPair(t)
		return c, s
	}
	cases := map[string]func(t *testing.T) (client, server net.Conn){
		"tcp": tcp,
		"tls": func(t *testing.T) (net.Conn, net.Conn) {
			c, s := tcp(t)
			tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
			ts := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}})
			done := make(chan error, 1)
			go func() { done <- ts.Handshake() }()
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			return tc, ts
		},
		"pipe": func(t *testing.T) (net.Conn, net.Conn) {
			c, s := net.Pipe()
			t.Cleanup(func() { c.Close(); s.Close() })
			return c, s
		},
	}
	for name, pair := range cases {
		t.Run(name, func(t *testing.T) {
			client, server := pair(t)
			if name != "pipe" && tcpOf(client) == nil {
				t.Fatalf("no TCP connection found under the %s client", name)
			}
			conn := NewConn(client)
			for _, on := range []bool{true, false} {
				conn.QuickAck(on)
				want := []byte("connect answer")
				go func() { _, _ = server.Write(want) }()
				got := make([]byte, len(want))
				if _, err := io.ReadFull(conn, got); err != nil {
					t.Fatalf("quick ack %v: read: %v", on, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("quick ack %v: read %q, want %q", on, got, want)
				}
			}
		})
	}
}
