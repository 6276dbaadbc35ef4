package whep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/internal/clientip"
	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/relay/transcode"
)

// Protocol is the name of WHEP viewers in logs and in the audience counts.
const Protocol = "whep"

// maxOfferSize bounds the SDP offer a client may POST.
const maxOfferSize = 64 << 10

// mediaWait is how long an offer waits for a stream that just went live to have tracks.
const mediaWait = 5 * time.Second

// DefaultMaxLag is Config.MaxLag's default, and the configuration's whep.max_lag default (5 s,
// what viewers got when WHEP followed outputs.max_lag).
const DefaultMaxLag = 5 * time.Second

// Audience counts viewers. Join is called when a viewer's session connects; the returned
// leave is called once, when the session ends.
type Audience interface {
	Join(stream, protocol string) (leave func())
}

// Renditions gives viewers the stream they need when the source's codecs do not fit WebRTC
// (an AAC source gets Opus). *transcode.Renditions implements it (see its Fit).
type Renditions interface {
	Fit(ctx context.Context, src *relay.Stream, needs transcode.Needs) (*relay.Stream, func(), error)
}

// needs returns what a WebRTC viewer accepts: the same for every viewer, so every viewer of a
// stream shares one rendition. No B-frames: Chromium shows them as a slideshow (it decodes
// the keyframes only, see bench/README.md), so a source with B-frames (OBS's and x264's
// default) is re-encoded without them, once for every viewer.
func needs() transcode.Needs {
	return transcode.Needs{
		Video:     []relay.Codec{relay.H264, relay.VP8},
		Audio:     []relay.Codec{relay.Opus},
		NoBFrames: true,
	}
}

// Config configures a Server.
type Config struct {
	// Net is the shared WebRTC network (one UDP port for WHIP and WHEP). Required.
	Net *rtcnet.Net
	// Renditions makes Opus audio for AAC sources and re-encodes video with B-frames; nil:
	// AAC sources play without audio, and sources with B-frames are refused.
	Renditions Renditions
	// Audience counts viewers; nil counts nothing. SetAudience may set it later.
	Audience Audience
	// Operator reports whether a request carries an operator's session or token. A play
	// request marked with audience.PreviewHeader by an operator is the console's preview: it plays
	// like any other, and Audience never hears of it. Nil: every viewer counts.
	Operator func(*http.Request) bool
	// MaxLag is how far behind live a viewer may fall (a starved CPU) before it skips to
	// the newest keyframe. Zero: DefaultMaxLag.
	MaxLag time.Duration
	// Admission caps the sessions pending on the shared port, with WHIP's (webrtc.max_pending,
	// webrtc.max_pending_per_address); nil: caps of this server's own, of the defaults.
	Admission *rtcnet.Admission
	// Logger receives one line per session event; nil discards.
	Logger *slog.Logger

	// Tests only. hook, when set, is called at the places a session's code runs (where:
	// "state", "session", "frame"), so that a test can make one panic; pendingTimeout
	// replaces rtcnet.PendingTimeout.
	hook           func(where string)
	pendingTimeout time.Duration
}

// Server plays streams to WHEP viewers.
type Server struct {
	reg      *relay.Registry
	cfg      Config
	log      *slog.Logger
	api      *webrtc.API
	audience atomic.Pointer[Audience]
	sessions sync.WaitGroup
	adm      *rtcnet.Admission

	mu     sync.Mutex
	closed bool
	byID   map[string]*session
}

