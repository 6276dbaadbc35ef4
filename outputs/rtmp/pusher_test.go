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
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/beffroi/beffroi/internal/netguard"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

const (
	waitTimeout = testutil.WaitTimeout
	streamKey   = "abcd-efgh-ijkl-mnop"
)

func TestNewPusher(t *testing.T) {
	for _, tt := range []struct {
		url, app, key string
	}{
		{"rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop", "live2", "abcd-efgh-ijkl-mnop"},
		{"rtmps://a.rtmps.youtube.com:443/live2/abcd-efgh-ijkl-mnop", "live2", "abcd-efgh-ijkl-mnop"},
		{"rtmps://live-api-s.facebook.com:443/rtmp/FB-1234567890-0-Ab?s_bl=1&s_psm=1&a=AbCd", "rtmp", "FB-1234567890-0-Ab?s_bl=1&s_psm=1&a=AbCd"},
		{"rtmps://va.pscp.tv:443/x/k3yx", "x", "k3yx"},
		{"rtmp://live.twitch.tv/app/live_123456_AbCdEf", "app", "live_123456_AbCdEf"},
		{"rtmp://user:pass@rtmp.example.org:1936/live/with/slashes", "live", "with/slashes"},
	} {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPusher(u, outputs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			tg := p.target
			if tg.Scheme != u.Scheme || tg.Host != u.Host || tg.Path != "/"+tt.app || tg.Fragment != tt.key || tg.RawQuery != "" {
				t.Errorf("target = %#v, want app %q and key %q", tg, tt.app, tt.key)
			}
			if u.User != nil && tg.User.String() != u.User.String() {
				t.Errorf("credentials lost: %v", tg.User)
			}
		})
	}
	for _, bad := range []string{
		"rtmp://a.rtmp.youtube.com", "rtmp://a.rtmp.youtube.com/", "srt://host:9000/app/key",
		"http://host/app/key", "rtmp:///app/key",
	} {
		u, err := url.Parse(bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewPusher(u, outputs.Options{}); err == nil {
			t.Errorf("NewPusher(%s) succeeded", bad)
		}
	}
}

// newSource is a live relay stream with H.264 and AAC, fed by the test.
func newSource(t testing.TB, o relaytest.Options) *relaytest.Publisher {
	t.Helper()
	return relaytest.Publish(t, relaytest.NewStream(t, "conseil"), o)
}

// progress records what a pusher reports.
type progress struct {
	live          atomic.Bool
	bytes, frames atomic.Int64
}

func (p *progress) Live()                   { p.live.Store(true) }
func (p *progress) Wrote(bytes, frames int) { p.bytes.Add(int64(bytes)); p.frames.Add(int64(frames)) }

// push runs p.Push in a goroutine; the channel yields its result.
func push(ctx context.Context, p *Pusher, r *relay.Reader, pr outputs.Progress) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- p.Push(ctx, r, pr) }()
	return ch
}

func waitPush(t testing.TB, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("Push did not return")
	}
	return nil
}

// platform is an RTMP ingest in the test, with gortmplib's server side.
type platform struct {
	t    testing.TB
	ln   net.Listener
	mode string // "accept", "refuse" or "stall" (stops reading once the tracks are known)
	// sessions receives each publish session once its tracks are known (or it is refused).
	sessions chan *session
	quit     chan struct{}
	wg       sync.WaitGroup
	accepted atomic.Int32 // TCP connections accepted
}

// session is what the platform saw of one publisher.
type session struct {
	url      *url.URL
	publish  bool
	tracks   []string
	nc       net.Conn
	mu       sync.Mutex
	video    []int // sequence numbers
	audio    int
	keys     []bool
	commands []string
	// err is why the session could not start; readErr why it ended.
	err     error
	readErr error
	done    chan struct{}
}

func (s *session) counts() (video, audio int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.video), s.audio
}

func (s *session) hasCommand(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.commands {
		if c == name {
			return true
		}
	}
	return false
}

func startPlatform(t testing.TB, mode string, tlsConfig *tls.Config) *platform {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	pf := &platform{t: t, ln: ln, mode: mode, sessions: make(chan *session, 16), quit: make(chan struct{})}
	pf.wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			pf.accepted.Add(1)
			pf.wg.Go(func() { pf.serve(nc) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		close(pf.quit)
		pf.wg.Wait()
	})
	return pf
}

func (pf *platform) url(scheme, path string) *url.URL {
	u, err := url.Parse(scheme + "://" + pf.ln.Addr().String() + path)
	if err != nil {
		pf.t.Fatal(err)
	}
	return u
}

