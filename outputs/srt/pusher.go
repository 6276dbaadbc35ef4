package srt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/beffroi/beffroi/internal/netguard"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
)

// DefaultConnectTimeout bounds the SRT handshake when the URL sets no conntimeo.
const DefaultConnectTimeout = 10 * time.Second

// drainTimeout bounds the wait for the last packets to be acknowledged when the stream ends,
// before the connection is closed (gosrt drops what it has not sent when it closes).
const drainTimeout = time.Second

// Pusher publishes a stream to one srt:// URL, in caller mode, as MPEG-TS.
type Pusher struct {
	addr         string // host:port
	cfg          gosrt.Config
	writeTimeout time.Duration
	// guard refuses private addresses unless the destination may reach them.
	guard netguard.Guard
}

var (
	_ outputs.Pusher = (*Pusher)(nil)
	_ outputs.Needer = (*Pusher)(nil)
)

// New returns a pusher for srt://host:port?streamid=...&passphrase=...&latency=... URLs. The
// query is read as gosrt reads it (the srt-live-transmit keys: streamid, passphrase, pbkeylen,
// latency, rcvlatency, peerlatency, conntimeo, mss, payloadsize, ...), with two additions:
//   - latency, rcvlatency and peerlatency are milliseconds; a value above 10000 is taken as
//     microseconds, the unit ffmpeg and OBS use (latency=2000000 is 2 s either way);
//   - a stream ID that starts with '#' (the "#!::r=...,m=publish" form) may be written
//     unescaped, although a URL parser reads it as a fragment.
func New(u *url.URL, o outputs.Options) (outputs.Pusher, error) {
	p, err := NewPusher(u, o)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// NewPusher is New returning the concrete type.
func NewPusher(u *url.URL, o outputs.Options) (*Pusher, error) {
	if u.Scheme != "srt" {
		return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("srt:// URLs carry no user name: put the credentials in streamid or passphrase")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("srt:// URLs have no path (srt://host:port?streamid=...&passphrase=...)")
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return nil, errors.New("the URL must name a host and a port (srt://host:port?streamid=...)")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, fmt.Errorf("invalid port %q", port)
	}
	query := u.RawQuery
	if u.Fragment != "" {
		// srt://host:port?streamid=#!::r=... : the '#' begins the stream ID, not a fragment.
		query += "%23" + u.EscapedFragment()
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		// ParseQuery's error quotes the query, which holds the stream ID and passphrase.
		return nil, errors.New("the URL's query is not valid")
	}
	if m := values.Get("mode"); m != "" && m != "caller" {
		return nil, fmt.Errorf("mode %q is not supported: a destination calls the SRT listener (mode=caller)", m)
	}
	for _, k := range []string{"latency", "rcvlatency", "peerlatency"} {
		if v := values.Get(k); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s: %q is not a number of milliseconds", k, v)
			}
			if n > 10000 {
				values.Set(k, strconv.FormatInt(n/1000, 10)) // microseconds, as ffmpeg writes it
			}
		}
	}
	cfg := gosrt.DefaultConfig()
	cfg.ConnectionTimeout = DefaultConnectTimeout
	if err := cfg.UnmarshalQuery(values.Encode()); err != nil {
		return nil, errors.New("the URL's query is not valid")
	}
	check := cfg // Validate adjusts the config it checks: Dial validates its own copy
	if err := check.Validate(); err != nil {
		// gosrt's messages name the setting, never its value.
		return nil, fmt.Errorf("invalid SRT settings: %s", strings.TrimPrefix(err.Error(), "config: "))
	}
	wt := o.WriteTimeout
	if wt <= 0 {
		wt = 10 * time.Second
	}
	return &Pusher{addr: u.Host, cfg: cfg, writeTimeout: wt, guard: o.Guard()}, nil
}

