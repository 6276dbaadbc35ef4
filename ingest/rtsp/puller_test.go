package rtsp

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

const (
	camUser = "admin"
	camPass = "cam-Pa55-e81c47"
)

// camera is an IP camera: a gortsplib server that plays H.264 (with B frames) and AAC, in
// real time, to clients with the right credentials.
type camera struct {
	srv    *gortsplib.Server
	stream atomic.Pointer[gortsplib.ServerStream]
	addr   string
	plays  atomic.Int32

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

type cameraHandler struct{ cam *camera }

func (h *cameraHandler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !ctx.Conn.VerifyCredentials(ctx.Request, camUser, camPass) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	st := h.cam.stream.Load()
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func (h *cameraHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !ctx.Conn.VerifyCredentials(ctx.Request, camUser, camPass) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	st := h.cam.stream.Load()
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func (h *cameraHandler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	h.cam.plays.Add(1)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// startCamera starts a camera on addr ("127.0.0.1:0" for any port). Its frames are numbered
// from firstFrame. With udp set, it also offers the UDP transport, on two free ports.
func startCamera(t *testing.T, addr string, firstFrame int, udp bool) *camera {
	t.Helper()
	cam := &camera{done: make(chan struct{})}
	cam.srv = &gortsplib.Server{Handler: &cameraHandler{cam: cam}, RTSPAddress: addr}
	if udp {
		rtpPort := freeUDPPair(t)
		cam.srv.UDPRTPAddress = "127.0.0.1:" + strconv.Itoa(rtpPort)
		cam.srv.UDPRTCPAddress = "127.0.0.1:" + strconv.Itoa(rtpPort+1)
	}
	if err := cam.srv.Start(); err != nil {
		t.Fatalf("camera: %v", err)
	}
	cam.addr = cam.srv.NetListener().Addr().String()
	desc := newDescription(t, true)
	st := &gortsplib.ServerStream{Server: cam.srv, Desc: desc}
	if err := st.Initialize(); err != nil {
		t.Fatal(err)
	}
	cam.stream.Store(st)
	g := newGenerator(t, desc)
	g.nv = firstFrame
	g.na = int(time.Duration(firstFrame) * videoStep / audioStep)
	ctx, cancel := context.WithCancel(context.Background())
	cam.cancel = cancel
	go func() {
		defer close(cam.done)
		g.pace(ctx, func(m *description.Media, pkts []*rtp.Packet) error {
			for _, p := range pkts {
				_ = st.WritePacketRTP(m, p) // a slow reader loses packets, as with a real camera
			}
			return nil
		})
	}()
	t.Cleanup(cam.close)
	return cam
}

// close stops the camera: its clients' connections close.
func (c *camera) close() {
	c.once.Do(func() {
		c.cancel()
		<-c.done
		c.stream.Load().Close()
		c.srv.Close()
	})
}

// freeUDPPair returns an even UDP port such that it and the next one are free (for a while).
func freeUDPPair(t *testing.T) int {
	t.Helper()
	for range 100 {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 || port == 65535 {
			a.Close()
			continue
		}
		b, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return port
	}
	t.Fatal("no free pair of UDP ports")
	return 0
}

type testPuller struct {
	*Puller
	logs *testutil.LogBuffer
	stop func() // cancels Run and waits for it
}

// startPuller runs a Puller of rawURL into st.
func startPuller(t *testing.T, rawURL, transport string, st *relay.Stream) *testPuller {
	t.Helper()
	logs := &testutil.LogBuffer{}
	p := &Puller{URL: rawURL, Transport: transport, Stream: st, Logger: logs.Logger(),
		RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}
	tp := &testPuller{Puller: p, logs: logs}
	tp.stop = testutil.Start(t, p.Run)
	t.Cleanup(func() {
		tp.stop()
		if t.Failed() {
			t.Logf("puller log:\n%s", logs.String())
		}
	})
	return tp
}

func newStream(t *testing.T, grace time.Duration) *relay.Stream {
	t.Helper()
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: grace})
	st, err := reg.Add("parvis", "pk-parvis-0c4f2a")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.StopAll)
	return st
}

func camURL(addr string) string {
	return fmt.Sprintf("rtsp://%s:%s@%s/stream1", camUser, camPass, addr)
}

func streamState(st *relay.Stream) relay.State {
	s, _ := st.State()
	return s
}

// readSome reads n video frames (and the audio between them) from the first keyframe numbered
// from or more, checking them.
func readSome(t *testing.T, st *relay.Stream, from, n int) {
	t.Helper()
	r := relaytest.Subscribe(t, st)
	count := 0
	readFrames(t, r, from, func(v, a *relay.Frame) bool {
		if v != nil {
			count++
		}
		return count > n && a != nil
	})
}

func TestPuller(t *testing.T) {
	st := newStream(t, time.Minute)
	cam := startCamera(t, "127.0.0.1:0", 0, false)
	p := startPuller(t, camURL(cam.addr), "", st)

	testutil.WaitFor(t, "the stream to go live with its tracks", func() bool {
		return streamState(st) == relay.Live && st.Track(relay.Video) != nil && st.Track(relay.Audio) != nil &&
			p.Status().State == PullLive
	})
	in := st.Info()
	if in.Source.Protocol != "rtsp-pull" || in.Source.RemoteAddr != cam.addr {
		t.Errorf("source = %+v", in.Source)
	}
	if v := in.Tracks[0]; v.Codec != relay.H264 || v.Width != 1280 || v.Height != 720 {
		t.Errorf("video track = %+v", v)
	}
	p.logs.WaitFor(t, "camera connected")
	p.logs.WaitFor(t, "transport=TCP")
	readSome(t, st, 0, 10)
	session := in.Session

	// The camera goes away: the stream waits in its reconnect grace, the puller retries.
	cam.close()
	testutil.WaitFor(t, "the stream to wait for its source", func() bool { return streamState(st) == relay.Reconnecting })
	testutil.WaitFor(t, "the puller to retry", func() bool {
		s := p.Status()
		return s.State == PullRetrying && s.LastError != "" && !s.RetryAt.IsZero()
	})
	s := p.Status()
	t.Logf("while the camera is away: %+v", s)
	testutil.AssertNoSecret(t, "the status", s.LastError, camPass)

	// A camera again on the same address: the same session goes on.
	cam2 := startCamera(t, cam.addr, 100*gopLength, false)
	testutil.WaitFor(t, "the puller to be live again", func() bool {
		return p.Status().State == PullLive && streamState(st) == relay.Live
	})
	in = st.Info()
	if in.Session != session || in.Publishes != 2 {
		t.Errorf("after the camera came back: session %d (was %d), publishes %d, want the same session and 2",
			in.Session, session, in.Publishes)
	}
	if s := p.Status(); s.Reconnects == 0 || s.LastError != "" {
		t.Errorf("status after the reconnection: %+v", s)
	}
	readSome(t, st, 100*gopLength, 10)

	p.stop()
	testutil.WaitFor(t, "the stream to leave live", func() bool { return streamState(st) != relay.Live })
	cam2.close()
	testutil.NoGoroutines(t, "ingest/rtsp.(*Puller)", "ingest/rtsp.(*feeder)", "gortsplib/v5.(*Client", "gortsplib/v5.(*client",
		"gortsplib/v5.(*Server", "gortsplib/v5.(*ServerConn", "gortsplib/v5.(*ServerSession", "gortsplib/v5.(*serverUDP")
	testutil.AssertNoSecret(t, "the log", p.logs.String(), camPass)
}

func TestPullerUDP(t *testing.T) {
	st := newStream(t, 0)
	cam := startCamera(t, "127.0.0.1:0", 0, true)
	p := startPuller(t, camURL(cam.addr), "udp", st)
	testutil.WaitFor(t, "the stream to go live", func() bool {
		return streamState(st) == relay.Live && p.Status().State == PullLive
	})
	p.logs.WaitFor(t, "transport=UDP")
	readSome(t, st, 0, 10)
}

func TestPullerWrongPassword(t *testing.T) {
	st := newStream(t, 0)
	cam := startCamera(t, "127.0.0.1:0", 0, false)
	const wrong = "not-the-Pa55-93d1"
	p := startPuller(t, "rtsp://"+camUser+":"+wrong+"@"+cam.addr+"/stream1", "tcp", st)
	testutil.WaitFor(t, "the puller to retry", func() bool {
		s := p.Status()
		return s.State == PullRetrying && strings.Contains(s.LastError, "401") && s.Reconnects >= 2
	})
	if st := streamState(st); st != relay.Idle {
		t.Errorf("stream %v with a refused camera", st)
	}
	if n := cam.plays.Load(); n != 0 {
		t.Errorf("camera played %d times", n)
	}
	p.stop()
	testutil.AssertNoSecret(t, "the status", p.Status().LastError, wrong)
	testutil.AssertNoSecret(t, "the log", p.logs.String(), wrong)
}

// TestPullerReplaced: an encoder publishing with the stream's key takes over from the camera;
// the puller waits for it to leave, then feeds the stream again.
func TestPullerReplaced(t *testing.T) {
	st := newStream(t, time.Minute)
	cam := startCamera(t, "127.0.0.1:0", 0, false)
	p := startPuller(t, camURL(cam.addr), "", st)
	testutil.WaitFor(t, "the puller to be live", func() bool { return p.Status().State == PullLive })

	enc := st.Publish(relay.SourceInfo{Protocol: "test", RemoteAddr: "encoder"})
	testutil.WaitFor(t, "the puller to step aside", func() bool {
		s := p.Status()
		return s.State == PullRetrying && strings.Contains(s.LastError, "replaced")
	})
	plays := cam.plays.Load()
	if src := st.Info().Source; src.Protocol != "test" {
		t.Errorf("source %+v while the encoder publishes", src)
	}
	enc.Close()
	testutil.WaitFor(t, "the puller to be live again", func() bool {
		return p.Status().State == PullLive && st.Info().Source.Protocol == PullProtocol
	})
	if n := cam.plays.Load(); n != plays+1 {
		t.Errorf("camera played %d times while the encoder published, then %d", plays, n)
	}
	readSome(t, st, 0, 5)
}

func TestPullerInvalid(t *testing.T) {
	st := newStream(t, 0)
	for _, p := range []*Puller{
		{URL: "rtsp://admin:" + camPass + "@[::1", Stream: st},
		{URL: "http://admin:" + camPass + "@cam/x", Stream: st},
		{URL: "rtsp://cam/x", Transport: "sctp", Stream: st},
		{URL: "rtsp://cam/x"},
	} {
		err := p.Run(context.Background())
		if err == nil {
			t.Errorf("Run(%+v) = nil", p)
			continue
		}
		testutil.AssertNoSecret(t, "the error", err.Error(), camPass)
	}
}
