// Package rtcnet owns the network side WebRTC sessions share: one UDP port for every peer's
// media, whoever the peer is (a phone publishing over WHIP, a viewer over WHEP), and the
// candidate-gathering rules (interfaces, addresses announced behind NAT). Each protocol
// builds its own pion API (its codecs, its interceptors) from SettingEngine.
package rtcnet

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// socketBuffer is the size asked for the shared socket's kernel buffers.
const socketBuffer = 4 << 20

// tcpReadBuffer is how many packets an ICE-TCP connection buffers before its reader.
const tcpReadBuffer = 64

// Config configures the shared WebRTC network.
type Config struct {
	// UDPPort is the one UDP port every peer's media uses (ICE UDP mux). 0 picks a free
	// port (tests).
	UDPPort int
	// TCPPort is the one TCP port of ICE-TCP (passive candidates), the fallback of peers whose
	// network blocks UDP. 0 picks a free port (tests); -1 disables ICE-TCP.
	TCPPort int
	// PublicIPs are announced to peers in place of the local addresses (a server behind a
	// 1:1 NAT, such as a cloud VM with an elastic IP). Empty: the interfaces' own addresses.
	PublicIPs []string
	// Interfaces restricts candidate gathering to these network interfaces (["lo"] in
	// tests). Empty: every interface. Naming "lo" also enables loopback candidates.
	Interfaces []string
	// STUNServers ("stun:host:port") give peers a server-reflexive candidate. Note that pion
	// gathers those on ephemeral ports, outside the shared UDP port: prefer PublicIPs.
	STUNServers []string
}

// Net is the open shared socket and the settings every PeerConnection is made with.
type Net struct {
	cfg     Config
	udpConn net.PacketConn
	udpMux  ice.UDPMux
	tcpLn   net.Listener // nil when ICE-TCP is off
	tcpMux  ice.TCPMux
	se      webrtc.SettingEngine
}

// Listen opens the shared UDP socket.
func Listen(c Config) (*Net, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{Port: c.UDPPort})
	if err != nil {
		return nil, fmt.Errorf("listen udp :%d: %w", c.UDPPort, err)
	}
	// Every peer's media shares this socket: the kernel's default buffer (about 200 KB)
	// overflows when a few keyframes arrive together. Best effort: the kernel caps it at
	// net.core.rmem_max / wmem_max.
	_ = conn.SetReadBuffer(socketBuffer)
	_ = conn.SetWriteBuffer(socketBuffer)
	mux := webrtc.NewICEUDPMux(nil, conn)
	n := &Net{cfg: c, udpConn: conn, udpMux: mux}
	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if c.TCPPort >= 0 {
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{Port: c.TCPPort})
		if err != nil {
			_ = n.Close()
			return nil, fmt.Errorf("listen tcp :%d (ICE-TCP): %w", c.TCPPort, err)
		}
		n.tcpLn = ln
		n.tcpMux = webrtc.NewICETCPMux(nil, ln, tcpReadBuffer)
		se.SetICETCPMux(n.tcpMux)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	}
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	if len(c.Interfaces) > 0 {
		allowed := map[string]bool{}
		for _, i := range c.Interfaces {
			allowed[i] = true
		}
		se.SetInterfaceFilter(func(name string) bool { return allowed[name] })
		if allowed["lo"] {
			se.SetIncludeLoopbackCandidate(true)
		}
	}
	if len(c.PublicIPs) > 0 {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: c.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost,
		})
		if err != nil {
			_ = n.Close()
			return nil, fmt.Errorf("public IPs: %w", err)
		}
	}
	n.se = se
	return n, nil
}

// SettingEngine returns the settings a PeerConnection on the shared port is made with.
func (n *Net) SettingEngine() webrtc.SettingEngine { return n.se }

// ICEServers returns the configured STUN servers in the form a PeerConnection takes.
func (n *Net) ICEServers() []webrtc.ICEServer {
	if len(n.cfg.STUNServers) == 0 {
		return nil
	}
	return []webrtc.ICEServer{{URLs: n.cfg.STUNServers}}
}

// UDPAddr returns the address of the shared UDP socket.
func (n *Net) UDPAddr() net.Addr { return n.udpConn.LocalAddr() }

// TCPAddr returns the address of the ICE-TCP listener, nil when ICE-TCP is off.
func (n *Net) TCPAddr() net.Addr {
	if n.tcpLn == nil {
		return nil
	}
	return n.tcpLn.Addr()
}

// Close closes the shared socket. Close the sessions using it first.
func (n *Net) Close() error {
	err := n.udpMux.Close()
	if cerr := n.udpConn.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	if n.tcpMux != nil {
		_ = n.tcpMux.Close()
		if cerr := n.tcpLn.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	}
	return err
}
