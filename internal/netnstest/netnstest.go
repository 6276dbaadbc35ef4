package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// Impairment is what one direction of the link does to packets, as tc netem's loss and
// delay options.
type Impairment struct {
	// Loss is the probability that a packet is dropped, from 0 to 1 (netem loss 2% = 0.02).
	Loss float64
	// Delay is how long every packet that is not lost takes.
	Delay time.Duration
	// Jitter spreads each packet's delay uniformly over Delay ± Jitter (netem delay 80ms
	// 40ms); packets may then overtake each other.
	Jitter time.Duration
}

func (im Impairment) String() string {
	return fmt.Sprintf("loss %.1f%%, delay %v ± %v", im.Loss*100, im.Delay, im.Jitter)
}

// DirectionStats counts what one direction of the link did.
type DirectionStats struct {
	Forwarded uint64 // packets delivered
	Lost      uint64 // packets dropped at random (the loss probability)
	Cut       uint64 // packets dropped while the link was cut
}

// Stats counts what the link did in each direction.
type Stats struct {
	Up   DirectionStats // from the phone to the host
	Down DirectionStats // from the host to the phone
}

// Phone is a network namespace joined to the host by an impaired point-to-point link.
type Phone struct {
	// Namespace is the name of the phone's network namespace (bfr-<random>).
	Namespace string
	// HostIP is the host's end of the link: servers the phone reaches listen there.
	HostIP netip.Addr
	// PhoneIP is the phone's end of the link.
	PhoneIP netip.Addr
	// HostInterface is the name of the host's end of the link (a TUN device).
	HostInterface string

	mu       sync.Mutex
	up, down Impairment
	cut      bool

	devices   [2]*os.File // the host's end, the phone's end
	upDir     direction
	downDir   direction
	forwarded sync.WaitGroup
}

// New makes a phone namespace and its link, with no impairment yet, and removes them when the
// test ends. It skips the test when it cannot (not root, no ip, no /dev/net/tun), or fails it
// under BEFFROI_E2E=require.
func New(t testing.TB) *Phone {
	t.Helper()
	if err := usable(); err != nil {
		msg := "network namespace tests: " + err.Error()
		if os.Getenv("BEFFROI_E2E") == "require" {
			t.Fatal(msg + "; BEFFROI_E2E=require")
		}
		t.Skip(msg)
	}
	p, err := build(t)
	if err != nil {
		t.Fatalf("network namespace: %v", err)
	}
	return p
}

// usable says why this machine cannot make phones, or nil.
func usable() error {
	if os.Geteuid() != 0 {
		return errors.New("they need root (network namespaces and TUN devices)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("they need iproute2's ip (apt-get install iproute2)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("they need /dev/net/tun: %w", err)
	}
	return nil
}

func build(t testing.TB) (*Phone, error) {
	var id [4]byte
	_, _ = rand.Read(id[:])
	suffix := hex.EncodeToString(id[:])
	host, phone, err := freeBlock()
	if err != nil {
		return nil, err
	}
	p := &Phone{Namespace: "bfr-" + suffix, HostIP: host, PhoneIP: phone, HostInterface: "bfrh" + suffix}
	phoneIf := "bfrp" + suffix
	if err := ip("netns", "add", p.Namespace); err != nil {
		return nil, err
	}
	t.Cleanup(p.remove)
	// Both devices are made here, in the host's namespace, and the phone's is then moved:
	// its file descriptor keeps working across the move.
	for i, name := range []string{p.HostInterface, phoneIf} {
		if p.devices[i], err = openTUN(name); err != nil {
			return nil, err
		}
	}
	steps := [][]string{
		{"link", "set", phoneIf, "netns", p.Namespace},
		// No IPv6 link-local address: nothing but the test's own traffic crosses the link.
		{"link", "set", p.HostInterface, "addrgenmode", "none"},
		{"-n", p.Namespace, "link", "set", phoneIf, "addrgenmode", "none"},
		{"addr", "add", host.String(), "peer", phone.String(), "dev", p.HostInterface},
		{"link", "set", p.HostInterface, "up"},
		{"-n", p.Namespace, "addr", "add", phone.String(), "peer", host.String(), "dev", phoneIf},
		{"-n", p.Namespace, "link", "set", phoneIf, "up"},
		{"-n", p.Namespace, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return nil, err
		}
	}
	p.upDir = direction{p: p, up: true, from: p.devices[1], to: p.devices[0]}
	p.downDir = direction{p: p, from: p.devices[0], to: p.devices[1]}
	p.forwarded.Add(2)
	go p.upDir.run(&p.forwarded)
	go p.downDir.run(&p.forwarded)
	return p, nil
}

// remove closes the link (the TUN devices go with their last descriptor) and deletes the
// namespace.
func (p *Phone) remove() {
	for _, f := range p.devices {
		if f != nil {
			f.Close()
		}
	}
	p.forwarded.Wait()
	_ = ip("netns", "del", p.Namespace)
}

// Impair sets what the link does from now on: up from the phone to the host, down from the
// host to the phone.
func (p *Phone) Impair(up, down Impairment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up, p.down = up, down
}

// Cut drops every packet in both directions until Restore (netem loss 100%): the phone's
// network is gone, its connections stay open on both ends.
func (p *Phone) Cut() { p.setCut(true) }

// Restore ends a Cut: the link's impairments apply again.
func (p *Phone) Restore() { p.setCut(false) }

func (p *Phone) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
}

