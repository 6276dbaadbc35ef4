package clientip

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestMiddleware(t *testing.T) {
	trusted, err := ParsePrefixes([]string{"127.0.0.2", "127.0.1.0/24", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy", "127.0.0.9:4000", nil, "127.0.0.9"},
		{"untrusted peer's header ignored", "127.0.0.9:4000", []string{"127.0.0.50"}, "127.0.0.9"},
		{"trusted proxy", "127.0.0.2:4000", []string{"127.0.0.50"}, "127.0.0.50"},
		{"forged left part ignored", "127.0.0.2:4000", []string{"127.0.0.66, 127.0.0.50"}, "127.0.0.50"},
		{"chain of trusted proxies", "127.0.0.2:4000", []string{"127.0.0.50, 127.0.1.7", "127.0.1.8"}, "127.0.0.50"},
		{"all trusted: leftmost", "127.0.0.2:4000", []string{"127.0.1.7"}, "127.0.1.7"},
		{"garbled header: the peer", "127.0.0.2:4000", []string{"127.0.0.50, nonsense"}, "127.0.0.2"},
		{"no header: the peer", "127.0.0.2:4000", nil, "127.0.0.2"},
		{"ipv6 proxy", "[::1]:4000", []string{"::ffff:127.0.0.50"}, "127.0.0.50"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got netip.Addr
			h := Middleware(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = Addr(r) }))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got.String() != c.want {
				t.Fatalf("client %s, want %s", got, c.want)
			}
		})
	}
}

func TestNoTrustedProxyTrustsNoHeader(t *testing.T) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if h := Middleware(nil, next); h == nil {
		t.Fatal("nil handler")
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "127.0.0.9:1"
	r.Header.Set("X-Forwarded-For", "127.0.0.50")
	var got netip.Addr
	Middleware(nil, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = Addr(r) })).ServeHTTP(httptest.NewRecorder(), r)
	if got.String() != "127.0.0.9" {
		t.Fatalf("client %s", got)
	}
}

func TestParsePrefixesNamesTheEntry(t *testing.T) {
	if _, err := ParsePrefixes([]string{"127.0.0.1", "proxy.local"}); err == nil || err.Error() != `[1]: "proxy.local" is neither an address nor a CIDR like 10.0.0.0/8` {
		t.Fatalf("error %v", err)
	}
}

func TestKey(t *testing.T) {
	a := netip.MustParseAddr("2001:db8:1:2:3:4:5:6")
	b := netip.MustParseAddr("2001:db8:1:2:ffff::1")
	if Key(a) != Key(b) || Key(a) != "2001:db8:1:2::/64" {
		t.Fatalf("keys %s %s", Key(a), Key(b))
	}
	if Key(netip.MustParseAddr("127.0.0.1")) != "127.0.0.1" {
		t.Fatal("ipv4 key")
	}
}
