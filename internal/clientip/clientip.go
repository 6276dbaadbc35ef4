// Package clientip tells who a request comes from: the peer's address, or, when the peer is
// a proxy the operator trusts (http.trusted_proxies), the client address the proxy
// forwarded. It is the one place that reads forwarded headers; everything else (login
// limits, the audit log, per-address caps) reads Addr.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParsePrefixes parses http.trusted_proxies: CIDRs ("10.0.0.0/8") or single addresses
// ("127.0.0.1", a /32 or /128).
func ParsePrefixes(l []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range l {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %q is neither an address nor a CIDR like 10.0.0.0/8", i, s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Middleware makes the request's RemoteAddr the client's when the peer is a trusted proxy:
// X-Forwarded-For is read from the right, skipping the trusted proxies, and the first other
// address is the client (a client cannot forge what the proxies appended after it). Without
// a trusted peer, or with no usable header, RemoteAddr stays the peer's. With no trusted
// proxy at all it returns next unchanged.
func Middleware(trusted []netip.Prefix, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := Addr(r)
		if !peer.IsValid() || !contains(trusted, peer) {
			next.ServeHTTP(w, r)
			return
		}
		if c, ok := forwarded(r.Header.Values("X-Forwarded-For"), trusted); ok {
			r2 := r.Clone(r.Context())
			r2.RemoteAddr = netip.AddrPortFrom(c, 0).String()
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// forwarded returns the rightmost address of the X-Forwarded-For lists that is not a trusted
// proxy, or the leftmost when all are.
func forwarded(values []string, trusted []netip.Prefix) (netip.Addr, bool) {
	var addrs []netip.Addr
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(f))
			if err != nil {
				return netip.Addr{}, false // a garbled list: trust none of it
			}
			addrs = append(addrs, a.Unmap())
		}
	}
	for i := len(addrs) - 1; i >= 0; i-- {
		if !contains(trusted, addrs[i]) {
			return addrs[i], true
		}
	}
	if len(addrs) > 0 {
		return addrs[0], true
	}
	return netip.Addr{}, false
}

func contains(l []netip.Prefix, a netip.Addr) bool {
	for _, p := range l {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr is the address a request comes from (after Middleware: the client behind a trusted
// proxy); the zero Addr when RemoteAddr is not an address (tests).
func Addr(r *http.Request) netip.Addr {
	return FromString(r.RemoteAddr)
}

// FromString parses "host:port" or a bare address, as RemoteAddr and net.Addr.String give
// them.
func FromString(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Key is what per-address limits count by: the IPv4 address, or the /64 of an IPv6 address
// (one subscriber's network: a client can pick any address in it).
func Key(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
