package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"

	"github.com/beffroi/beffroi/ingest/internal/guard"
	"github.com/beffroi/beffroi/internal/clientip"
	"github.com/beffroi/beffroi/internal/rtmpwire"
	"github.com/beffroi/beffroi/relay"
)

// App is the RTMP application name Beffroi serves: rtmp://host/live/<key>.
const App = "live"

// The players' tuning when Server leaves it zero; the configuration's rtmp.write_timeout and
// rtmp.max_lag defaults are these.
const (
	DefaultWriteTimeout = 10 * time.Second
	DefaultMaxLag       = 5 * time.Second
)

// Server accepts RTMP (or, with TLSConfig, RTMPS) connections.
type Server struct {
	// Addr is the TCP address to listen on.
	Addr string
	// TLSConfig makes this an RTMPS listener.
	TLSConfig *tls.Config
	// Registry resolves publish keys and stream names.
	Registry *relay.Registry
	// AllowRead lets players read rtmp://host/live/<stream>.
	AllowRead bool
	// ReadTimeout cuts off a publisher that sends nothing for this long (default 10 s).
	ReadTimeout time.Duration
	// WriteTimeout cuts off a player that accepts nothing for this long (zero:
	// DefaultWriteTimeout).
	WriteTimeout time.Duration
	// MaxLag is how far behind live a player may fall before it skips to the newest keyframe
	// (zero: DefaultMaxLag).
	MaxLag time.Duration
	// Logger receives one line per connection event; nil discards.
	Logger *slog.Logger
	// Viewers, when set, counts each player as a viewer for as long as it plays (the audience
	// counter, relay/audience).
	Viewers interface {
		Join(stream, protocol string) (leave func())
	}

	// keyLimits tunes the publish-key limiter (zero: guard's defaults); tests shorten it.
	keyLimits guard.Limits
	// onPublish, when set, runs once a publisher holds its stream: tests make it panic.
	onPublish func()

	ln    net.Listener
	keys  *guard.Failures // wrong publish keys per address
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (s *Server) protocol() string {
	if s.TLSConfig != nil {
		return "rtmps"
	}
	return "rtmp"
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Listen binds the listener; Run then serves it. Separate so that callers (and tests using
// port 0) learn the address before serving.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("%s: listen %s: %w", s.protocol(), s.Addr, err)
	}
	if s.TLSConfig != nil {
		ln = tls.NewListener(ln, s.TLSConfig)
	}
	s.ln = ln
	s.keys = guard.NewFailures(s.logger().With("protocol", s.protocol()), s.keyLimits)
	return nil
}

// ListenAddr returns the bound address.
func (s *Server) ListenAddr() net.Addr { return s.ln.Addr() }

// Run serves connections until ctx is cancelled, then closes every connection and returns
// once their goroutines have.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.conns = map[net.Conn]struct{}{}
	var wg sync.WaitGroup
	sweepCtx, stopSweep := context.WithCancel(ctx)
	wg.Go(func() { s.keys.Run(sweepCtx) })
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	var err error
	var backoff time.Duration
	for {
		var c net.Conn
		c, err = s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			// Out of file descriptors and the like: wait and go on, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger().Error("accept failed, retrying", "protocol", s.protocol(), "error", err, "retry_in", backoff.String())
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
			}
			break
		}
		backoff = 0
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			defer func() {
				if v := recover(); v != nil {
					guard.LogPanic(s.logger().With("protocol", s.protocol(), "remote", c.RemoteAddr().String()),
						s.protocol()+" connection handler", v)
				}
			}()
			s.handle(ctx, c)
		})
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	stopSweep()
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("%s: accept: %w", s.protocol(), err)
}

// parsePath splits /live/<name> into app and name (key for publishers, stream for players).
func parsePath(path string) (app, name string) {
	path = strings.TrimPrefix(path, "/")
	app, name, _ = strings.Cut(path, "/")
	return app, strings.TrimSuffix(name, "/")
}

func (s *Server) handle(ctx context.Context, nc net.Conn) {
	log := s.logger().With("protocol", s.protocol(), "remote", nc.RemoteAddr().String())
	conn := rtmpwire.NewConn(nc)
	readTimeout := s.ReadTimeout
	if readTimeout <= 0 {
		readTimeout = 10 * time.Second
	}
	_ = nc.SetDeadline(time.Now().Add(readTimeout))
	sc := &gortmplib.ServerConn{RW: conn}
	if err := sc.Initialize(); err != nil {
		log.Warn("connection closed before the RTMP session was set up", "error", err)
		return
	}
	if err := sc.AcceptConn(); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error quotes the URL, which holds the publish key.
			log.Warn("refused: invalid URL in the publish or play request")
		} else {
			log.Warn("connection closed before publish or play", "error", err)
		}
		return
	}
	app, name := parsePath(sc.URL.Path)
	if app != App || name == "" {
		// Whatever the path holds may be a publish key typed in the wrong field: never log it.
		log.Warn("refused: the URL must be rtmp://host/" + App + "/<key> (OBS: server rtmp://host/" + App + ", stream key = the publish key)")
		_ = sc.RejectAction()
		return
	}
	if sc.Publish {
		s.publish(ctx, log, nc, conn, sc, name, readTimeout)
		return
	}
	s.play(ctx, log, nc, conn, sc, name)
}