// spyConn records the commands a publisher sends while gortmplib's Reader reads its media.
type spyConn struct {
	*gortmplib.ServerConn
	s *session
}

func (c *spyConn) Read() (message.Message, error) {
	m, err := c.ServerConn.Read()
	if cmd, ok := m.(*message.CommandAMF0); ok {
		c.s.mu.Lock()
		c.s.commands = append(c.s.commands, cmd.Name)
		c.s.mu.Unlock()
	}
	return m, err
}

func (pf *platform) serve(nc net.Conn) {
	defer nc.Close()
	s := &session{nc: nc, done: make(chan struct{})}
	defer close(s.done)
	_ = nc.SetDeadline(time.Now().Add(waitTimeout))
	sc := &gortmplib.ServerConn{RW: nc}
	if s.err = sc.Initialize(); s.err != nil {
		return
	}
	if s.err = sc.AcceptConn(); s.err != nil {
		return
	}
	s.url, s.publish = sc.URL, sc.Publish
	if pf.mode == "refuse" {
		_ = sc.RejectAction()
		pf.sessions <- s
		return
	}
	if s.err = sc.AcceptAction(); s.err != nil {
		pf.sessions <- s
		return
	}
	r := &gortmplib.Reader{Conn: &spyConn{sc, s}}
	err := r.Initialize()
	if err != nil {
		s.err = err
		pf.sessions <- s
		return
	}
	for _, tr := range r.Tracks() {
		switch tr.Codec.(type) {
		case *codecs.H264:
			s.tracks = append(s.tracks, "H264")
			r.OnDataH264(tr, func(_, _ time.Duration, au [][]byte) {
				if h264.NALUType(au[0][0]&0x1f) == h264.NALUTypeSPS {
					return // the sequence header
				}
				s.mu.Lock()
				s.video = append(s.video, relaytest.UnitSeq(au[len(au)-1]))
				s.keys = append(s.keys, h264.IsRandomAccess(au))
				s.mu.Unlock()
			})
		case *codecs.MPEG4Audio:
			s.tracks = append(s.tracks, "AAC")
			r.OnDataMPEG4Audio(tr, func(time.Duration, []byte) {
				s.mu.Lock()
				s.audio++
				s.mu.Unlock()
			})
		default:
			s.tracks = append(s.tracks, "other")
		}
	}
	pf.sessions <- s
	if pf.mode == "stall" {
		<-pf.quit
		return
	}
	_ = nc.SetDeadline(time.Time{})
	for {
		if err := r.Read(); err != nil {
			s.mu.Lock()
			s.readErr = err
			s.mu.Unlock()
			return
		}
	}
}

func (pf *platform) next(t testing.TB) *session {
	t.Helper()
	select {
	case s := <-pf.sessions:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("no publish session on the platform")
	}
	return nil
}

