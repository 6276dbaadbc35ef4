package rtsp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"

	"github.com/beffroi/beffroi/ingest/internal/guard"
	"github.com/beffroi/beffroi/internal/clientip"
	"github.com/beffroi/beffroi/relay"
)

// Protocol is the source protocol of streams published to the Server.
const Protocol = "rtsp"

// Server accepts RTSP publishers: ANNOUNCE then RECORD at rtsp://host:8554/<stream> with the
// stream's publish key either in the query (?key=<publishKey>) or as the password of Basic
// authentication (rtsp://any-user:<publishKey>@host:8554/<stream>). Media comes interleaved in
// the RTSP connection (TCP): a SETUP asking for UDP is answered 461 Unsupported Transport, after
// which ffmpeg and gortsplib clients fall back to TCP. Reading (DESCRIBE/PLAY) is refused.
type Server struct {
	// Addr is the TCP address to listen on (Beffroi uses ":8554").
	Addr string
	// Registry resolves publish keys and stream names.
	Registry *relay.Registry
	// ReadTimeout cuts off a connection that sends nothing for this long: a publisher whose
	// media stops, or a client that connects and stays silent (default 10 s).
	ReadTimeout time.Duration
	// Logger receives one line per publisher or refusal; nil discards.
	Logger *slog.Logger

	// keyLimits tunes the publish-key limiter (zero: guard's defaults); tests shorten it.
	keyLimits guard.Limits
	// onRecord and onPacket, when set, run once a publisher holds its stream and before each
	// of its packets is decoded: tests make them panic.
	onRecord, onPacket func()

	ln   *listener
	keys *guard.Failures // wrong publish keys per address
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) readTimeout() time.Duration {
	if s.ReadTimeout <= 0 {
		return 10 * time.Second
	}
	return s.ReadTimeout
}

// Listen binds the listener; Run then serves it. Separate so that callers (and tests using
// port 0) learn the address before serving.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("rtsp: listen %s: %w", s.Addr, err)
	}
	s.ln = &listener{Listener: ln, readTimeout: s.readTimeout(), log: s.logger(), done: make(chan struct{})}
	s.keys = guard.NewFailures(s.logger().With("protocol", Protocol), s.keyLimits)
	return nil
}

// ListenAddr returns the bound address.
func (s *Server) ListenAddr() net.Addr { return s.ln.Addr() }

// Run serves connections until ctx is cancelled, then closes every connection (publishers'
// streams enter their reconnect grace) and returns once every goroutine it started has.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	h := &handler{s: s, log: s.logger(), conns: map[*gortsplib.ServerConn]*connInfo{},
		sessions: map[*gortsplib.ServerSession]*publishSession{}}
	ln := s.ln
	srv := &gortsplib.Server{
		Handler:     h,
		RTSPAddress: ln.Addr().String(),
		ReadTimeout: s.readTimeout(),
		// Before RECORD, a connection is idle between requests: a publisher sends them back
		// to back, so the read timeout is plenty.
		IdleTimeout: s.readTimeout(),
		// Basic only: verifying a Digest response needs the key in clear, and the relay keeps
		// it to itself. Basic sends the key as plainly as ?key= does.
		AuthMethods: []auth.VerifyMethod{auth.VerifyMethodBasic},
		Listen: func(string, string) (net.Listener, error) {
			return ln, nil
		},
	}
	if err := srv.Start(); err != nil {
		_ = ln.Close()
		return fmt.Errorf("rtsp: %w", err)
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	var sweeper sync.WaitGroup
	sweeper.Go(func() { s.keys.Run(sweepCtx) })
	defer func() {
		stopSweep()
		sweeper.Wait()
	}()
	// Wait returns on a fatal error, or once Close below is done.
	var fatal error
	waited := make(chan struct{})
	go func() {
		fatal = srv.Wait()
		close(waited)
	}()
	select {
	case <-ctx.Done():
	case <-waited:
	}
	h.closing.Store(true)
	srv.Close() // returns once every connection, session and callback is done
	<-waited
	h.wg.Wait()
	select {
	case <-ctx.Done():
		return nil
	default:
		return fmt.Errorf("rtsp: %w", fatal)
	}
}

// Close closes the listener of a server that will not Run.
func (s *Server) Close() {
	if s.ln != nil {
		_ = s.ln.Close()
	}
}

// listener hands gortsplib its connections.
type listener struct {
	net.Listener
	readTimeout time.Duration
	log         *slog.Logger
	done        chan struct{}
	once        sync.Once
}