func (s *Server) publish(ctx context.Context, log *slog.Logger, nc net.Conn, conn *rtmpwire.Conn,
	sc *gortmplib.ServerConn, key string, readTimeout time.Duration) {
	// Refused before any key comparison while the address is blocked for guessing keys; the
	// limiter logs those refusals, one line per burst.
	addr := clientip.FromString(nc.RemoteAddr().String())
	if !s.keys.Allowed(addr) {
		_ = sc.RejectAction()
		return
	}
	st, source := s.Registry.AuthenticateSource(key)
	if st == nil {
		if s.keys.Failed(addr) {
			log.Warn("publish refused: unknown publish key")
		}
		_ = sc.RejectAction()
		return
	}
	log = log.With("stream", st.Name())
	if source != "" {
		log = log.With("source", source)
	}
	// The stream goes live now, before the tracks are known (trackProbe: usually at once, from
	// onMetaData and the sequence headers): destinations start connecting to their platforms
	// meanwhile and receive the media from its first keyframe.
	pub, err := st.PublishSource(source, relay.SourceInfo{Protocol: s.protocol(), RemoteAddr: nc.RemoteAddr().String()})
	if err != nil {
		log.Warn("publish refused", "error", err)
		_ = sc.RejectAction()
		return
	}
	defer pub.Close()
	if s.onPublish != nil {
		s.onPublish()
	}
	// A newer publisher with the same key, or shutdown, closes this connection.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-pub.Done():
			nc.Close()
		case <-finished:
		}
	}()
	if err := sc.AcceptAction(); err != nil {
		log.Warn("publish failed", "error", err)
		return
	}
	probe := &trackProbe{}
	in := &publisher{pub: pub, log: log}
	err = probe.run(sc)
	if err == nil {
		err = in.start(probe)
	}
	if err != nil {
		select {
		case <-pub.Done():
			log.Info("publisher connection closed: replaced by a newer connection")
		default:
			if errors.Is(err, errNoTrack) {
				log.Warn("publish refused", "error", err)
			} else {
				log.Warn("publish failed: could not read the tracks", "error", err)
			}
		}
		return
	}
	log.Info("publisher connected", "tracks", in.describe(), "started_on", probe.how)
	lastDeadline := time.Now()
	refresh := min(time.Second, readTimeout/4) // moving the deadline on every message costs
	for {
		if now := time.Now(); now.Sub(lastDeadline) > refresh {
			// Write too: the server acknowledges what it receives, and the deadline set at the
			// handshake would otherwise cut the publisher off at its first acknowledgement.
			_ = nc.SetDeadline(now.Add(readTimeout))
			lastDeadline = now
		}
		msg, err := sc.Read()
		if err != nil {
			in.closeErr(err)
			break
		}
		in.handle(msg)
		if in.err != nil {
			in.closeErr(in.err)
			break
		}
	}
	select {
	case <-pub.Done():
		if st, _ := pub.Stream().State(); st == relay.Idle {
			log.Info("publisher connection closed: the stream was stopped")
		} else {
			log.Info("publisher connection closed: replaced by a newer connection")
		}
		return
	default:
	}
	if ctx.Err() != nil {
		return
	}
	if in.malformed {
		log.Warn("publisher disconnected", "reason", in.reason)
		return
	}
	log.Info("publisher disconnected", "reason", in.reason)
}

func (s *Server) play(ctx context.Context, log *slog.Logger, nc net.Conn, conn *rtmpwire.Conn,
	sc *gortmplib.ServerConn, name string) {
	// The name is logged only once it names a stream: a player given the publish URL would
	// otherwise put the publish key in the log.
	if !s.AllowRead {
		log.Warn("play refused: RTMP reading is disabled (rtmp.read)")
		_ = sc.RejectAction()
		return
	}
	st := s.Registry.Get(name)
	if st == nil {
		log.Warn("play refused: no such stream")
		_ = sc.RejectAction()
		return
	}
	log = log.With("stream", name)
	maxLag := s.MaxLag
	if maxLag <= 0 {
		maxLag = DefaultMaxLag
	}
	rd, err := st.Subscribe(relay.ReaderOptions{MaxLag: maxLag})
	if err != nil {
		log.Warn("play refused: stream is not live")
		_ = sc.RejectAction()
		return
	}
	defer rd.Close()
	if err := sc.AcceptAction(); err != nil {
		log.Warn("play failed", "error", err)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	log.Info("player connected")
	if s.Viewers != nil {
		defer s.Viewers.Join(name, s.protocol())()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Read what the player sends (acknowledgements, pings) until it goes away; closing the
	// connection on the way out ends that read, and the goroutine is waited for.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer nc.Close()
	wg.Go(func() {
		defer cancel()
		defer func() {
			if v := recover(); v != nil {
				guard.LogPanic(log, s.protocol()+" player reader", v)
			}
		}()
		for {
			if _, err := sc.Read(); err != nil {
				return
			}
		}
	})
	writeTimeout := s.WriteTimeout
	if writeTimeout <= 0 {
		writeTimeout = DefaultWriteTimeout
	}
	snd := &rtmpwire.Sender{Conn: conn, WriteTimeout: writeTimeout}
	err = snd.Run(ctx, rd)
	switch {
	case errors.Is(err, relay.ErrEnded):
		log.Info("player closed: stream ended")
	case ctx.Err() != nil:
		log.Info("player disconnected", "bytes", snd.Bytes(), "skipped", rd.Skipped())
	default:
		log.Info("player closed", "error", err, "skipped", rd.Skipped())
	}
}

// Close closes the listener of a server that will not Run.
func (s *Server) Close() {
	if s.ln != nil {
		s.ln.Close()
	}
}
