package whip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/internal/netguard"
	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/transcode"
)

// Time limits of a session's set-up and end.
const (
	// requestTimeout bounds each HTTP exchange with the endpoint (the offer, the DELETE).
	requestTimeout = 10 * time.Second
	// connectTimeout bounds ICE and DTLS once the endpoint answered.
	connectTimeout = 15 * time.Second
	// gatherTimeout bounds candidate gathering before the offer is sent.
	gatherTimeout = 5 * time.Second
	// deleteTimeout bounds the DELETE that ends the session.
	deleteTimeout = 2 * time.Second
	// catchUp is how much faster than real time the backlog a session starts with is sent.
	catchUp = 1.5
	// maxAnswerSize bounds the endpoint's answer.
	maxAnswerSize = 64 << 10
)

// Config configures the pushers made by NewFunc.
type Config struct {
	// Net is the shared WebRTC network the sessions use (its UDP port, candidate rules and
	// STUN servers); nil gives each session its own ephemeral ports on every interface.
	Net *rtcnet.Net
}

// NewFunc returns the outputs.NewPusherFunc of whip+http(s):// destinations.
func NewFunc(c Config) outputs.NewPusherFunc {
	return func(u *url.URL, o outputs.Options) (outputs.Pusher, error) {
		p, err := NewPusher(u, o, c)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// Pusher publishes a stream to one WHIP endpoint.
type Pusher struct {
	t    target
	cfg  Config
	http *http.Client
	// guard refuses private addresses (HTTP and media) unless the destination may reach them.
	guard netguard.Guard
}

var (
	_ outputs.Pusher = (*Pusher)(nil)
	_ outputs.Needer = (*Pusher)(nil)
)

// NewPusher returns a pusher for whip+https://host/path?token=<token> (see parseURL).
func NewPusher(u *url.URL, o outputs.Options, c Config) (*Pusher, error) {
	t, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	g := o.Guard()
	return &Pusher{t: t, cfg: c, http: newHTTPClient(g), guard: g}, nil
}

// newHTTPClient is the client of the offers and DELETEs: it connects only where the guard
// allows (checked on the address dialled), never through a proxy of the environment (the
// check would then judge the proxy's address), and never follows a redirect: a redirect
// would carry the bearer token to another server, and let an endpoint point Beffroi at an
// address of its choosing.
func newHTTPClient(g netguard.Guard) *http.Client {
	d := g.Dialer(requestTimeout, 30*time.Second)
	tr := &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   requestTimeout,
		ResponseHeaderTimeout: requestTimeout,
		MaxIdleConns:          2,
		IdleConnTimeout:       30 * time.Second,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Needs implements outputs.Needer: what WebRTC receivers decode (H.264 first, VP8) and
// Opus; an AAC source gets an Opus rendition.
func (p *Pusher) Needs() transcode.Needs {
	return transcode.Needs{Video: []relay.Codec{relay.H264, relay.VP8}, Audio: []relay.Codec{relay.Opus}}
}

// where names the endpoint in errors: scheme and host only. Some platforms put the secret in
// the path (https://host/<secret>/webRTC/publish), not in a token.
func (p *Pusher) where() string {
	return p.t.endpoint.Scheme + "://" + p.t.endpoint.Host
}

// Push implements outputs.Pusher. It offers one track per kind the stream has, waits for ICE
// and DTLS, then sends the frames. A keyframe request (PLI/FIR) from the endpoint cannot be
// honoured: a relay reader cannot ask an RTMP or SRT encoder for one, so the receiver gets
// keyframes at the source's interval (WebRTC sources are asked every 2 s by ingest/whip).
func (p *Pusher) Push(ctx context.Context, r *relay.Reader, pr outputs.Progress) error {
	st := r.Stream()
	video, audio := st.Track(relay.Video), st.Track(relay.Audio)
	if video == nil && audio == nil {
		// No media yet (the stream just went live): wait for the first frame to know them.
		f, err := r.Next(ctx)
		if err != nil {
			return err
		}
		if f.Track.Kind() == relay.Video {
			video = f.Track
		} else {
			audio = f.Track
		}
		if video == nil {
			video = st.Track(relay.Video)
		}
		if audio == nil {
			audio = st.Track(relay.Audio)
		}
	}
	s, err := p.newSession(video, audio)
	if err != nil {
		return err
	}
	defer s.close()

	if err := s.offer(ctx, p); err != nil {
		return err
	}
	defer p.deleteSession(s.location)

	select {
	case <-s.connected:
	case <-s.failed:
		return fmt.Errorf("connect %s: %s", p.where(), s.cause())
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(connectTimeout):
		return fmt.Errorf("connect %s: no WebRTC connection (ICE, DTLS) within %s: is the endpoint's media port reachable?", p.where(), connectTimeout)
	}
	pr.Live()
	return s.send(ctx, r, pr)
}

// session is one PeerConnection to the endpoint.
type session struct {
	pc        *webrtc.PeerConnection
	senders   [2]*trackSender // by relay.Kind
	location  string          // the session's URL, once the endpoint answered
	connected chan struct{}
	failed    chan struct{}
	causeMu   sync.Mutex
	why       string
	plis      atomic.Uint64
	wg        sync.WaitGroup // the RTCP readers
}

// close closes the PeerConnection and waits for the goroutines reading from it.
func (s *session) close() {
	_ = s.pc.Close()
	s.wg.Wait()
}

func (s *session) cause() string {
	s.causeMu.Lock()
	defer s.causeMu.Unlock()
	return s.why
}

// newSession builds the PeerConnection with one send-only transceiver per track.
func (p *Pusher) newSession(video, audio *relay.Track) (*session, error) {
	me := &webrtc.MediaEngine{}
	s := &session{connected: make(chan struct{}), failed: make(chan struct{})}
	type pending struct {
		kind relay.Kind
		t    *relay.Track
		c    webrtc.RTPCodecCapability
	}
	var list []pending
	for k, t := range map[relay.Kind]*relay.Track{relay.Video: video, relay.Audio: audio} {
		if t == nil {
			continue
		}
		c, err := codecOf(t)
		if err != nil || (k == relay.Video) != (t.Codec != relay.Opus) {
			return nil, fmt.Errorf("%w: %s", outputs.ErrTrackNotAccepted, t.Codec)
		}
		typ, pt := webrtc.RTPCodecTypeVideo, webrtc.PayloadType(videoPT)
		if k == relay.Audio {
			typ, pt = webrtc.RTPCodecTypeAudio, audioPT
		}
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: pt}, typ); err != nil {
			return nil, fmt.Errorf("codec %s: %w", t.Codec, err)
		}
		list = append(list, pending{k, t, c})
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("interceptors: %w", err)
	}
	var cfg webrtc.Configuration
	se := webrtc.SettingEngine{}
	if n := p.cfg.Net; n != nil {
		se = n.SettingEngine()
		cfg.ICEServers = n.ICEServers()
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	s.pc = pc
	// Video first in the offer, as browsers do.
	if len(list) == 2 && list[0].kind == relay.Audio {
		list[0], list[1] = list[1], list[0]
	}
	for _, e := range list {
		ts, err := newTrackSender(e.t, e.c, e.kind.String())
		if err != nil {
			_ = pc.Close()
			return nil, err
		}
		tr, err := pc.AddTransceiverFromTrack(ts.local, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			_ = pc.Close()
			return nil, fmt.Errorf("add %s track: %w", e.kind, err)
		}
		s.senders[e.kind] = ts
		// Read RTCP: the interceptors (NACK, reports) need it read.
		s.wg.Go(func() {
			for {
				pkts, _, err := tr.Sender().ReadRTCP()
				if err != nil {
					return
				}
				for _, pkt := range pkts {
					switch pkt.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						s.plis.Add(1)
					}
				}
			}
		})
	}
	var once, failOnce sync.Once
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		switch state {
		case webrtc.PeerConnectionStateConnected:
			once.Do(func() { close(s.connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			failOnce.Do(func() {
				s.causeMu.Lock()
				s.why = "the WebRTC connection " + state.String() + " (endpoint gone, or its media port unreachable)"
				s.causeMu.Unlock()
				close(s.failed)
			})
		}
	})
	return s, nil
}

// offer sends the offer with every candidate (no trickle) and applies the answer.
func (s *session) offer(ctx context.Context, p *Pusher) error {
	offer, err := s.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set offer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(gatherTimeout):
		// Send what was gathered.
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, p.t.endpoint.String(),
		strings.NewReader(s.pc.LocalDescription().SDP))
	if err != nil {
		return fmt.Errorf("offer to %s: %w", p.where(), err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	p.authorize(req)
	resp, err := p.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var refused *netguard.RefusedError
		if errors.As(err, &refused) {
			return fmt.Errorf("offer to %s: %w", p.where(), refused)
		}
		return fmt.Errorf("offer to %s: %s", p.where(), p.scrub(unwrapURLError(err)))
	}
	defer resp.Body.Close()
	// Only a 201 is read: the body of an error answer never reaches the operator (an
	// endpoint's error page, or whatever a server that is not a WHIP endpoint answers).
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("offer to %s: the endpoint refused the token (wrong or expired?): endpoint answered %s", p.where(), resp.Status)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fmt.Errorf("offer to %s: endpoint answered %s: redirects are not followed (give the endpoint's final URL)", p.where(), resp.Status)
	case resp.StatusCode != http.StatusCreated:
		return fmt.Errorf("offer to %s: endpoint answered %s", p.where(), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerSize+1))
	if err != nil {
		return fmt.Errorf("offer to %s: reading the answer: %s", p.where(), p.scrub(err.Error()))
	}
	if len(body) > maxAnswerSize {
		return fmt.Errorf("offer to %s: answer too large", p.where())
	}
	loc, err := sessionURL(p.t.endpoint, resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("offer to %s: %w", p.where(), err)
	}
	s.location = loc
	answer, err := p.mediaCandidates(string(body))
	if err != nil {
		return fmt.Errorf("offer to %s: %w", p.where(), err)
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("offer to %s: invalid answer: %w", p.where(), err)
	}
	return nil
}

// send writes the reader's frames until the stream ends, ctx is done or the connection fails.
func (s *session) send(ctx context.Context, r *relay.Reader, pr outputs.Progress) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		select {
		case <-s.failed:
			cancel()
		case <-ctx.Done():
		}
	})
	var (
		origin    time.Duration
		based     bool
		wallStart time.Time
		first     time.Duration
	)
	for {
		f, err := r.Next(ctx)
		if err != nil {
			select {
			case <-s.failed:
				return errors.New(s.cause())
			default:
			}
			return err
		}
		k := f.Track.Kind()
		ts := s.senders[k]
		if ts == nil || f.Track.Codec != ts.codec {
			// A kind not offered, or another codec (a publisher came back with other
			// settings): offer again.
			return fmt.Errorf("%w: %s %s", outputs.ErrTrackNotAccepted, k, f.Track.Codec)
		}
		if !based {
			// Slightly before the first frame, so that frames presented before it (audio
			// interleaved before a keyframe) keep positive times.
			origin, based = f.DTS-time.Second, true
			wallStart, first = time.Now(), f.DTS
		}
		// The reader starts at the newest keyframe, up to seconds behind live: sent at
		// once, that backlog would overflow the receiver's buffers (loss, then no picture
		// until the next keyframe). It goes at catchUp times real time instead.
		if wait := time.Duration(float64(f.DTS-first)/catchUp) - time.Since(wallStart); wait > time.Millisecond {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		n, err := ts.write(f, f.PTS-origin)
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		pr.Wrote(n, 1)
	}
}

// authorize adds the bearer token, when there is one.
func (p *Pusher) authorize(req *http.Request) {
	if p.t.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.t.token)
	}
}

// deleteSession ends the session at the endpoint (RFC 9725 4.2), best effort.
func (p *Pusher) deleteSession(location string) {
	if location == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, location, nil)
	if err != nil {
		return
	}
	p.authorize(req)
	if resp, err := p.http.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
	}
}

// scrub removes the token from a message (an endpoint may echo it; net/http quotes URLs).
func (p *Pusher) scrub(msg string) string {
	if p.t.token == "" {
		return msg
	}
	for _, v := range []string{p.t.token, url.QueryEscape(p.t.token), url.PathEscape(p.t.token)} {
		msg = strings.ReplaceAll(msg, v, "<token>")
	}
	return msg
}

// unwrapURLError drops the "Post \"URL\": " prefix net/http puts on errors.
func unwrapURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
