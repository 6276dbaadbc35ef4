package srt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	gosrt "github.com/datarhei/gosrt"

	"github.com/beffroi/beffroi/ingest/internal/guard"
	"github.com/beffroi/beffroi/ingest/netstats"
	"github.com/beffroi/beffroi/internal/clientip"
	"github.com/beffroi/beffroi/relay"
)

// protocol is the name of this ingest in logs and in the stream's source.
const protocol = "srt"

// DefaultLatency is the receiver latency when Server.Latency is zero, and the configuration's
// srt.latency default: a little more than gosrt's own 120 ms, for phones on event networks.
const DefaultLatency = 200 * time.Millisecond

// DefaultReadTimeout is how long a publisher may send nothing before it is cut off, when
// Server.ReadTimeout is zero.
const DefaultReadTimeout = 10 * time.Second

// Server accepts SRT publishers sending MPEG-TS.
type Server struct {
	// Addr is the UDP address to listen on.
	Addr string
	// Registry resolves publish keys and stream names.
	Registry *relay.Registry
	// Passphrase, when set, makes SRT encryption mandatory: publishers must use this
	// passphrase (10 to 79 characters). When empty, encrypted publishers are refused.
	Passphrase string
	// Latency is the SRT receiver latency, the time packets wait for retransmissions
	// (zero: DefaultLatency). A publisher asking for more gets what it asks.
	Latency time.Duration
	// ReadTimeout cuts off a publisher that sends no data for this long (default 10 s).
	ReadTimeout time.Duration
	// Logger receives one line per connection event; nil discards.
	Logger *slog.Logger

	// keyLimits tunes the publish-key limiter (zero: guard's defaults); tests shorten it.
	keyLimits guard.Limits
	// onPublish, when set, runs once a publisher holds its stream: tests make it panic.
	onPublish func()

	ln     gosrt.Listener
	keys   *guard.Failures // wrong publish keys and passphrases per address
	closes *closeReasons
	mu     sync.Mutex
	conns  map[gosrt.Conn]struct{}
	net    netstats.Board // what the network did to each stream's publishers
}

// NetworkStats returns what the network did to the stream's SRT publishers in its current
// live session: false when it is not live over SRT.
func (s *Server) NetworkStats(stream string) (netstats.Counters, bool) {
	st := s.Registry.Get(stream)
	if st == nil {
		return netstats.Counters{}, false
	}
	return s.net.Get(st)
}

