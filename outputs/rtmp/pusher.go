package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"

	"github.com/beffroi/beffroi/internal/rtmpwire"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
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
}

var _ outputs.Pusher = (*Pusher)(nil)

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
	return &Pusher{target: t, writeTimeout: o.WriteTimeout}, nil
}

// Push implements outputs.Pusher.
func (p *Pusher) Push(ctx context.Context, r *relay.Reader, pr outputs.Progress) error {
	var conn *rtmpwire.Conn
	dialer := &net.Dialer{Timeout: connectTimeout, KeepAlive: 15 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn = rtmpwire.NewConn(c)
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
			return nil, fmt.Errorf("tls: %w", err)
		}
		conn = rtmpwire.NewConn(tc)
		return conn, nil
	}
	client := &gortmplib.Client{URL: p.target, Publish: true, DialContext: dial}
	if p.target.Scheme == "rtmps" {
		client.DialTLSContext = dialTLS
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	err := client.Initialize(cctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("connect %s://%s: %w", p.target.Scheme, p.target.Host, err)
	}
	defer conn.Close()
	pr.Live()

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
	s := &rtmpwire.Sender{Conn: conn, WriteTimeout: p.writeTimeout, OnWrite: pr.Wrote}
	err = s.Run(ctx, r)
	if errors.Is(err, relay.ErrEnded) {
		return err
	}
	if err != nil && ctx.Err() == nil {
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