// Accept waits out temporary failures (out of file descriptors), which would otherwise stop
// gortsplib's server for good, and gives each connection a first read deadline: gortsplib
// reads a connection's first bytes without one, so a client that connects and stays silent
// would hold a goroutine and a descriptor until shutdown.
func (l *listener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			_ = c.SetReadDeadline(time.Now().Add(l.readTimeout))
			return c, nil
		}
		select {
		case <-l.done:
			return nil, net.ErrClosed
		default:
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		l.log.Error("accept failed, retrying", "protocol", Protocol, "error", err, "retry_in", backoff.String())
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

// Close stops the listener and any Accept waiting to retry.
func (l *listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// handler receives gortsplib's server events. Its callbacks run on gortsplib's goroutines:
// each connection's, each session's, and the connection reader that delivers RTP packets.
type handler struct {
	s       *Server
	log     *slog.Logger
	closing atomic.Bool    // Run is shutting the server down
	wg      sync.WaitGroup // the publishers' takeover watchers

	mu       sync.Mutex
	conns    map[*gortsplib.ServerConn]*connInfo
	sessions map[*gortsplib.ServerSession]*publishSession
}

// connInfo is what one connection did, to log its end once and without secrets.
type connInfo struct {
	log     *slog.Logger
	secrets []string        // keys and passwords it presented
	refused bool            // a refusal was logged
	pub     *publishSession // the publishing session it carried
}

// publishSession is one authenticated publisher.
type publishSession struct {
	st     *relay.Stream
	source string // the stream's source it publishes for ("" is the primary)
	log    *slog.Logger
	feed   *feeder
	conn   *connInfo

	pub      *relay.Publisher // set by RECORD
	finished chan struct{}    // closed when the session is over
	ended    atomic.Pointer[string]
	logged   atomic.Bool // its end was logged
}

// endReason is why the relay ended the session ("" when it did not).
func (ps *publishSession) endReason() string {
	if r := ps.ended.Load(); r != nil {
		return *r
	}
	return ""
}

var (
	_ gortsplib.ServerHandlerOnConnClose    = (*handler)(nil)
	_ gortsplib.ServerHandlerOnSessionClose = (*handler)(nil)
	_ gortsplib.ServerHandlerOnDescribe     = (*handler)(nil)
	_ gortsplib.ServerHandlerOnAnnounce     = (*handler)(nil)
	_ gortsplib.ServerHandlerOnSetup        = (*handler)(nil)
	_ gortsplib.ServerHandlerOnRecord       = (*handler)(nil)
	_ gortsplib.ServerHandlerOnPacketsLost  = (*handler)(nil)
	_ gortsplib.ServerHandlerOnDecodeError  = (*handler)(nil)
)

// conn returns the record of a connection, creating it.
func (h *handler) conn(sc *gortsplib.ServerConn) *connInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	ci := h.conns[sc]
	if ci == nil {
		ci = &connInfo{log: h.log.With("protocol", Protocol, "remote", sc.NetConn().RemoteAddr().String())}
		h.conns[sc] = ci
	}
	return ci
}

func (h *handler) session(ss *gortsplib.ServerSession) *publishSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[ss]
}

// errRefused closes a connection after a refusal.
var errRefused = errors.New("publish refused")

// challenge answers 401 with a Basic challenge and keeps the connection: ffmpeg sends the
// credentials of its URL only once challenged.
func challenge() (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
}

// refuse answers 401 and closes the connection. The refusal is logged once per connection.
func (ci *connInfo) refuse(msg string, args ...any) (*base.Response, error) {
	if !ci.refused {
		ci.refused = true
		ci.log.Warn(msg, args...)
	}
	return &base.Response{StatusCode: base.StatusUnauthorized}, errRefused
}

// refuseKey refuses a wrong publish key: the first of a quiet address is logged, the ones
// that follow are summed up by the limiter.
func (h *handler) refuseKey(ci *connInfo, addr netip.Addr, msg string, args ...any) (*base.Response, error) {
	if !h.s.keys.Failed(addr) {
		ci.refused = true
	}
	return ci.refuse(msg, args...)
}

// errInternal closes a connection whose callback panicked.
var errInternal = errors.New("internal error")

// recovered logs the panic v of a callback run for the connection sc, if there was one (v is
// what recover returned), and reports whether there was. The line is cleaned of the secrets
// the connection presented.
func (h *handler) recovered(sc *gortsplib.ServerConn, what string, v any) bool {
	if v == nil {
		return false
	}
	log := h.log.With("protocol", Protocol)
	var secrets []string
	if sc != nil {
		ci := h.conn(sc)
		log, secrets = ci.log, ci.secrets
	}
	guard.LogPanic(log, "rtsp "+what+" handler", redact(fmt.Sprint(v), secrets...))
	return true
}