// connCounters reads a connection's receiver statistics (valid after Close too).
func connCounters(conn gosrt.Conn) netstats.Counters {
	var st gosrt.Statistics
	conn.Stats(&st)
	a := st.Accumulated
	return netstats.Counters{
		LostPackets:   a.PktRecvLoss,
		NACKs:         a.PktSentNAK,
		Retransmitted: a.PktRecvRetrans,
		LatePackets:   a.PktRecvBelated,
		Dropped:       a.PktRecvDrop,
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) readTimeout() time.Duration {
	if s.ReadTimeout <= 0 {
		return DefaultReadTimeout
	}
	return s.ReadTimeout
}

// Listen binds the UDP socket; Run then serves it. Separate so that callers (and tests using
// port 0) learn the address before serving.
func (s *Server) Listen() error {
	cfg := gosrt.DefaultConfig()
	cfg.ReceiverLatency = DefaultLatency
	if s.Latency > 0 {
		cfg.ReceiverLatency = s.Latency
	}
	// gosrt's own idle timeout (5 s) would cut a phone off before ReadTimeout: a network
	// that comes back within ReadTimeout keeps its connection, so that its broadcast goes on
	// without a reconnection (and without waiting for a keyframe). The watcher, which says
	// why, acts first.
	cfg.PeerIdleTimeout = s.readTimeout() + time.Second
	if s.Passphrase != "" {
		// Checked here so that a bad passphrase stops start-up, not every publisher.
		if n := len(s.Passphrase); n < gosrt.MIN_PASSPHRASE_SIZE || n >= gosrt.MAX_PASSPHRASE_SIZE {
			return fmt.Errorf("%s: the passphrase must be %d to %d characters long (got %d)",
				protocol, gosrt.MIN_PASSPHRASE_SIZE, gosrt.MAX_PASSPHRASE_SIZE-1, n)
		}
	}
	s.closes = &closeReasons{m: map[uint32]string{}}
	cfg.Logger = s.closes
	ln, err := gosrt.Listen("srt", s.Addr, cfg)
	if err != nil {
		return fmt.Errorf("%s: listen %s: %w", protocol, s.Addr, err)
	}
	s.ln = ln
	s.keys = guard.NewFailures(s.logger().With("protocol", protocol), s.keyLimits)
	return nil
}

// ListenAddr returns the bound UDP address.
func (s *Server) ListenAddr() net.Addr { return s.ln.Addr() }

// Run serves connection requests until ctx is cancelled, then closes every connection and
// returns once their goroutines have.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.conns = map[gosrt.Conn]struct{}{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	sweepCtx, stopSweep := context.WithCancel(ctx)
	wg.Go(func() { s.keys.Run(sweepCtx) })
	stop := context.AfterFunc(ctx, s.ln.Close)
	defer stop()
	var err error
	for {
		var req gosrt.ConnRequest
		req, err = s.ln.Accept2()
		if err != nil {
			break
		}
		conn, st, source, log := s.safeAccept(req)
		if conn == nil {
			continue
		}
		s.mu.Lock()
		s.conns[conn] = struct{}{}
		s.mu.Unlock()
		wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
				_ = conn.Close() // gosrt's Close always returns nil
			}()
			defer func() {
				if v := recover(); v != nil {
					guard.LogPanic(log, protocol+" publisher", v)
				}
			}()
			s.publish(ctx, log, conn, st, source)
		})
	}
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	stopSweep()
	wg.Wait()
	if ctx.Err() != nil || errors.Is(err, gosrt.ErrListenerClosed) {
		return nil
	}
	// The UDP socket failed: gosrt's listener is dead for good.
	return fmt.Errorf("%s: accept: %w", protocol, err)
}

// Close closes the listener of a server that will not Run.
func (s *Server) Close() {
	if s.ln != nil {
		s.ln.Close()
	}
}

// safeAccept is accept, with a panic turned into a refusal: the accept loop serves everyone.
func (s *Server) safeAccept(req gosrt.ConnRequest) (conn gosrt.Conn, st *relay.Stream, source string, log *slog.Logger) {
	defer func() {
		if v := recover(); v != nil {
			guard.LogPanic(s.logger().With("protocol", protocol, "remote", req.RemoteAddr().String()),
				protocol+" connection request handler", v)
			if conn != nil {
				_ = conn.Close()
			} else {
				req.Reject(gosrt.REJ_IPE)
			}
			conn, st, source, log = nil, nil, "", nil
		}
	}()
	return s.accept(req)
}

// accept authenticates a connection request and accepts it, or refuses it with one log line.
// Everything is decided before the connection exists: a refused caller gets the SRT rejection
// reason, and no stream is touched.
func (s *Server) accept(req gosrt.ConnRequest) (gosrt.Conn, *relay.Stream, string, *slog.Logger) {
	log := s.logger().With("protocol", protocol, "remote", req.RemoteAddr().String())
	refuse := func(r *refusal) (gosrt.Conn, *relay.Stream, string, *slog.Logger) {
		log.Warn(r.msg)
		req.Reject(r.reason)
		return nil, nil, "", nil
	}
	// An address guessing keys or passphrases is refused before any comparison; the limiter
	// logs those refusals, one line per burst. failed refuses a wrong secret.
	addr := clientip.FromString(req.RemoteAddr().String())
	if !s.keys.Allowed(addr) {
		req.Reject(gosrt.REJX_OVERLOAD)
		return nil, nil, "", nil
	}
	failed := func(r *refusal) (gosrt.Conn, *relay.Stream, string, *slog.Logger) {
		if s.keys.Failed(addr) {
			log.Warn(r.msg)
		}
		req.Reject(r.reason)
		return nil, nil, "", nil
	}
	// The stream ID holds the publish key: it is never logged, and the stream name it gives is
	// logged only once it names a stream (a key typed in the wrong field stays out of the log).
	name, key, err := parseStreamID(req.StreamId())
	if err != nil {
		var r *refusal
		errors.As(err, &r)
		return refuse(r)
	}
	if s.Registry.Get(name) != nil {
		log = log.With("stream", name)
	}
	// The passphrase comes before the key: without it, a caller learns nothing about keys.
	switch {
	case s.Passphrase != "" && !req.IsEncrypted():
		return refuse(&refusal{gosrt.REJ_UNSECURE,
			"publish refused: this server requires a passphrase (SRT encryption) and the encoder sent none"})
	case s.Passphrase == "" && req.IsEncrypted():
		return refuse(&refusal{gosrt.REJ_UNSECURE,
			"publish refused: the encoder encrypts with a passphrase, and this server has none configured"})
	case s.Passphrase != "":
		if err := req.SetPassphrase(s.Passphrase); err != nil {
			return failed(&refusal{gosrt.REJ_BADSECRET, "publish refused: wrong passphrase"})
		}
	}
	st, source := s.Registry.AuthenticateSource(key)
	switch {
	case st == nil:
		return failed(&refusal{gosrt.REJX_UNAUTHORIZED, "publish refused: unknown publish key"})
	case st.Name() != name:
		return failed(&refusal{gosrt.REJX_UNAUTHORIZED,
			"publish refused: the publish key is not the key of the stream named in the stream id"})
	}
	conn, err := req.Accept()
	if err != nil {
		log.Warn("publish failed: could not accept the SRT connection", "error", err)
		return nil, nil, "", nil
	}
	if source != "" {
		log = log.With("source", source)
	}
	return conn, st, source, log
}