// newPusher makes a pusher allowed to reach the test platforms, which are on 127.0.0.1.
func newPusher(t testing.TB, u *url.URL, o outputs.Options) *Pusher {
	t.Helper()
	o.AllowPrivateNetworks = true
	p, err := NewPusher(u, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPush(t *testing.T) {
	for _, tt := range []struct {
		name, path      string
		wantPath, query string
	}{
		{"youtube", "/live2/" + streamKey, "/live2/" + streamKey, ""},
		{"facebook", "/rtmp/FB-123456?s_bl=1&a=xyzw", "/rtmp/FB-123456", "s_bl=1&a=xyzw"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pf := startPlatform(t, "accept", nil)
			src := newSource(t, relaytest.Options{})
			src.Send(500 * time.Millisecond)
			p := newPusher(t, pf.url("rtmp", tt.path), outputs.Options{WriteTimeout: waitTimeout})
			pr := &progress{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res := push(ctx, p, relaytest.Subscribe(t, src.Stream()), pr)

			// The platform needs 2 s of media to find the tracks.
			src.Send(3 * time.Second)
			s := pf.next(t)
			if s.err != nil {
				t.Fatalf("platform: %v", s.err)
			}
			if !s.publish || s.url.Path != tt.wantPath || s.url.RawQuery != tt.query {
				t.Errorf("platform got publish=%v path %q query %q, want path %q query %q",
					s.publish, s.url.Path, s.url.RawQuery, tt.wantPath, tt.query)
			}
			if got := strings.Join(s.tracks, ","); got != "H264,AAC" {
				t.Errorf("platform found tracks %q, want H264,AAC", got)
			}
			if !pr.live.Load() {
				t.Error("Progress.Live not called")
			}
			lastV, lastA := src.Sent()
			testutil.WaitFor(t, "every frame on the platform", func() bool {
				v, a := s.counts()
				return v == lastV && a == lastA
			})
			s.mu.Lock()
			for i, n := range s.video {
				if n != i || s.keys[i] != (i%30 == 0) {
					t.Errorf("video frame %d: got frame %d, key %v", i, n, s.keys[i])
					break
				}
			}
			s.mu.Unlock()
			testutil.WaitFor(t, "progress to count every frame", func() bool { return pr.frames.Load() == int64(lastV+lastA) })
			if pr.bytes.Load() <= 0 {
				t.Error("no bytes reported")
			}

			// The stream ends: Push returns relay.ErrEnded and closes the session as encoders do.
			src.Stream().Stop()
			if err := waitPush(t, res); !errors.Is(err, relay.ErrEnded) {
				t.Errorf("Push after the stream ended = %v, want relay.ErrEnded", err)
			}
			<-s.done
			if !s.hasCommand("FCUnpublish") || !s.hasCommand("deleteStream") {
				t.Errorf("platform got commands %v, want FCUnpublish and deleteStream", s.commands)
			}
		})
	}
}

// TestPushToLiveStream starts a push on a stream that has been live for a while, as a
// destination enabled mid-event or reconnecting does.
func TestPushToLiveStream(t *testing.T) {
	pf := startPlatform(t, "accept", nil)
	src := newSource(t, relaytest.Options{})
	src.Send(3500 * time.Millisecond)
	p := newPusher(t, pf.url("rtmp", "/live2/"+streamKey), outputs.Options{WriteTimeout: waitTimeout})
	ctx, cancel := context.WithCancel(context.Background())
	res := push(ctx, p, relaytest.Subscribe(t, src.Stream()), &progress{})
	src.Send(3 * time.Second)
	s := pf.next(t)
	if got := strings.Join(s.tracks, ","); got != "H264,AAC" || s.err != nil {
		t.Errorf("platform found tracks %q (%v), want H264,AAC", got, s.err)
	}
	cancel()
	waitPush(t, res)
}

func TestPushRefused(t *testing.T) {
	pf := startPlatform(t, "refuse", nil)
	src := newSource(t, relaytest.Options{})
	p := newPusher(t, pf.url("rtmp", "/live2/"+streamKey), outputs.Options{})
	pr := &progress{}
	err := waitPush(t, push(context.Background(), p, relaytest.Subscribe(t, src.Stream()), pr))
	if err == nil {
		t.Fatal("Push to a platform refusing the key succeeded")
	}
	if strings.Contains(err.Error(), streamKey) {
		t.Errorf("error reveals the key: %v", err)
	}
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("error does not say the platform refused: %v", err)
	}
	if pr.live.Load() {
		t.Error("Progress.Live called for a refused session")
	}
	t.Log(err)
}

func TestPushClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	src := newSource(t, relaytest.Options{})
	for _, scheme := range []string{"rtmp", "rtmps"} {
		u, _ := url.Parse(scheme + "://" + addr + "/live2/" + streamKey)
		pr := &progress{}
		err := waitPush(t, push(context.Background(), newPusher(t, u, outputs.Options{}), relaytest.Subscribe(t, src.Stream()), pr))
		if err == nil {
			t.Fatalf("%s: Push to a closed port succeeded", scheme)
		}
		if strings.Contains(err.Error(), streamKey) {
			t.Errorf("%s: error reveals the key: %v", scheme, err)
		}
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("%s: error does not say where: %v", scheme, err)
		}
		if pr.live.Load() {
			t.Errorf("%s: Progress.Live called", scheme)
		}
	}
}