// OnAnnounce authenticates a publisher before anything touches a stream.
func (h *handler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (res *base.Response, err error) {
	defer func() {
		if h.recovered(ctx.Conn, "ANNOUNCE", recover()) {
			res, err = &base.Response{StatusCode: base.StatusInternalServerError}, errInternal
		}
	}()
	ci := h.conn(ctx.Conn)
	log := ci.log
	// An address guessing keys is refused before any comparison; the limiter logs those
	// refusals, one line per burst.
	addr := clientip.FromString(ctx.Conn.NetConn().RemoteAddr().String())
	if !h.s.keys.Allowed(addr) {
		ci.refused = true
		return &base.Response{StatusCode: base.StatusUnauthorized}, errRefused
	}
	name, key := parseTarget(ctx.Path, ctx.Query)
	if key != "" {
		ci.secrets = append(ci.secrets, key)
	}
	if key == "" {
		var a headers.Authorization
		if err := a.Unmarshal(ctx.Request.Header["Authorization"]); err == nil {
			if a.Method != headers.AuthMethodBasic {
				return ci.refuse("publish refused: Digest authentication is not supported; give the publish key as the password with Basic authentication, or as ?key=")
			}
			key = a.BasicPass
			ci.secrets = append(ci.secrets, key)
		}
	}
	if key == "" {
		// ffmpeg sends credentials only once challenged: this is the usual first round.
		log.Debug("publish: no key yet, asking for credentials")
		return challenge()
	}
	st, source := h.s.Registry.AuthenticateSource(key)
	if st == nil {
		return h.refuseKey(ci, addr, "publish refused: unknown publish key")
	}
	if st.Name() != name {
		args := []any{"key_stream", st.Name()}
		// The path is logged only when it names a stream: it may be a key typed in the
		// wrong place (rtsp://host/<key>).
		if name != "" && h.s.Registry.Get(name) != nil {
			args = append(args, "url_stream", name)
		}
		return h.refuseKey(ci, addr, "publish refused: the publish key belongs to another stream (the URL must be rtsp://host:port/<stream>?key=<publish key>)", args...)
	}
	log = log.With("stream", st.Name())
	feed, err := newFeeder(ctx.Description.Medias, log)
	if err != nil {
		ci.refused = true
		log.Warn("publish refused", "error", err)
		return &base.Response{StatusCode: base.StatusUnsupportedMediaType}, err
	}
	if len(feed.ignored) > 0 {
		log.Warn("tracks ignored", "tracks", feed.ignored)
	}
	feed.onPacket = h.s.onPacket
	if source != "" {
		log = log.With("source", source)
	}
	ps := &publishSession{st: st, source: source, log: log, feed: feed, conn: ci, finished: make(chan struct{})}
	h.mu.Lock()
	h.sessions[ctx.Session] = ps
	h.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup accepts the publisher's medias and refuses readers.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (res *base.Response, _ *gortsplib.ServerStream, err error) {
	defer func() {
		if h.recovered(ctx.Conn, "SETUP", recover()) {
			res, err = &base.Response{StatusCode: base.StatusInternalServerError}, errInternal
		}
	}()
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	return h.refusePlay(ctx.Conn, ctx.Path), nil, nil
}

// OnDescribe refuses readers: playing over RTSP is not offered yet.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (res *base.Response, _ *gortsplib.ServerStream, err error) {
	defer func() {
		if h.recovered(ctx.Conn, "DESCRIBE", recover()) {
			res, err = &base.Response{StatusCode: base.StatusInternalServerError}, errInternal
		}
	}()
	return h.refusePlay(ctx.Conn, ctx.Path), nil, nil
}

func (h *handler) refusePlay(sc *gortsplib.ServerConn, path string) *base.Response {
	ci := h.conn(sc)
	if !ci.refused {
		ci.refused = true
		// The path is logged only when it names a stream: it may hold a publish key.
		const msg = "play refused: reading over RTSP is not supported yet (use HLS or WHEP)"
		if name, _ := parseTarget(path, ""); name != "" && h.s.Registry.Get(name) != nil {
			ci.log.Warn(msg, "stream", name)
		} else {
			ci.log.Warn(msg)
		}
	}
	return &base.Response{StatusCode: base.StatusNotFound}
}

