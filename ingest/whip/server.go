package whip

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/relay"
)

// protocol is the name of this ingest in logs and in the stream's source.
const protocol = "webrtc"

// DefaultKeyframeInterval is how often the publisher is asked for a keyframe when
// Config.KeyframeInterval is zero: live platforms want one every 2 s, and browsers send one
// only when asked.
const DefaultKeyframeInterval = 2 * time.Second

// maxOfferSize bounds the SDP offer a client may POST.
const maxOfferSize = 64 << 10

// connectTimeout ends a session whose peer never completes ICE and DTLS.
const connectTimeout = 20 * time.Second

// Config configures a Server.
type Config struct {
	// UDPPort is the one UDP port every peer's media uses (ICE UDP mux). 0 picks a free
	// port (tests).
	UDPPort int
	// PublicIPs are announced to peers in place of the local addresses (a server behind a
	// 1:1 NAT, such as a cloud VM with an elastic IP). Empty: the interfaces' own addresses.
	PublicIPs []string
	// Interfaces restricts candidate gathering to these network interfaces (["lo"] in
	// tests). Empty: every interface. Naming "lo" also enables loopback candidates.
	Interfaces []string
	// STUNServers ("stun:host:port") give peers a server-reflexive candidate. Note that pion
	// gathers those on ephemeral ports, outside the shared UDP port: prefer PublicIPs.
	STUNServers []string
	// KeyframeInterval is how often the publisher is asked for a keyframe (RTCP PLI).
	// Zero means DefaultKeyframeInterval.
	KeyframeInterval time.Duration
	// Logger receives one line per session event; nil discards.
	Logger *slog.Logger
}

// Server accepts WHIP publishers. Its Handler serves the HTTP side; every PeerConnection
// shares the one UDP socket the Server opened.
type Server struct {
	reg      *relay.Registry
	cfg      Config
	log      *slog.Logger
	api      *webrtc.API
	udpConn  net.PacketConn
	udpMux   interface{ Close() error }
	sessions sync.WaitGroup

	mu     sync.Mutex
	closed bool
	byID   map[string]*session
}

// New opens the shared UDP socket and prepares the WebRTC engine.
func New(reg *relay.Registry, c Config) (*Server, error) {
	if reg == nil {
		return nil, errors.New("whip: no registry")
	}
	if c.KeyframeInterval <= 0 {
		c.KeyframeInterval = DefaultKeyframeInterval
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{Port: c.UDPPort})
	if err != nil {
		return nil, fmt.Errorf("whip: listen udp :%d: %w", c.UDPPort, err)
	}
	mux := webrtc.NewICEUDPMux(nil, conn)
	api, err := newAPI(c, mux)
	if err != nil {
		_ = mux.Close()
		_ = conn.Close()
		return nil, err
	}
	return &Server{
		reg: reg, cfg: c, log: log.With("protocol", protocol), api: api,
		udpConn: conn, udpMux: mux, byID: map[string]*session{},
	}, nil
}

// UDPAddr returns the address of the shared UDP socket.
func (s *Server) UDPAddr() net.Addr { return s.udpConn.LocalAddr() }

// Close ends every session (their streams enter the reconnect grace) and closes the UDP
// socket. It returns once every session's goroutines have returned.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	list := make([]*session, 0, len(s.byID))
	for _, ss := range s.byID {
		list = append(list, ss)
	}
	s.mu.Unlock()
	for _, ss := range list {
		ss.stop("server shutting down")
	}
	s.sessions.Wait()
	err := s.udpMux.Close()
	if cerr := s.udpConn.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}

// newAPI builds the pion API every PeerConnection comes from: the codecs Beffroi takes, the
// default interceptors (NACK, RTCP reports, TWCC), and the shared UDP port.
func newAPI(c Config, mux ice.UDPMux) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, fmt.Errorf("whip: codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("whip: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
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
			return nil, fmt.Errorf("whip: public IPs: %w", err)
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se)), nil
}

