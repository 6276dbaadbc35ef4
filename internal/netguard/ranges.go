package netguard

import (
	"net/netip"
)

// Class is what kind of address a destination would connect to.
type Class int

// Classes of addresses.
const (
	// Public: a global unicast address, what platforms have.
	Public Class = iota
	// Private: loopback, private, link-local (cloud metadata), shared (CGNAT) and other
	// non-global unicast ranges. Refused unless the destination opted in.
	Private
	// Never: unspecified, multicast, broadcast and reserved addresses, refused always.
	Never
)

// span is one range of the deny list.
type span struct {
	prefix netip.Prefix
	class  Class
	what   string
}

// spans is the deny list, from the IANA special-purpose registries (RFC 6890 and its
// updates), most specific first where ranges nest. A function, not a package variable: the
// table is read-only.
func spans() []span {
	p := netip.MustParsePrefix
	return []span{
		// IPv4
		{p("0.0.0.0/8"), Never, "unspecified, \"this network\""},
		{p("10.0.0.0/8"), Private, "private"},
		{p("100.64.0.0/10"), Private, "shared address space, carrier-grade NAT"},
		{p("127.0.0.0/8"), Private, "loopback"},
		{p("169.254.169.254/32"), Private, "link-local, cloud metadata service"},
		{p("169.254.0.0/16"), Private, "link-local"},
		{p("172.16.0.0/12"), Private, "private"},
		{p("192.0.0.0/24"), Private, "IETF protocol assignments"},
		{p("192.0.2.0/24"), Private, "documentation"},
		{p("192.88.99.0/24"), Private, "6to4 relay anycast"},
		{p("192.168.0.0/16"), Private, "private"},
		{p("198.18.0.0/15"), Private, "benchmarking"},
		{p("198.51.100.0/24"), Private, "documentation"},
		{p("203.0.113.0/24"), Private, "documentation"},
		{p("224.0.0.0/4"), Never, "multicast"},
		{p("255.255.255.255/32"), Never, "broadcast"},
		{p("240.0.0.0/4"), Never, "reserved"},
		// IPv6 (the forms that embed an IPv4 address are handled before this table)
		{p("::/128"), Never, "unspecified"},
		{p("::1/128"), Private, "loopback"},
		{p("64:ff9b:1::/48"), Private, "local-use NAT64"},
		{p("100::/64"), Never, "discard-only"},
		{p("2001::/23"), Private, "IETF protocol assignments"},
		{p("2001:db8::/32"), Private, "documentation"},
		{p("fc00::/7"), Private, "unique local (private)"},
		{p("fe80::/10"), Private, "link-local"},
		{p("fec0::/10"), Private, "site-local (deprecated)"},
		{p("ff00::/8"), Never, "multicast"},
	}
}

// Classify says what kind of address a is and, unless it is Public, which range it is in.
// IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible
// ::a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4 2002:aabb:ccdd::) are judged by that IPv4 address,
// so that ::ffff:127.0.0.1 or 64:ff9b::a9fe:a9fe is what it leads to.
func Classify(a netip.Addr) (Class, string) {
	if !a.IsValid() {
		return Never, "invalid"
	}
	a = a.WithZone("")
	if v4, form, ok := embedded(a); ok {
		c, what := Classify(v4)
		if c == Public {
			return Public, ""
		}
		return c, what + ", as " + form + " " + v4.String()
	}
	for _, s := range spans() {
		if s.prefix.Contains(a) {
			return s.class, s.what
		}
	}
	if a.Is6() && !netip.MustParsePrefix("2000::/3").Contains(a) {
		// Outside global unicast: nothing a platform uses.
		return Never, "reserved"
	}
	return Public, ""
}

// embedded returns the IPv4 address an IPv6 address stands for, and the name of the form.
func embedded(a netip.Addr) (netip.Addr, string, bool) {
	if !a.Is6() {
		return netip.Addr{}, "", false
	}
	b := a.As16()
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]}) }
	switch {
	case a.Is4In6():
		return a.Unmap(), "IPv4-mapped", true
	case netip.MustParsePrefix("64:ff9b::/96").Contains(a):
		return v4(12), "NAT64", true
	case netip.MustParsePrefix("2002::/16").Contains(a):
		return v4(2), "6to4", true
	case netip.MustParsePrefix("::/96").Contains(a) && a != netip.IPv6Unspecified() && a != netip.IPv6Loopback():
		return v4(12), "IPv4-compatible", true
	}
	return netip.Addr{}, "", false
}