// Push implements outputs.Pusher.
func (p *Pusher) Push(ctx context.Context, r *relay.Reader, pr outputs.Progress) error {
	conn, err := p.dial(ctx)
	if err != nil {
		return err
	}
	pr.Live()

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer conn.Close()
	// A caller receives no media; reading tells when the destination hangs up (or stops
	// answering: gosrt closes the connection after its peer idle timeout).
	var peerClosed atomic.Bool
	wg.Go(func() {
		buf := make([]byte, gosrt.MAX_PAYLOAD_SIZE)
		for {
			if _, err := conn.Read(buf); err != nil {
				peerClosed.Store(true)
				cancel()
				return
			}
		}
	})

	cw := &connWriter{conn: conn, ctx: ctx, timeout: p.writeTimeout, payload: payloadSize(p.cfg)}
	bw := bufio.NewWriterSize(cw, cw.payload)
	m := &muxer{w: bw}
	err = m.run(ctx, r, func() error {
		if err := bw.Flush(); err != nil {
			return cw.cause(err)
		}
		pr.Wrote(cw.take(), 1)
		return nil
	})
	switch {
	case parent.Err() != nil:
		return parent.Err()
	case errors.Is(err, relay.ErrEnded):
		drain(conn, drainTimeout)
		return err
	case peerClosed.Load():
		return errors.New("connection closed by the destination")
	}
	return err
}

// dial connects to the destination. The name is resolved and its address checked here, and
// gosrt dials that address as is: a second resolution could answer otherwise (DNS
// rebinding). gosrt's Dial takes no context: when ctx is cancelled first, Push returns at
// once and a goroutine closes the connection once Dial returns (within the connect timeout).
func (p *Pusher) dial(ctx context.Context) (gosrt.Conn, error) {
	rctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectionTimeout)
	addr, err := p.guard.ResolveUDP(rctx, p.addr)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("connect srt://%s: %w", p.addr, err)
	}
	type result struct {
		conn gosrt.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := gosrt.Dial("srt", addr, p.cfg)
		ch <- result{c, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("connect srt://%s: %s", p.addr, explain(res.err, p.cfg.ConnectionTimeout))
		}
		return res.conn, nil
	case <-ctx.Done():
		go func() {
			if res := <-ch; res.conn != nil {
				res.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// payloadSize is the largest whole number of MPEG-TS packets one SRT packet carries (1316).
func payloadSize(cfg gosrt.Config) int {
	n := int(cfg.PayloadSize) / 188 * 188
	if n < 188 {
		n = 188
	}
	return n
}

// drain waits, up to limit, until the destination acknowledged everything sent.
func drain(conn gosrt.Conn, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		var s gosrt.Statistics
		conn.Stats(&s)
		if s.Instantaneous.PktSendBuf == 0 {
			return
		}
	}
}

// explain turns gosrt's dial errors into what happened. None of them quotes the stream ID.
func explain(err error, timeout time.Duration) string {
	msg := err.Error()
	if strings.Contains(msg, "connection timeout") {
		return fmt.Sprintf("no SRT answer within %s (no SRT listener there, or a firewall in the way)", timeout)
	}
	code, ok := rejection(msg)
	if !ok {
		return msg
	}
	var what string
	switch code {
	case gosrt.REJX_UNAUTHORIZED, gosrt.REJX_FORBIDDEN:
		what = "the destination refused the stream ID (wrong or expired stream key?)"
	case gosrt.REJX_NOTFOUND:
		what = "the destination knows no stream by this stream ID"
	case gosrt.REJX_BAD_REQUEST:
		what = "the destination did not understand the stream ID"
	case gosrt.REJX_CONFLICT, gosrt.REJX_LOCKED:
		what = "the destination's stream is already being published"
	case gosrt.REJ_BADSECRET:
		what = "the destination refused the passphrase"
	case gosrt.REJ_UNSECURE:
		what = "the destination and the URL disagree on encryption (passphrase missing or not expected)"
	case gosrt.REJ_VERSION:
		what = "the destination's SRT version is not supported"
	default:
		what = "the destination refused the connection"
	}
	return fmt.Sprintf("%s (SRT rejection %d)", what, code)
}

// rejection reads the rejection code in gosrt's "connection rejected: REJECT (1bp)", which
// prints the code in base 32.
func rejection(msg string) (gosrt.RejectionReason, bool) {
	_, rest, ok := strings.Cut(msg, "REJECT (")
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, ")")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 32, 32)
	if err != nil {
		return 0, false
	}
	return gosrt.RejectionReason(n), true
}

// Needs implements outputs.Needer: MPEG-TS carries H.264 or H.265 video and AAC or Opus audio.
func (p *Pusher) Needs() transcode.Needs {
	return transcode.Needs{
		Video: []relay.Codec{relay.H264, relay.H265},
		Audio: []relay.Codec{relay.AAC, relay.Opus},
	}
}