// Handler serves POST /whip/{stream} (publish), DELETE /whip/{stream}/{session} (stop),
// PATCH /whip/{stream}/{session} (405: no trickle ICE, the answer carries every candidate)
// and OPTIONS (CORS preflight). Mount it on the HTTP mux at /whip/ without stripping the
// prefix.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whip/{stream}", s.post)
	mux.HandleFunc("DELETE /whip/{stream}/{session}", s.delete)
	mux.HandleFunc("PATCH /whip/{stream}/{session}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "DELETE, OPTIONS")
		http.Error(w, "trickle ICE and ICE restarts are not supported: the answer carries every candidate", http.StatusMethodNotAllowed)
	})
	mux.HandleFunc("OPTIONS /whip/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
		h.Set("Access-Control-Expose-Headers", "Location")
		mux.ServeHTTP(w, r)
	})
}

// post authenticates a publisher, answers its offer and starts its session.
func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	log := s.log.With("remote", r.RemoteAddr)
	// The stream name is logged only once it names a stream: a key pasted in the wrong
	// place stays out of the log.
	if s.reg.Get(name) != nil {
		log = log.With("stream", name)
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	st := s.reg.Authenticate(strings.TrimSpace(key))
	switch {
	case !ok || st == nil:
		log.Warn("publish refused: unknown publish key")
		w.Header().Set("WWW-Authenticate", `Bearer realm="beffroi"`)
		http.Error(w, "unknown publish key", http.StatusUnauthorized)
		return
	case st.Name() != name:
		log.Warn("publish refused: the publish key is not the key of the stream in the URL")
		w.Header().Set("WWW-Authenticate", `Bearer realm="beffroi"`)
		http.Error(w, "the publish key is not the key of this stream", http.StatusUnauthorized)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/sdp" {
		http.Error(w, "the offer must be sent as Content-Type: application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxOfferSize+1))
	if err != nil {
		http.Error(w, "reading the offer: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxOfferSize {
		http.Error(w, "offer too large", http.StatusRequestEntityTooLarge)
		return
	}
	offered, err := offeredCodecs(body)
	if err != nil {
		log.Warn("publish refused: invalid offer", "error", err)
		http.Error(w, "invalid SDP offer: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !anySupported(offered) {
		reason := "no codec Beffroi takes (video: H.264 or VP8; audio: Opus); offered: " + strings.Join(offered, ", ")
		log.Warn("publish refused: " + reason)
		http.Error(w, reason, http.StatusUnsupportedMediaType)
		return
	}

	id := newID()
	ss, answer, status, err := s.start(st, id, string(body), r.RemoteAddr, log.With("session", id))
	if err != nil {
		log.Warn("publish failed", "error", err)
		http.Error(w, err.Error(), status)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whip/"+name+"/"+id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
	ss.log.Info("WHIP session answered, waiting for media")
}

// delete ends a session at the publisher's request.
func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ss := s.byID[r.PathValue("session")]
	s.mu.Unlock()
	if ss == nil || ss.stream.Name() != r.PathValue("stream") {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	ss.stop("publisher sent DELETE")
	select {
	case <-ss.done:
	case <-r.Context().Done():
	}
	w.WriteHeader(http.StatusOK)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// offeredCodecs lists the codec names of an SDP offer's media ("H264", "VP9", "opus").
func offeredCodecs(offer []byte) ([]string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(string(offer)); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range d.MediaDescriptions {
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			_, rest, _ := strings.Cut(a.Value, " ")
			codec, _, _ := strings.Cut(rest, "/")
			if codec != "" && !seen[codec] {
				seen[codec] = true
				out = append(out, codec)
			}
		}
	}
	return out, nil
}

// anySupported reports whether one of the codecs is one Beffroi takes.
func anySupported(codecs []string) bool {
	for _, c := range codecs {
		switch strings.ToLower(c) {
		case "h264", "vp8", "opus":
			return true
		}
	}
	return false
}
