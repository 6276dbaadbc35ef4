package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every *RefusedError.
var ErrRefused = errors.New("address refused")

// RefusedError is the error of a dial refused by a Guard. Its message names the address (which
// the operator wrote, or a name resolved to) and the opt-in, never a URL.
type RefusedError struct {
	Addr netip.Addr
	// Range says what kind of address it is ("loopback", "private", ...).
	Range string
	// Private is true when the opt-in (allow_private) would let it through; false for
	// addresses nothing may reach (unspecified, multicast, broadcast, reserved).
	Private bool
}

// Error implements error.
func (e *RefusedError) Error() string {
	if e.Private {
		return fmt.Sprintf("address %s is on a private network (%s): destinations reach only public addresses unless the destination has allow_private: true (set by an admin) or outputs.allow_private_networks is on",
			e.Addr, e.Range)
	}
	return fmt.Sprintf("address %s (%s) cannot be a destination", e.Addr, e.Range)
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Guard checks the addresses a destination connects to. The zero value refuses every
// non-public address and resolves names with the system's resolver.
type Guard struct {
	// AllowPrivate lets private, loopback, link-local (cloud metadata included) and other
	// non-public unicast addresses through. Unspecified, multicast, broadcast and reserved
	// addresses stay refused.
	AllowPrivate bool
	// Resolver resolves names (nil: net.DefaultResolver). Tests give one that asks a DNS
	// server of their own on 127.0.0.1.
	Resolver *net.Resolver
}

// Check returns a *RefusedError when the guard refuses a.
func (g Guard) Check(a netip.Addr) error {
	c, why := Classify(a)
	switch {
	case c == Public, c == Private && g.AllowPrivate:
		return nil
	}
	return &RefusedError{Addr: a.WithZone(""), Range: why, Private: c == Private}
}

// Control is a net.Dialer ControlContext: it runs after resolution, before the socket
// connects, on the very address being dialled, so that neither a name nor a rebinding DNS
// answer can lead the connection elsewhere.
func (g Guard) Control(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("netguard: %s address %q: %w", network, address, err)
	}
	return g.Check(ap.Addr())
}

// Dialer returns a net.Dialer whose connections go only where the guard allows.
func (g Guard) Dialer(timeout, keepAlive time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: keepAlive, Resolver: g.Resolver, ControlContext: g.Control}
}

// ResolveUDP resolves host:port for a UDP protocol that dials by itself (SRT): it returns the
// first address the guard allows, as ip:port to dial as is, or the refusal of the first address
// when none is allowed.
func (g Guard) ResolveUDP(ctx context.Context, hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		r := g.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return "", err
		}
		if len(addrs) == 0 {
			return "", fmt.Errorf("lookup %s: no address", host)
		}
	}
	var first error
	for _, a := range addrs {
		err := g.Check(a)
		if err == nil {
			return net.JoinHostPort(a.Unmap().String(), port), nil
		}
		if first == nil {
			first = err
		}
	}
	return "", first
}
