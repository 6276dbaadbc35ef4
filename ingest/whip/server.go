package whip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/ingest/internal/guard"
	"github.com/beffroi/beffroi/ingest/netstats"
	"github.com/beffroi/beffroi/internal/clientip"
	"github.com/beffroi/beffroi/internal/rtcnet"
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

// Config configures a Server.
type Config struct {
	// Net is the shared WebRTC network (one UDP port for every peer). Required.
	Net *rtcnet.Net
	// KeyframeInterval is how often the publisher is asked for a keyframe (RTCP PLI).
	// Zero means DefaultKeyframeInterval.
	KeyframeInterval time.Duration
	// Admission caps the sessions pending on the shared port, with WHEP's (webrtc.max_pending,
	// webrtc.max_pending_per_address); nil: caps of this server's own, of the defaults.
	Admission *rtcnet.Admission
	// Logger receives one line per session event; nil discards.
	Logger *slog.Logger

	// Tests only. hook, when set, is called at the places a session's code runs (where:
	// "state", "track", "session", "rtp"), so that a test can make one panic.
	hook func(where string)
	// pendingTimeout replaces rtcnet.PendingTimeout; now replaces time.Now for the
	// publish-key guard.
	pendingTimeout time.Duration
	now            func() time.Time
}

// Server accepts WHIP publishers. Its Handler serves the HTTP side; every PeerConnection
// uses the shared WebRTC network of Config.Net.
type Server struct {
	reg      *relay.Registry
	cfg      Config
	log      *slog.Logger
	api      *webrtc.API
	sessions sync.WaitGroup
	adm      *rtcnet.Admission
	keys     *guard.Failures // wrong publish keys per address

	mu     sync.Mutex
	closed bool
	byID   map[string]*session

	net   netstats.Board // what the network did to each stream's publishers
	nacks *nackCounter   // the NACKs sent, by media SSRC
}

// NetworkStats returns what the network did to the stream's WHIP publishers in its current
// live session: false when it is not live over WHIP.
func (s *Server) NetworkStats(stream string) (netstats.Counters, bool) {
	st := s.reg.Get(stream)
	if st == nil {
		return netstats.Counters{}, false
	}
	return s.net.Get(st)
}

// New prepares the WebRTC engine for publishers.
func New(reg *relay.Registry, c Config) (*Server, error) {
	if reg == nil {
		return nil, errors.New("whip: no registry")
	}
	if c.Net == nil {
		return nil, errors.New("whip: no WebRTC network")
	}
	if c.KeyframeInterval <= 0 {
		c.KeyframeInterval = DefaultKeyframeInterval
	}
	if c.Admission == nil {
		c.Admission = rtcnet.NewAdmission(0, 0)
	}
	if c.pendingTimeout <= 0 {
		c.pendingTimeout = rtcnet.PendingTimeout
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nacks := newNACKCounter()
	api, err := newAPI(c.Net, nacks)
	if err != nil {
		return nil, err
	}
	return &Server{
		reg: reg, cfg: c, log: log.With("protocol", protocol), api: api,
		adm:   c.Admission,
		keys:  guard.NewFailures(log.With("protocol", protocol), guard.Limits{Now: c.now}),
		byID:  map[string]*session{},
		nacks: nacks,
	}, nil
}

// Run sums up refused publish attempts in the log (one line per burst per address) until ctx
// is cancelled.
func (s *Server) Run(ctx context.Context) error {
	s.keys.Run(ctx)
	return nil
}

// Close ends every session (their streams enter the reconnect grace). It returns once every
// session's goroutines have returned. The shared network stays open: its owner closes it.
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
	return nil
}

// newAPI builds the pion API every publisher's PeerConnection comes from: the codecs
// Beffroi takes, the NACK counter, the default interceptors (NACK, RTCP reports, TWCC), and the shared
// network's settings.
func newAPI(n *rtcnet.Net, nacks *nackCounter) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, fmt.Errorf("whip: codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	// The NACK counter first: the interceptors registered after it write their RTCP
	// through it, pion's NACK generator included.
	ir.Add(nacks)
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("whip: interceptors: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(n.SettingEngine())), nil
}

// Handler serves POST /whip/{stream} (publish), DELETE /whip/{stream}/{session} (stop),
// PATCH /whip/{stream}/{session} (trickle ICE and ICE restarts, RFC 9725) and OPTIONS (CORS preflight). Mount it on the HTTP mux at /whip/ without stripping the
// prefix.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whip/{stream}", s.post)
	mux.HandleFunc("DELETE /whip/{stream}/{session}", s.delete)
	mux.HandleFunc("PATCH /whip/{stream}/{session}", s.patch)
	return rtcnet.Signalling(mux, "/whip/")
}

// post authenticates a publisher, answers its offer and starts its session. A wrong key is
// refused before anything else is done (no PeerConnection), and counts against the
// client's address: past guard.DefaultBurst failures, the address is refused for a while.
func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	log := s.log.With("remote", r.RemoteAddr)
	defer rtcnet.Recover(log, "answering an offer", func(string) {
		http.Error(w, "internal error", http.StatusInternalServerError)
	})
	addr := clientip.Addr(r)
	if !s.keys.Allowed(addr) {
		// Not logged here: the limiter sums the refusals up, one line per burst.
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(s.keys.BlockedFor(addr).Seconds())))))
		http.Error(w, "too many failed publish attempts: try again later", http.StatusTooManyRequests)
		return
	}
	// The stream name is logged only once it names a stream: a key pasted in the wrong
	// place stays out of the log.
	if s.reg.Get(name) != nil {
		log = log.With("stream", name)
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	st, source := s.reg.AuthenticateSource(strings.TrimSpace(key))
	switch {
	case !ok || st == nil:
		s.refuseKey(w, log, addr, "unknown publish key")
		return
	case st.Name() != name:
		s.refuseKey(w, log, addr, "the publish key is not the key of the stream in the URL")
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

	release, ok := s.adm.Admit(w, addr, log, "offer")
	if !ok {
		return
	}
	handed := false
	defer func() {
		if !handed {
			release()
		}
	}()
	id := newID()
	if source != "" {
		log = log.With("source", source)
	}
	ss, answer, status, err := s.start(st, source, id, string(body), r.RemoteAddr, release, log.With("session", id))
	if err != nil {
		log.Warn("publish failed", "error", err)
		http.Error(w, err.Error(), status)
		return
	}
	handed = true
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whip/"+name+"/"+id)
	w.Header().Set("ETag", ss.etag)
	w.Header().Set("Accept-Patch", sdpFragType)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
	ss.log.Info("WHIP session answered, waiting for media")
}

// refuseKey answers a publish attempt with a wrong key: 401 without saying more (whether
// the key is some other stream's is for the log only), counted against addr. A burst of
// failures from one address logs its first; the limiter sums the others up.
func (s *Server) refuseKey(w http.ResponseWriter, log *slog.Logger, addr netip.Addr, reason string) {
	if s.keys.Failed(addr) {
		log.Warn("publish refused: " + reason)
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="beffroi"`)
	http.Error(w, "invalid publish key", http.StatusUnauthorized)
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