// Why the server closed a publisher's connection.
const (
	causeShutdown = iota + 1
	causeReplaced
	causeStopped
	causeTimeout
	causeNoTracks
)

// publish runs one accepted publisher until its connection ends.
func (s *Server) publish(ctx context.Context, log *slog.Logger, conn gosrt.Conn, st *relay.Stream, source string) {
	s.closes.track(conn.SocketId())
	defer s.closes.forget(conn.SocketId())
	// The stream goes live now, before the tracks are known: destinations connect to their
	// platforms meanwhile and then receive the media from its first keyframe.
	pub, err := st.PublishSource(source, relay.SourceInfo{Protocol: protocol, RemoteAddr: conn.RemoteAddr().String()})
	if err != nil {
		log.Warn("publish refused", "error", err)
		return
	}
	defer pub.Close()
	defer s.net.Attach(st, func() netstats.Counters { return connCounters(conn) })()
	if s.onPublish != nil {
		s.onPublish()
	}

	timeout := s.readTimeout()
	in := &activityReader{r: conn, start: time.Now()}
	var cause atomic.Int32
	var initialized atomic.Bool
	finished := make(chan struct{})
	watched := make(chan struct{})
	// The watcher closes the connection on shutdown, takeover, or silence. gosrt's
	// SetReadDeadline does nothing, hence a watcher rather than deadlines.
	go func() {
		defer close(watched)
		tick := time.NewTicker(min(time.Second, max(timeout/4, 10*time.Millisecond)))
		defer tick.Stop()
		for {
			var c int32
			select {
			case <-finished:
				return
			case <-ctx.Done():
				c = causeShutdown
			case <-pub.Done():
				c = causeReplaced
				if state, _ := st.State(); state == relay.Idle {
					c = causeStopped
				}
			case <-tick.C:
				switch idle := in.idle(); {
				case idle > timeout:
					c = causeTimeout
				case !initialized.Load() && time.Since(in.start) > timeout:
					c = causeNoTracks
				default:
					continue
				}
			}
			cause.Store(c)
			_ = conn.Close()
			return
		}
	}()
	defer func() {
		close(finished)
		<-watched
	}()

	p := &publisher{pub: pub, log: log}
	err = p.run(in, func() { initialized.Store(true) })

	var pe *panicError
	if errors.As(err, &pe) {
		log.Error("publisher disconnected: the MPEG-TS demuxer failed on malformed data",
			"panic", pe.Error(), "stack", string(pe.stack))
		return
	}
	c := cause.Load()
	if c == 0 {
		// The connection ended before the watcher looked: a takeover shows first as
		// relay.ErrReplaced from WriteFrame.
		select {
		case <-pub.Done():
			c = causeReplaced
			if state, _ := st.State(); state == relay.Idle {
				c = causeStopped
			}
		default:
			if ctx.Err() != nil {
				c = causeShutdown
			}
		}
	}
	why, warn := "", false
	switch c {
	case causeShutdown:
		return
	case causeReplaced:
		log.Info("publisher connection closed: replaced by a newer connection")
		return
	case causeStopped:
		log.Info("publisher connection closed: the stream was stopped")
		return
	case causeTimeout:
		why = "no data received for too long"
	case causeNoTracks:
		why, warn = fmt.Sprintf("no MPEG-TS program table (PAT/PMT) received in %s: the encoder must send MPEG-TS", timeout), true
	default:
		why, warn = s.reason(conn, err)
	}
	if warn {
		log.Warn("publisher disconnected", "reason", why)
		return
	}
	log.Info("publisher disconnected", "reason", why)
}

