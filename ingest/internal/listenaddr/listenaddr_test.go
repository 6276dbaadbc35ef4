package listenaddr

import (
	"net"
	"testing"
)

func TestPort(t *testing.T) {
	for _, c := range []struct {
		bound      net.Addr
		configured string
		want       string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41000}, ":1935", "41000"},
		{&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 42000}, ":8890", "42000"},
		{nil, ":1936", "1936"},
		{nil, "127.0.0.1:0", "1935"},
		{nil, "", "1935"},
	} {
		if got := Port(c.bound, c.configured, 1935); got != c.want {
			t.Errorf("Port(%v, %q) = %s, want %s", c.bound, c.configured, got, c.want)
		}
	}
}