// OnRecord makes the authenticated publisher its stream's source.
func (h *handler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (res *base.Response, err error) {
	defer func() {
		// The connection closes, its session with it: OnSessionClose ends the publisher.
		if h.recovered(ctx.Conn, "RECORD", recover()) {
			res, err = &base.Response{StatusCode: base.StatusInternalServerError}, errInternal
		}
	}()
	ps := h.session(ctx.Session)
	if ps == nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	pub, err := ps.st.PublishSource(ps.source, relay.SourceInfo{Protocol: Protocol, RemoteAddr: ctx.Conn.NetConn().RemoteAddr().String()})
	if err != nil {
		ps.log.Warn("publish refused", "error", err)
		return &base.Response{StatusCode: base.StatusNotFound}, err
	}
	ps.pub = pub
	ps.conn.pub = ps
	if h.s.onRecord != nil {
		h.s.onRecord()
	}
	ps.feed.start(pub, ctx.Session)
	ps.log.Info("publisher connected", "tracks", ps.feed.describe())
	// A newer publisher with the same key (or the stream's removal) closes this session.
	ss := ctx.Session
	h.wg.Go(func() {
		select {
		case <-pub.Done():
			reason := "stream stopped"
			if st, _ := ps.st.State(); st == relay.Live {
				reason = "replaced by a newer connection"
			}
			ps.ended.Store(&reason)
			ss.Close()
		case <-ps.feed.broken:
			reason := "its media could not be decoded (internal error, logged above)"
			ps.ended.Store(&reason)
			ss.Close()
		case <-ps.finished:
		}
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose ends the publisher; the stream's reconnect grace starts.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	defer func() { h.recovered(nil, "session close", recover()) }()
	h.mu.Lock()
	ps := h.sessions[ctx.Session]
	delete(h.sessions, ctx.Session)
	h.mu.Unlock()
	if ps == nil || ps.pub == nil {
		return
	}
	ps.pub.Close()
	close(ps.finished)
	ps.feed.errs.flush()
	// Most ends are logged with the connection's, which knows why it closed; a TEARDOWN
	// ends the session while the connection may stay open a little longer.
	var torn liberrors.ErrServerSessionTornDown
	if errors.As(ctx.Error, &torn) && !h.closing.Load() && !ps.logged.Swap(true) {
		ps.log.Info("publisher disconnected", "reason", "the encoder ended the session (TEARDOWN)")
	}
}

// OnConnClose logs how a connection ended, once, without the secrets it presented.
func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	defer func() { h.recovered(nil, "connection close", recover()) }()
	h.mu.Lock()
	ci := h.conns[ctx.Conn]
	delete(h.conns, ctx.Conn)
	h.mu.Unlock()
	if h.closing.Load() {
		return
	}
	if ci == nil {
		ci = &connInfo{log: h.log.With("protocol", Protocol, "remote", ctx.Conn.NetConn().RemoteAddr().String())}
	}
	reason, malformed := closeReason(ctx.Error)
	reason = redact(reason, ci.secrets...)
	switch ps := ci.pub; {
	case ps != nil:
		if ps.logged.Swap(true) {
			return
		}
		if r := ps.endReason(); r != "" {
			ps.log.Info("publisher connection closed: " + r)
			return
		}
		if malformed {
			ps.log.Warn("publisher disconnected", "reason", reason)
		} else {
			ps.log.Info("publisher disconnected", "reason", reason)
		}
	case ci.refused:
		// Its refusal was logged.
	case malformed:
		ci.log.Warn("connection closed", "reason", reason)
	default:
		ci.log.Debug("connection closed", "reason", reason)
	}
}

// closeReason says why a connection ended, and whether the peer sent something wrong.
func closeReason(err error) (reason string, malformed bool) {
	var ne net.Error
	var terminated liberrors.ErrServerTerminated
	var notInUse liberrors.ErrServerSessionNotInUse
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the peer", false
	case errors.As(err, &ne) && ne.Timeout():
		return "no data received for too long", false
	case errors.Is(err, net.ErrClosed), errors.As(err, &terminated), errors.As(err, &notInUse):
		return "connection closed", false
	}
	return "malformed or unexpected data: " + err.Error(), true
}

// OnPacketsLost counts packets the sender sent and the server never got.
func (h *handler) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	defer func() { h.recovered(nil, "OnPacketsLost", recover()) }()
	if ps := h.session(ctx.Session); ps != nil {
		ps.feed.errs.add(nil, ctx.Lost)
	}
}

// OnDecodeError counts packets gortsplib could not decode.
func (h *handler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	defer func() { h.recovered(nil, "OnDecodeError", recover()) }()
	if ps := h.session(ctx.Session); ps != nil {
		ps.feed.errs.add(ctx.Error, 0)
	}
}