// New prepares the WebRTC engine for viewers.
func New(reg *relay.Registry, c Config) (*Server, error) {
	if reg == nil {
		return nil, errors.New("whep: no registry")
	}
	if c.Net == nil {
		return nil, errors.New("whep: no WebRTC network")
	}
	if c.MaxLag <= 0 {
		c.MaxLag = DefaultMaxLag
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
	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, fmt.Errorf("whep: codecs: %w", err)
	}
	ir, err := newInterceptors()
	if err != nil {
		return nil, fmt.Errorf("whep: interceptors: %w", err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(c.Net.SettingEngine()))
	s := &Server{
		reg: reg, cfg: c, log: log.With("protocol", Protocol), api: api,
		adm: c.Admission, byID: map[string]*session{},
	}
	s.SetAudience(c.Audience)
	return s, nil
}

// nackHistory is how many packets of each video track a viewer can have resent: about
// 0.75 s at 3 Mbit/s, more than a round trip.
const nackHistory = 256

// newInterceptors returns what a viewer's PeerConnection needs, and only that: a viewer
// only receives, so pion's defaults for receiving (NACK generation, receiver reports,
// congestion feedback) and its statistics are left out. What stays: resending what the
// viewer lost, and sender reports, which let the viewer synchronise audio and video.
func newInterceptors() (*interceptor.Registry, error) {
	ir := &interceptor.Registry{}
	// The history keeps the packets' own headers and their shared payloads, which are never
	// modified (see sharedTrack): no copy.
	responder, err := nack.NewResponderInterceptor(nack.ResponderSize(nackHistory), nack.DisableCopy())
	if err != nil {
		return nil, err
	}
	ir.Add(responder)
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(sr)
	return ir, nil
}

// SetAudience sets (or, with nil, removes) the viewer counter. Sessions already connected
// keep the counter they joined.
func (s *Server) SetAudience(a Audience) {
	if a == nil {
		s.audience.Store(nil)
		return
	}
	s.audience.Store(&a)
}

// Sessions returns the number of sessions (answered, connecting or playing).
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// Close ends every session and returns once their goroutines have returned. The shared
// network stays open: its owner closes it.
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

// Handler serves POST /whep/{stream} (play), DELETE /whep/{stream}/{session} (stop), PATCH
// /whep/{stream}/{session} (405: no trickle ICE, the answer carries every candidate) and
// OPTIONS (CORS preflight: any site may embed the player). Mount it at /whep/ without
// stripping the prefix.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whep/{stream}", s.post)
	mux.HandleFunc("DELETE /whep/{stream}/{session}", s.delete)
	mux.HandleFunc("PATCH /whep/{stream}/{session}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "DELETE, OPTIONS")
		http.Error(w, "trickle ICE and ICE restarts are not supported: the answer carries every candidate", http.StatusMethodNotAllowed)
	})
	return rtcnet.Signalling(mux, "/whep/")
}

// httpError is a refusal: the status and the message the viewer gets.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func refuse(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// post answers a viewer's offer and starts its session.
func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	log := s.log.With("remote", r.RemoteAddr)
	defer rtcnet.Recover(log, "answering an offer", func(string) {
		http.Error(w, "internal error", http.StatusInternalServerError)
	})
	st := s.reg.Get(name)
	if st == nil {
		// The name is not logged: it is whatever a stranger typed.
		log.Info("play refused: unknown stream")
		http.Error(w, "no such stream", http.StatusNotFound)
		return
	}
	log = log.With("stream", name)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/sdp" {
		log.Info("play refused: the offer is not application/sdp")
		http.Error(w, "the offer must be sent as Content-Type: application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxOfferSize+1))
	if err != nil {
		http.Error(w, "reading the offer: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxOfferSize {
		log.Info("play refused: offer too large")
		http.Error(w, "offer too large", http.StatusRequestEntityTooLarge)
		return
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(string(body)); err != nil {
		log.Info("play refused: invalid offer", "error", err)
		http.Error(w, "invalid SDP offer: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(d.MediaDescriptions) == 0 {
		log.Info("play refused: the offer has no media")
		http.Error(w, "invalid SDP offer: no media section (offer to receive video and audio)", http.StatusBadRequest)
		return
	}
	if err := waitMedia(r.Context(), st); err != nil {
		// Not a bad request: players waiting for the broadcast ask again every few seconds,
		// thousands of them on a big night.
		log.Debug("play refused", "reason", err.Error())
		http.Error(w, err.Error(), err.status)
		return
	}

	release, ok := s.adm.Admit(w, clientip.Addr(r), log, "play")
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
	uncounted := r.Header.Get(audience.PreviewHeader) != "" && s.cfg.Operator != nil && s.cfg.Operator(r)
	ss, answer, err := s.start(st, id, &d, string(body), release, uncounted, log.With("session", id))
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{status: http.StatusInternalServerError, msg: err.Error()}
		}
		log.Info("play refused", "status", he.status, "reason", he.msg)
		http.Error(w, he.msg, he.status)
		return
	}
	handed = true
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whep/"+name+"/"+id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
	ss.log.Info("WHEP session answered", "video", ss.videoCodec(), "audio", ss.audioCodec(), "rendition", ss.rendition)
}

// waitMedia returns nil once st is live with tracks. A stream that just went live has its
// tracks within a second or two (ingest analyses the first media); an offline stream is
// refused at once.
func waitMedia(ctx context.Context, st *relay.Stream) *httpError {
	wctx, cancel := context.WithTimeout(ctx, mediaWait)
	defer cancel()
	err := st.WaitMedia(wctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, relay.ErrNotLive):
		return refuse(http.StatusNotFound, "stream %q is offline: nothing to play until it goes live", st.Name())
	case ctx.Err() != nil:
		return refuse(http.StatusServiceUnavailable, "request cancelled")
	default:
		return refuse(http.StatusServiceUnavailable, "stream %q is starting: no media yet, try again in a few seconds", st.Name())
	}
}

// delete ends a session at the viewer's request.
func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ss := s.byID[r.PathValue("session")]
	s.mu.Unlock()
	if ss == nil || ss.stream.Name() != r.PathValue("stream") {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	ss.stop("viewer sent DELETE")
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