// reason says why a publisher's connection ended by itself, and whether that is the
// encoder's fault.
func (s *Server) reason(conn gosrt.Conn, err error) (string, bool) {
	switch {
	case errors.Is(err, errNoTrack):
		return err.Error(), true
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		switch s.closes.reason(conn.SocketId()) {
		case closedByPeer:
			return "connection closed by the encoder", false
		case peerIdle:
			return "no data received for too long (the network dropped)", false
		}
		return "connection closed", false
	}
	if strings.Contains(err.Error(), "max recorded size exceeded") {
		// mediacommon gives up finding the tracks after 1 MB.
		return "no MPEG-TS program table (PAT/PMT) in the first megabyte: the encoder must send MPEG-TS", true
	}
	return "malformed data: " + err.Error(), true
}

// activityReader reads the SRT connection and notes when data last arrived.
type activityReader struct {
	r     io.Reader
	start time.Time
	last  atomic.Int64 // since start
}

func (a *activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.last.Store(int64(time.Since(a.start)))
	}
	return n, err
}

// idle returns how long no data arrived.
func (a *activityReader) idle() time.Duration {
	return time.Since(a.start) - time.Duration(a.last.Load())
}

// How a connection ended, as gosrt's internal log tells it.
const (
	closedByPeer = "peer"
	peerIdle     = "idle"
)

// closeReasons is the gosrt logger: gosrt reports why it closes a connection (the peer sent a
// shutdown, or nothing arrived for its peer idle timeout) only in its debug log, while Read
// returns io.EOF either way. Nothing else of gosrt's log is kept: its lines quote stream IDs,
// which hold publish keys.
type closeReasons struct {
	mu sync.Mutex
	m  map[uint32]string
}

var _ gosrt.Logger = (*closeReasons)(nil)

// HasTopic implements gosrt.Logger.
func (c *closeReasons) HasTopic(topic string) bool {
	return topic == "control:recv:shutdown" || topic == "connection:close"
}

// Print implements gosrt.Logger.
func (c *closeReasons) Print(topic string, socketID uint32, _ int, message func() string) {
	var why string
	switch topic {
	case "control:recv:shutdown:dump":
		why = closedByPeer
	case "connection:close":
		if !strings.HasPrefix(message(), "no more data received from peer") {
			return
		}
		why = peerIdle
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Only connections being served are noted, and only the first reason (a close that
	// follows an idle timeout sends its own shutdown).
	if cur, ok := c.m[socketID]; ok && cur == "" {
		c.m[socketID] = why
	}
}

// track starts noting how the connection socketID ends; forget stops it.
func (c *closeReasons) track(socketID uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[socketID] = ""
}

func (c *closeReasons) reason(socketID uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[socketID]
}

func (c *closeReasons) forget(socketID uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, socketID)
}

// Listen implements gosrt.Logger; nothing is queued.
func (c *closeReasons) Listen() <-chan gosrt.Log { return nil }

// Close implements gosrt.Logger.
func (c *closeReasons) Close() {}

// panicError is a panic of the demuxer on malformed input, turned into an error.
type panicError struct {
	v     any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprint(e.v) }

// demux reads the MPEG-TS stream, recovering from a panic of the demuxer: a stranger's bytes
// must not bring the server down.
func demux(r *mpegts.Reader, f func(*mpegts.Reader) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{v: v, stack: debug.Stack()}
		}
	}()
	return f(r)
}
