package netnstest

import (
	"errors"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dialFromPhone returns a UDP socket of the phone's namespace, connected to addr: it is made
// on a thread that joined the namespace (a socket stays in the namespace it was made in).
// The thread is thrown away afterwards.
func dialFromPhone(t *testing.T, p *Phone, addr string) net.Conn {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		ns, err := os.Open("/run/netns/" + p.Namespace)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, err}
			return
		}
		c, err := net.Dial("udp", addr)
		ch <- result{c, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("a socket in the phone's namespace: %v", r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

// echo serves UDP echoes on the host's end of the link until the test ends.
func echo(t *testing.T, p *Phone) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(p.HostIP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	return pc.LocalAddr().String()
}

// roundTrip sends one packet and waits up to wait for its echo.
func roundTrip(c net.Conn, wait time.Duration) (time.Duration, error) {
	start := time.Now()
	if _, err := c.Write([]byte("ping")); err != nil {
		return 0, err
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 16)
	if _, err := c.Read(buf); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func TestLinkDelaysBothWays(t *testing.T) {
	p := New(t)
	c := dialFromPhone(t, p, echo(t, p))
	if _, err := roundTrip(c, 5*time.Second); err != nil {
		t.Fatalf("no echo through a clean link: %v", err)
	}
	delay := 40 * time.Millisecond
	p.Impair(Impairment{Delay: delay}, Impairment{Delay: delay})
	for range 5 {
		rtt, err := roundTrip(c, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// A lower bound only: a loaded machine makes it longer, never shorter.
		if rtt < 2*delay {
			t.Errorf("round trip %v through a link delaying %v each way", rtt, delay)
		}
	}
}

func TestLinkLosesAndCuts(t *testing.T) {
	p := New(t)
	c := dialFromPhone(t, p, echo(t, p))
	p.Impair(Impairment{Loss: 0.3}, Impairment{})
	const n = 400
	for range n {
		_, _ = roundTrip(c, 100*time.Millisecond)
	}
	s := p.Stats()
	t.Logf("after %d pings with 30%% loss up: %+v", n, s)
	// 30% of 400 is 120, give or take 9 (one standard deviation).
	if s.Up.Lost < 80 || s.Up.Lost > 160 || s.Down.Lost != 0 {
		t.Errorf("link stats %+v after %d pings with 30%% loss on the way up only", s, n)
	}
	if s.Up.Forwarded+s.Up.Lost != n {
		t.Errorf("the link saw %d packets up, want %d", s.Up.Forwarded+s.Up.Lost, n)
	}

	p.Impair(Impairment{}, Impairment{})
	p.Cut()
	var ne net.Error
	if _, err := roundTrip(c, 300*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("an echo through a cut link: %v", err)
	}
	if s := p.Stats(); s.Up.Cut != 1 {
		t.Errorf("link stats %+v after one ping through the cut", s)
	}
	p.Restore()
	if _, err := roundTrip(c, 5*time.Second); err != nil {
		t.Errorf("no echo once the link is restored: %v", err)
	}
}