func TestPushRTMPS(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	pf := startPlatform(t, "accept", &tls.Config{Certificates: []tls.Certificate{cert}})
	u := pf.url("rtmps", "/live2/"+streamKey)

	t.Run("trusted", func(t *testing.T) {
		src := newSource(t, relaytest.Options{})
		p := newPusher(t, u, outputs.Options{WriteTimeout: waitTimeout})
		p.TLSConfig = &tls.Config{RootCAs: pool}
		ctx, cancel := context.WithCancel(context.Background())
		res := push(ctx, p, relaytest.Subscribe(t, src.Stream()), &progress{})
		src.Send(3 * time.Second)
		s := pf.next(t)
		if s.err != nil || s.url.Path != "/live2/"+streamKey || strings.Join(s.tracks, ",") != "H264,AAC" {
			t.Fatalf("platform: %v, path %q, tracks %v", s.err, s.url.Path, s.tracks)
		}
		testutil.WaitFor(t, "frames over RTMPS", func() bool { v, _ := s.counts(); sent, _ := src.Sent(); return v == sent })
		// Switched off: Push returns at once and the session is closed.
		cancel()
		if err := waitPush(t, res); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Push after cancel = %v", err)
		}
		<-s.done
	})
	t.Run("untrusted", func(t *testing.T) {
		src := newSource(t, relaytest.Options{})
		p := newPusher(t, u, outputs.Options{})
		err := waitPush(t, push(context.Background(), p, relaytest.Subscribe(t, src.Stream()), &progress{}))
		if err == nil {
			t.Fatal("Push to an untrusted certificate succeeded")
		}
		if strings.Contains(err.Error(), streamKey) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error = %v, want a certificate error without the key", err)
		}
	})
}

// TestPushCancelStalled switches off a destination whose platform stopped reading: Push must
// return promptly, not after the write timeout, since the manager waits for it to remove or
// disable the destination and at shutdown.
func TestPushCancelStalled(t *testing.T) {
	pf := startPlatform(t, "stall", nil)
	src := newSource(t, relaytest.Options{VideoSize: 64 << 10}) // 6 MB a second
	src.Send(200 * time.Millisecond)
	p := newPusher(t, pf.url("rtmp", "/live2/"+streamKey), outputs.Options{WriteTimeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr := &progress{}
	res := push(ctx, p, relaytest.Subscribe(t, src.Stream()), pr)
	src.Send(2500 * time.Millisecond)
	s := pf.next(t)
	if s.err != nil {
		t.Fatal(s.err)
	}
	defer s.nc.Close()
	if tc, ok := s.nc.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	// Feed until the sender is stuck in a write.
	testutil.WaitFor(t, "the sender to block in a write", func() bool {
		src.Send(time.Second)
		stacks := testutil.Stacks()
		return strings.Contains(stacks, "rtmpwire.(*Conn).WriteBuffers") && strings.Contains(stacks, "waitWrite")
	})
	cancel()
	select {
	case err := <-res:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Push after cancel = %v", err)
		}
	case <-time.After(5 * time.Second):
		s.nc.Close() // unblocks the write
		<-res
		t.Error("Push ignored the cancellation while blocked in a write")
	}
}

// TestPushRefusesPrivateAddress: without the opt-in, a destination on loopback (an address,
// or a name resolving there) is refused before the socket connects, with an error that says
// why and what to do, and never the key.
func TestPushRefusesPrivateAddress(t *testing.T) {
	pf := startPlatform(t, "accept", nil)
	src := newSource(t, relaytest.Options{})
	port := pf.ln.Addr().(*net.TCPAddr).Port
	for _, raw := range []string{
		pf.url("rtmp", "/live2/"+streamKey).String(),
		pf.url("rtmps", "/live2/"+streamKey).String(),
		fmt.Sprintf("rtmp://[::ffff:127.0.0.1]:%d/live2/%s", port, streamKey),
	} {
		u, _ := url.Parse(raw)
		p, err := NewPusher(u, outputs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pr := &progress{}
		err = waitPush(t, push(t.Context(), p, relaytest.Subscribe(t, src.Stream()), pr))
		if !errors.Is(err, netguard.ErrRefused) || !strings.Contains(err.Error(), "127.0.0.1 is on a private network (loopback") ||
			!strings.Contains(err.Error(), "allow_private") {
			t.Errorf("push to %s = %v, want the private-network refusal", u.Host, err)
		}
		if pr.live.Load() {
			t.Errorf("push to %s went live", u.Host)
		}
		testutil.AssertNoSecret(t, "the error", fmt.Sprint(err), streamKey)
	}
	// The platform saw nothing; the same pusher with the opt-in reaches it, as one connection.
	u := pf.url("rtmp", "/live2/"+streamKey)
	ctx, cancel := context.WithCancel(t.Context())
	pr := &progress{}
	ch := push(ctx, newPusher(t, u, outputs.Options{}), relaytest.Subscribe(t, src.Stream()), pr)
	testutil.Eventually(t, waitTimeout, func() error {
		if !pr.live.Load() {
			return errors.New("the push with the opt-in is not live")
		}
		return nil
	})
	cancel()
	_ = waitPush(t, ch)
	if n := pf.accepted.Load(); n != 1 {
		t.Errorf("the platform accepted %d connections, want 1 (the refused pushes must not connect)", n)
	}
}
