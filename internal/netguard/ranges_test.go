package netguard

import (
	"net/netip"
	"strings"
	"testing"
)

// TestClassify is the deny list over parsed addresses: nothing is dialled.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		class Class
		what  string // a part of the range's name
	}{
		{"8.8.8.8", Public, ""},
		{"1.1.1.1", Public, ""},
		{"142.250.180.14", Public, ""},
		{"172.15.255.255", Public, ""},
		{"172.32.0.1", Public, ""},
		{"100.63.255.255", Public, ""},
		{"100.128.0.1", Public, ""},
		{"2a00:1450:4007:80c::200e", Public, ""},
		{"2001:4860:4860::8888", Public, ""},
		{"::ffff:8.8.8.8", Public, ""},
		{"64:ff9b::808:808", Public, ""},
		{"2002:808:808::1", Public, ""},

		{"10.0.0.1", Private, "private"},
		{"10.255.255.255", Private, "private"},
		{"172.16.0.1", Private, "private"},
		{"172.31.255.255", Private, "private"},
		{"192.168.1.1", Private, "private"},
		{"127.0.0.1", Private, "loopback"},
		{"127.1.2.3", Private, "loopback"},
		{"169.254.169.254", Private, "cloud metadata"},
		{"169.254.1.1", Private, "link-local"},
		{"100.64.0.1", Private, "carrier-grade NAT"},
		{"100.127.255.254", Private, "carrier-grade NAT"},
		{"192.0.0.8", Private, "IETF"},
		{"198.18.0.1", Private, "benchmarking"},
		{"203.0.113.7", Private, "documentation"},
		{"::1", Private, "loopback"},
		{"fc00::1", Private, "unique local"},
		{"fd12:3456:789a::1", Private, "unique local"},
		{"fe80::1", Private, "link-local"},
		{"fe80::1%eth0", Private, "link-local"},
		{"febf:ffff::1", Private, "link-local"},
		{"fec0::1", Private, "site-local"},
		{"2001:db8::1", Private, "documentation"},
		{"64:ff9b:1::a00:1", Private, "NAT64"},

		// IPv6 forms of IPv4 addresses are judged by the IPv4 address.
		{"::ffff:127.0.0.1", Private, "loopback, as IPv4-mapped 127.0.0.1"},
		{"::ffff:169.254.169.254", Private, "cloud metadata service, as IPv4-mapped"},
		{"::ffff:10.1.2.3", Private, "private, as IPv4-mapped"},
		{"64:ff9b::7f00:1", Private, "loopback, as NAT64 127.0.0.1"},
		{"64:ff9b::a9fe:a9fe", Private, "cloud metadata service, as NAT64 169.254.169.254"},
		{"64:ff9b::c0a8:101", Private, "private, as NAT64 192.168.1.1"},
		{"2002:7f00:1::1", Private, "loopback, as 6to4"},
		{"2002:a9fe:a9fe::", Private, "cloud metadata service, as 6to4"},
		{"::127.0.0.1", Private, "loopback, as IPv4-compatible"},

		{"0.0.0.0", Never, "unspecified"},
		{"0.1.2.3", Never, "unspecified"},
		{"::", Never, "unspecified"},
		{"::ffff:0.0.0.0", Never, "unspecified"},
		{"224.0.0.1", Never, "multicast"},
		{"239.255.255.250", Never, "multicast"},
		{"ff02::1", Never, "multicast"},
		{"ff05::1:3", Never, "multicast"},
		{"255.255.255.255", Never, "broadcast"},
		{"::ffff:255.255.255.255", Never, "broadcast"},
		{"240.0.0.1", Never, "reserved"},
		{"100::1", Never, "discard"},
		{"4000::1", Never, "reserved"},
	} {
		a := netip.MustParseAddr(tc.addr)
		c, what := Classify(a)
		if c != tc.class || !strings.Contains(what, tc.what) {
			t.Errorf("Classify(%s) = %d %q, want %d containing %q", tc.addr, c, what, tc.class, tc.what)
		}
		// The guard follows the class: the opt-in lifts Private, never Never.
		for _, allow := range []bool{false, true} {
			err := Guard{AllowPrivate: allow}.Check(a)
			want := tc.class == Never || (tc.class == Private && !allow)
			if (err != nil) != want {
				t.Errorf("Guard{AllowPrivate: %v}.Check(%s) = %v, want refused=%v", allow, tc.addr, err, want)
			}
		}
	}
	if c, _ := Classify(netip.Addr{}); c != Never {
		t.Errorf("the zero Addr is %d, want Never", c)
	}
}

func TestRefusedErrorSaysWhatToDo(t *testing.T) {
	err := Guard{}.Check(netip.MustParseAddr("127.0.0.1"))
	for _, want := range []string{"127.0.0.1", "private network", "loopback", "allow_private", "outputs.allow_private_networks"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	err = Guard{AllowPrivate: true}.Check(netip.MustParseAddr("224.0.0.1"))
	if err == nil || strings.Contains(err.Error(), "allow_private") {
		t.Errorf("a multicast address must be refused without pointing at the opt-in: %v", err)
	}
}