// Stats returns what the link did so far.
func (p *Phone) Stats() Stats {
	return Stats{Up: p.upDir.stats(), Down: p.downDir.stats()}
}

// Command returns a command that runs name with args in the phone's namespace (ip netns
// exec), killed when ctx ends.
func (p *Phone) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", p.Namespace, name}, args...)...)
}

// Wrapper writes an executable script at path that runs the program at bin in the phone's
// namespace with the script's arguments (for tools that take a program's path, such as a
// browser driver's executable path).
func (p *Phone) Wrapper(path, bin string, args ...string) error {
	var b strings.Builder
	b.WriteString("#!/bin/sh\nexec ip netns exec " + p.Namespace + " " + bin)
	for _, a := range args {
		b.WriteString(" '" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	b.WriteString(` "$@"` + "\n")
	return os.WriteFile(path, []byte(b.String()), 0o755) //nolint:gosec // an executable script, by intent
}

// impairment returns what a direction does to a packet now.
func (p *Phone) impairment(up bool) (Impairment, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if up {
		return p.up, p.cut
	}
	return p.down, p.cut
}

// direction forwards one direction's packets from one device to the other.
type direction struct {
	p                     *Phone
	up                    bool
	from, to              *os.File
	forwarded, lost, cuts atomic.Uint64
}

func (d *direction) stats() DirectionStats {
	return DirectionStats{Forwarded: d.forwarded.Load(), Lost: d.lost.Load(), Cut: d.cuts.Load()}
}

// run forwards packets until the devices are closed. A delayed packet is written by a timer
// of its own, so that packets are independent, as on a real link.
func (d *direction) run(wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := d.from.Read(buf)
		if err != nil {
			return
		}
		im, cut := d.p.impairment(d.up)
		switch {
		case cut:
			d.cuts.Add(1)
			continue
		case im.Loss > 0 && mrand.Float64() < im.Loss: //nolint:gosec // a simulation, not a secret
			d.lost.Add(1)
			continue
		}
		d.forwarded.Add(1)
		delay := im.Delay
		if im.Jitter > 0 {
			delay += time.Duration(mrand.Int64N(int64(2*im.Jitter)+1)) - im.Jitter //nolint:gosec // a simulation
		}
		if delay <= 0 {
			_, _ = d.to.Write(buf[:n])
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		to := d.to
		time.AfterFunc(delay, func() { _, _ = to.Write(pkt) }) // fails once the link is closed: the packet is gone
	}
}

// TUN ioctl and flags (linux/if_tun.h).
const (
	tunSetIFF = 0x400454ca
	iffTUN    = 0x0001
	iffNoPI   = 0x1000
)

// openTUN makes a TUN device (IP packets, no extra header) and returns its descriptor,
// non-blocking so that closing it ends a pending read.
func openTUN(name string) (*os.File, error) {
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var ifr [40]byte // struct ifreq: the name, then the flags
	copy(ifr[:syscall.IFNAMSIZ-1], name)
	binary.NativeEndian.PutUint16(ifr[syscall.IFNAMSIZ:], iffTUN|iffNoPI)
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIFF, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, errno)
	}
	return os.NewFile(uintptr(fd), "tun "+name), nil
}

// freeBlock picks a /30 of 10.201.0.0/16 no interface of the host uses (tests of several
// processes run at once) and returns its two addresses.
func freeBlock() (host, phone netip.Addr, err error) {
	out, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		return host, phone, fmt.Errorf("ip addr show: %w", err)
	}
	used := string(out)
	for range 100 {
		n := mrand.IntN(1<<14) * 4 //nolint:gosec // picking a test subnet
		base := [4]byte{10, 201, byte(n >> 8), byte(n)}
		host, phone = netip.AddrFrom4(base).Next(), netip.AddrFrom4(base).Next().Next()
		if !strings.Contains(used, " "+host.String()+" ") && !strings.Contains(used, " "+phone.String()+" ") &&
			!strings.Contains(used, "peer "+host.String()+"/") && !strings.Contains(used, "peer "+phone.String()+"/") {
			return host, phone, nil
		}
	}
	return host, phone, errors.New("no free /30 in 10.201.0.0/16")
}

// ip runs iproute2's ip with args.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
