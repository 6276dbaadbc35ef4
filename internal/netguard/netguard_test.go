package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeDNS answers every A question with 127.0.0.1 (and AAAA with nothing), on 127.0.0.1: a
// public-looking name that leads to loopback, as a rebinding DNS would answer at dial time.
func fakeDNS(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for range 100 { // bounded: a test asks a few questions
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var m dnsmessage.Message
			if err := m.Unpack(buf[:n]); err != nil || len(m.Questions) != 1 {
				continue
			}
			q := m.Questions[0]
			m.Response, m.Authoritative, m.RCode = true, true, dnsmessage.RCodeSuccess
			if q.Type == dnsmessage.TypeA {
				m.Answers = []dnsmessage.Resource{{
					Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 0},
					Body:   &dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}},
				}}
			}
			out, err := m.Pack()
			if err != nil {
				continue
			}
			_, _ = pc.WriteTo(out, from)
		}
	}()
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr) // only ever our server on 127.0.0.1
	}}
}

const publicName = "rtmp.platform.example.com"

func TestDialRefusesANameThatResolvesToLoopback(t *testing.T) {
	res := fakeDNS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	// By default: refused before the socket connects.
	_, err = Guard{Resolver: res}.Dialer(5*time.Second, 0).DialContext(ctx, "tcp", net.JoinHostPort(publicName, port))
	var re *RefusedError
	if !errors.As(err, &re) || !errors.Is(err, ErrRefused) || re.Addr != netip.MustParseAddr("127.0.0.1") || !re.Private {
		t.Fatalf("dial %s (resolving to 127.0.0.1): %v, want a refusal of 127.0.0.1", publicName, err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1 is on a private network (loopback)") {
		t.Errorf("error: %v", err)
	}

	// With the opt-in: connected.
	c, err := Guard{Resolver: res, AllowPrivate: true}.Dialer(5*time.Second, 0).DialContext(ctx, "tcp", net.JoinHostPort(publicName, port))
	if err != nil {
		t.Fatalf("dial with AllowPrivate: %v", err)
	}
	defer c.Close()
	// The first connection the listener sees is the allowed one: the refused dial never
	// reached it.
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	got, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.RemoteAddr().String() != c.LocalAddr().String() {
		t.Errorf("the listener's first connection is from %s, not the allowed dial (%s): the refused dial connected", got.RemoteAddr(), c.LocalAddr())
	}
}

func TestResolveUDP(t *testing.T) {
	res := fakeDNS(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		hostport string
		allow    bool
		want     string // "" when refused
	}{
		{publicName + ":8890", false, ""},
		{publicName + ":8890", true, "127.0.0.1:8890"},
		{"127.0.0.1:8890", false, ""},
		{"[::ffff:127.0.0.1]:8890", false, ""},
		{"[::ffff:127.0.0.1]:8890", true, "127.0.0.1:8890"},
		{"169.254.169.254:80", false, ""},
		{"224.0.0.1:8890", true, ""},
		{"8.8.8.8:8890", false, "8.8.8.8:8890"}, // parsed, not dialled
	} {
		got, err := Guard{Resolver: res, AllowPrivate: tc.allow}.ResolveUDP(ctx, tc.hostport)
		if tc.want == "" {
			if !errors.Is(err, ErrRefused) {
				t.Errorf("ResolveUDP(%s, allow=%v) = %q, %v: want refused", tc.hostport, tc.allow, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolveUDP(%s, allow=%v) = %q, %v; want %q", tc.hostport, tc.allow, got, err, tc.want)
		}
	}
}
