package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/beffroi/beffroi/internal/netguard"
	"github.com/beffroi/beffroi/internal/rtmpwire"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
)

// connectTimeout bounds the TCP connection, TLS and RTMP handshakes and the publish setup.
const connectTimeout = 10 * time.Second

// Pusher publishes a stream to one RTMP(S) URL.
type Pusher struct {
	// target is the URL in gortmplib's form: the application in the path, the stream key in
	// the fragment.
	target *url.URL
	// TLSConfig is used for rtmps:// (nil: the system roots, server name from the URL).
	TLSConfig    *tls.Config
	writeTimeout time.Duration
	// guard refuses private addresses unless the destination may reach them.
	guard netguard.Guard
}

var (
	_ outputs.Pusher = (*Pusher)(nil)
	_ outputs.Needer = (*Pusher)(nil)
)

// New returns a pusher for rtmp:// or rtmps:// URLs written as platforms give them:
// rtmp://host[:port]/<app>/<stream key>[?query] (the key may contain slashes and a query).
func New(u *url.URL, o outputs.Options) (outputs.Pusher, error) {
	p, err := NewPusher(u, o)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// NewPusher is New returning the concrete type (tests set TLSConfig).
func NewPusher(u *url.URL, o outputs.Options) (*Pusher, error) {
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("URL has no host")
	}
	app, key, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if app == "" {
		return nil, errors.New("URL has no application path (rtmp://host/app/key)")
	}
	if u.RawQuery != "" {
		key += "?" + u.RawQuery
	}
	t := &url.URL{Scheme: u.Scheme, Host: u.Host, User: u.User, Path: "/" + app, Fragment: key}
	return &Pusher{target: t, writeTimeout: o.WriteTimeout, guard: o.Guard()}, nil
}

// Push implements outputs.Pusher.
func (p *Pusher) Push(ctx context.Context, r *relay.Reader, pr outputs.Progress) error {
	var conn *rtmpwire.Conn
	// The guard checks the address being connected to, after resolution.
	dialer := p.guard.Dialer(connectTimeout, 15*time.Second)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn = rtmpwire.NewConn(c)
		conn.QuickAck(true)
		return conn, nil
	}
	dialTLS := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cfg := &tls.Config{}
		if p.TLSConfig != nil {
			cfg = p.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = p.target.Hostname()
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		conn = rtmpwire.NewConn(tc)
		conn.QuickAck(true)
		return conn, nil
	}
	client := &gortmplib.Client{URL: p.target, Publish: true, DialContext: dial}
	if p.target.Scheme == "rtmps" {
		client.DialTLSContext = dialTLS
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	err := client.Initialize(cctx)
	timedOut := errors.Is(cctx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var refused *netguard.RefusedError
		if errors.As(err, &refused) {
			return fmt.Errorf("connect %s://%s: %w", p.target.Scheme, p.target.Host, refused)
		}
		if timedOut {
			return fmt.Errorf("connect %s://%s: no RTMP answer within %s", p.target.Scheme, p.target.Host, connectTimeout)
		}
		return fmt.Errorf("connect %s://%s: %s", p.target.Scheme, p.target.Host, explain(err))
	}
	defer conn.Close()
	conn.QuickAck(false) // the connect's exchanges are over: media flows one way now
	pr.Live()

	parent := ctx
	ctx, cancel = context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer conn.Close()
	// Read what the platform sends (acknowledgements, pings, an error before it hangs up).
	var readErr error
	wg.Go(func() {
		defer cancel()
		for {
			if _, err := client.Read(); err != nil {
				readErr = err
				return
			}
		}
	})
	// When the operator switches the destination off, a write stuck on a platform that stopped
	// reading must not hold the switch for the whole write time-out.
	stopInterrupt := context.AfterFunc(parent, conn.Interrupt)
	defer stopInterrupt()
	needs := p.Needs()
	s := &rtmpwire.Sender{Conn: conn, WriteTimeout: p.writeTimeout, OnWrite: pr.Wrote,
		Accept: func(t *relay.Track) error {
			fits := needs.Fits(nil, t)
			if t.Kind() == relay.Video {
				fits = needs.Fits(t, nil)
			}
			if !fits {
				return fmt.Errorf("%w: %s", outputs.ErrTrackNotAccepted, t.Codec)
			}
			return nil
		}}
	err = s.Run(ctx, r)
	if errors.Is(err, relay.ErrEnded) || errors.Is(err, outputs.ErrTrackNotAccepted) || parent.Err() != nil {
		// The broadcast ended here or the operator switched the destination off: end the
		// session the way encoders do, so the platform closes the broadcast at once instead
		// of waiting for a time-out.
		unpublish(conn, p.target.Fragment)
		if perr := parent.Err(); perr != nil {
			return perr
		}
		return err
	}
	if ctx.Err() == nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("platform accepted no data for %s", p.writeTimeout)
		}
		return fmt.Errorf("send: %w", err)
	}
	conn.Close()
	wg.Wait()
	if readErr != nil && !errors.Is(readErr, net.ErrClosed) {
		// The platform hung up while we were sending.
		return fmt.Errorf("connection closed by the platform: %w", readErr)
	}
	return err
}

// unpublish sends FCUnpublish and deleteStream, as OBS and ffmpeg do when they stop. The
// bytes go through conn directly: gortmplib's writer belongs to the goroutine reading.
func unpublish(conn *rtmpwire.Conn, key string) {
	b, err := rtmpwire.Serialize(
		&message.CommandAMF0{ChunkStreamID: 3, Name: "FCUnpublish", CommandID: 6, Arguments: []any{nil, key}},
		&message.CommandAMF0{ChunkStreamID: 3, Name: "deleteStream", CommandID: 7, Arguments: []any{nil, float64(1)}},
	)
	if err != nil {
		return
	}
	conn.Resume()
	bufs := net.Buffers{b}
	_, _ = conn.WriteBuffers(&bufs, time.Second)
}

var (
	statusCode = regexp.MustCompile(`\{code ([A-Za-z.]+)\}`)
	statusDesc = regexp.MustCompile(`\{description ([^}]*)\}`)
)

// explain turns gortmplib's dump of a refused command into what the platform said.
func explain(err error) string {
	msg := err.Error()
	code := statusCode.FindStringSubmatch(msg)
	if code == nil {
		return msg
	}
	var what string
	switch {
	case strings.Contains(code[1], "BadName"), strings.Contains(code[1], "Unauthorized"),
		strings.Contains(code[1], "Rejected"):
		what = "the platform refused the stream (wrong or expired stream key?)"
	default:
		what = "the platform answered with an error"
	}
	out := what + ": " + code[1]
	if d := statusDesc.FindStringSubmatch(msg); d != nil && d[1] != "" {
		out += " (" + d[1] + ")"
	}
	return out
}

// Needs implements outputs.Needer: platforms take what RTMP (enhanced RTMP included) carries
// for video, and AAC for audio; an Opus source (a phone browser) gets an AAC rendition.
func (p *Pusher) Needs() transcode.Needs {
	return transcode.Needs{
		Video: []relay.Codec{relay.H264, relay.H265, relay.AV1, relay.VP9},
		Audio: []relay.Codec{relay.AAC},
	}
}
