package rtmp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/handshake"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

const (
	streamName  = "conseil"
	publishKey  = "pk-conseil-5e1f0a93c7"
	waitTimeout = testutil.WaitTimeout
	videoStep   = time.Second / 30
	audioStep   = 1024 * time.Second / 48000
)

type testServer struct {
	*Server
	reg  *relay.Registry
	st   *relay.Stream
	logs *testutil.LogBuffer
	addr string
	stop func() // cancels Run and waits for it
}

func startServer(t testing.TB, configure func(s *Server)) *testServer {
	t.Helper()
	reg := relay.NewRegistry(relay.RegistryOptions{})
	st, err := reg.Add(streamName, publishKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.StopAll)
	logs := &testutil.LogBuffer{}
	s := &Server{
		Addr: "127.0.0.1:0", Registry: reg, ReadTimeout: 5 * time.Second,
		Logger: logs.Logger(),
	}
	if configure != nil {
		configure(s)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, reg: reg, st: st, logs: logs, addr: s.ListenAddr().String()}
	ts.stop = testutil.Start(t, s.Run)
	t.Cleanup(func() {
		ts.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

func (ts *testServer) url(scheme, path, key string) *url.URL {
	return &url.URL{Scheme: scheme, Host: ts.addr, Path: path, Fragment: key}
}

func (ts *testServer) state() relay.State {
	st, _ := ts.st.State()
	return st
}

// encoder publishes H.264 and AAC with gortmplib, as OBS would.
type encoder struct {
	t      testing.TB
	c      *gortmplib.Client
	w      *gortmplib.Writer
	vt, at *gortmplib.Track
	nv, na int
}

func connect(t testing.TB, u *url.URL, publish bool, tlsConfig *tls.Config) (*gortmplib.Client, error) {
	t.Helper()
	c := &gortmplib.Client{URL: u, Publish: publish, TLSConfig: tlsConfig}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.Initialize(ctx); err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	return c, nil
}

func newEncoder(t testing.TB, u *url.URL, tlsConfig *tls.Config) (*encoder, error) {
	t.Helper()
	c, err := connect(t, u, true, tlsConfig)
	if err != nil {
		return nil, err
	}
	var asc mpeg4audio.AudioSpecificConfig
	if err := asc.Unmarshal(testutil.ASC()); err != nil {
		t.Fatal(err)
	}
	e := &encoder{
		t: t, c: c,
		vt: &gortmplib.Track{Codec: &codecs.H264{SPS: testutil.SPS720(), PPS: testutil.PPS()}},
		at: &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: &asc}},
	}
	e.w = &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{e.vt, e.at}}
	if err := e.w.Initialize(); err != nil {
		return nil, err
	}
	return e, nil
}

func videoAU(n int, key bool) [][]byte {
	u := make([]byte, 200+n%300)
	u[0] = 0x41
	if key {
		u[0] = 0x65
	}
	u[1], u[2] = byte(n>>8), byte(n)
	return [][]byte{u}
}

func audioAU(n int) []byte {
	u := make([]byte, 100)
	u[0], u[1], u[2] = 0x21, byte(n>>8), byte(n)
	return u
}

// send publishes d of media (30 fps video with a keyframe every second, AAC alongside) as
// fast as the connection takes it.
func (e *encoder) send(d time.Duration) error {
	end := time.Duration(e.nv)*videoStep + d
	for {
		vd, ad := time.Duration(e.nv)*videoStep, time.Duration(e.na)*audioStep
		if vd >= end && ad >= end {
			return nil
		}
		var err error
		if vd <= ad {
			err = e.w.WriteH264(e.vt, vd, vd, videoAU(e.nv, e.nv%30 == 0))
			e.nv++
		} else {
			err = e.w.WriteMPEG4Audio(e.at, ad, audioAU(e.na))
			e.na++
		}
		if err != nil {
			return err
		}
	}
}

func (e *encoder) mustSend(d time.Duration) {
	e.t.Helper()
	if err := e.send(d); err != nil {
		e.t.Fatalf("encoder: %v", err)
	}
}

// goLive connects an encoder with the publish key and sends enough media for the server to
// find the tracks.
func (ts *testServer) goLive(t testing.TB, scheme string, tlsConfig *tls.Config) *encoder {
	t.Helper()
	e, err := newEncoder(t, ts.url(scheme, "/live", publishKey), tlsConfig)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	e.mustSend(2500 * time.Millisecond)
	// The stream is live once the publisher is; its tracks are set right after.
	testutil.WaitFor(t, "the stream to go live with its tracks", func() bool {
		return ts.state() == relay.Live && ts.st.Track(relay.Video) != nil && ts.st.Track(relay.Audio) != nil
	})
	return e
}

// seq is the sequence number the encoder put in a frame's payload (its last NAL unit).
func seq(f *relay.Frame) int {
	u := f.Units[len(f.Units)-1]
	return int(u[1])<<8 | int(u[2])
}

func TestPublish(t *testing.T) {
	ts := startServer(t, nil)
	e := ts.goLive(t, "rtmp", nil)

	in := ts.st.Info()
	if in.Source.Protocol != "rtmp" || !strings.HasPrefix(in.Source.RemoteAddr, "127.0.0.1:") {
		t.Errorf("source = %+v", in.Source)
	}
	if len(in.Tracks) != 2 {
		t.Fatalf("tracks = %+v, want H.264 and AAC", in.Tracks)
	}
	if v := in.Tracks[0]; v.Kind != "video" || v.Codec != relay.H264 || v.Width != 1280 || v.Height != 720 {
		t.Errorf("video track = %+v", v)
	}
	if a := in.Tracks[1]; a.Kind != "audio" || a.Codec != relay.AAC || a.SampleRate != 48000 || a.Channels != 2 {
		t.Errorf("audio track = %+v", a)
	}
	ts.logs.WaitFor(t, "publisher connected")

	r := relaytest.Subscribe(t, ts.st)
	e.mustSend(time.Second)
	lastVideo, lastAudio := e.nv-1, e.na-1
	var gotVideo, gotAudio bool
	prev := [2]int{-1, -1}
	for first := true; !gotVideo || !gotAudio; {
		f := relaytest.Next(t, r)
		k := f.Track.Kind()
		switch {
		case k == relay.Video && f.Track.Codec != relay.H264, k == relay.Audio && f.Track.Codec != relay.AAC:
			t.Fatalf("frame of codec %s", f.Track.Codec)
		case k == relay.Video && first && !f.Key:
			t.Fatal("reader did not start on a keyframe")
		case k == relay.Video && f.Key != h264.IsRandomAccess(f.Units):
			t.Fatalf("video frame %d: Key = %v, payload is %v", seq(f), f.Key, f.Units[0][0])
		case k == relay.Audio && !f.Key:
			t.Fatal("audio frame not flagged Key")
		}
		if k == relay.Video {
			first = false
		}
		if seq(f) != prev[k]+1 && prev[k] >= 0 {
			t.Fatalf("%s frame %d after %d", k, seq(f), prev[k])
		}
		prev[k] = seq(f)
		gotVideo = gotVideo || (k == relay.Video && seq(f) == lastVideo)
		gotAudio = gotAudio || (k == relay.Audio && seq(f) == lastAudio)
	}

	e.c.Close()
	testutil.WaitFor(t, "the stream to end", func() bool { return ts.state() == relay.Idle })
	ts.logs.WaitFor(t, "connection closed by the encoder")
}

func TestPublishRefused(t *testing.T) {
	const wrongKey = "pk-conseil-wrong-77d1"
	tests := []struct {
		name    string
		u       func(ts *testServer) *url.URL
		log     string
		secrets []string // must not appear in the log
	}{
		{
			name:    "wrong key",
			u:       func(ts *testServer) *url.URL { return ts.url("rtmp", "/live", wrongKey) },
			log:     "publish refused: unknown publish key",
			secrets: []string{wrongKey},
		},
		{
			name:    "unknown application",
			u:       func(ts *testServer) *url.URL { return ts.url("rtmp", "/other", publishKey) },
			log:     "refused: the URL must be rtmp://host/live/<key>",
			secrets: []string{publishKey},
		},
		{
			name:    "no key",
			u:       func(ts *testServer) *url.URL { return ts.url("rtmp", "/live", "") },
			log:     "refused: the URL must be rtmp://host/live/<key>",
			secrets: []string{publishKey},
		},
		{
			// OBS with the server set to rtmp://host instead of rtmp://host/live: the key
			// arrives where the application should be.
			name:    "server URL without the application",
			u:       func(ts *testServer) *url.URL { return ts.url("rtmp", "", publishKey) },
			log:     "refused: the URL must be rtmp://host/live/<key>",
			secrets: []string{publishKey},
		},
		{
			name:    "key that is not a valid URL path",
			u:       func(ts *testServer) *url.URL { return ts.url("rtmp", "/live", "pk%zz-secret") },
			secrets: []string{"pk%zz-secret"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, nil)
			_, err := newEncoder(t, tt.u(ts), nil)
			if err == nil {
				t.Fatal("publish accepted")
			}
			for _, s := range tt.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("client error reveals the key: %v", err)
				}
			}
			if tt.log != "" {
				ts.logs.WaitFor(t, tt.log)
			} else {
				testutil.WaitFor(t, "a log line", func() bool { return ts.logs.String() != "" })
			}
			ts.stop() // every log line is written
			if st := ts.state(); st != relay.Idle {
				t.Errorf("stream %v after a refused publish", st)
			}
			for _, s := range tt.secrets {
				if strings.Contains(ts.logs.String(), s) {
					t.Errorf("log reveals the key %q:\n%s", s, ts.logs.String())
				}
			}
		})
	}
}

// player reads a stream with gortmplib, as mediamtx or a monitoring tool would.
type player struct {
	r      *gortmplib.Reader
	mu     sync.Mutex
	codecs []string
	video  []int // sequence numbers
	audio  []int
	err    chan error
}

// dialPlayer starts playing name; initialize then reads 2 s of media to find the tracks.
func dialPlayer(t testing.TB, ts *testServer, name string) (*player, error) {
	t.Helper()
	c, err := connect(t, ts.url("rtmp", "/live", name), false, nil)
	if err != nil {
		return nil, err
	}
	_ = c.NetConn().SetReadDeadline(time.Now().Add(waitTimeout))
	return &player{r: &gortmplib.Reader{Conn: c}, err: make(chan error, 1)}, nil
}

func (p *player) initialize() <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- p.r.Initialize() }()
	return ch
}

func (p *player) start() {
	for _, tr := range p.r.Tracks() {
		switch tr.Codec.(type) {
		case *codecs.H264:
			p.codecs = append(p.codecs, "H264")
			p.r.OnDataH264(tr, func(_, _ time.Duration, au [][]byte) {
				if h264.NALUType(au[0][0]&0x1f) == h264.NALUTypeSPS {
					return // the sequence header
				}
				p.mu.Lock()
				p.video = append(p.video, int(au[0][1])<<8|int(au[0][2]))
				p.mu.Unlock()
			})
		case *codecs.MPEG4Audio:
			p.codecs = append(p.codecs, "AAC")
			p.r.OnDataMPEG4Audio(tr, func(_ time.Duration, au []byte) {
				p.mu.Lock()
				p.audio = append(p.audio, int(au[1])<<8|int(au[2]))
				p.mu.Unlock()
			})
		}
	}
	go func() {
		for {
			if err := p.r.Read(); err != nil {
				p.err <- err
				return
			}
		}
	}()
}

func (p *player) has(video, audio int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.video) > 0 && p.video[len(p.video)-1] >= video && len(p.audio) > 0 && p.audio[len(p.audio)-1] >= audio
}

func TestPlay(t *testing.T) {
	t.Run("reading disabled", func(t *testing.T) {
		ts := startServer(t, nil)
		ts.goLive(t, "rtmp", nil)
		if _, err := connect(t, ts.url("rtmp", "/live", streamName), false, nil); err == nil {
			t.Fatal("play accepted with AllowRead false")
		}
		ts.logs.WaitFor(t, "play refused: RTMP reading is disabled")
	})
	// A monitoring tool pointed at the publish URL (rtmp://host/live/<publish key>) is refused
	// without the key reaching the log.
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("publish key as the stream name, AllowRead %v", allow), func(t *testing.T) {
			ts := startServer(t, func(s *Server) { s.AllowRead = allow })
			ts.goLive(t, "rtmp", nil)
			if _, err := connect(t, ts.url("rtmp", "/live", publishKey), false, nil); err == nil {
				t.Fatal("play of the publish key accepted")
			}
			ts.logs.WaitFor(t, "play refused")
			ts.stop()
			if strings.Contains(ts.logs.String(), publishKey) {
				t.Errorf("log reveals the publish key:\n%s", ts.logs.String())
			}
		})
	}
	t.Run("unknown stream", func(t *testing.T) {
		ts := startServer(t, func(s *Server) { s.AllowRead = true })
		if _, err := connect(t, ts.url("rtmp", "/live", "nope"), false, nil); err == nil {
			t.Fatal("play of an unknown stream accepted")
		}
		ts.logs.WaitFor(t, "play refused: no such stream")
	})
	t.Run("stream not live", func(t *testing.T) {
		ts := startServer(t, func(s *Server) { s.AllowRead = true })
		if _, err := connect(t, ts.url("rtmp", "/live", streamName), false, nil); err == nil {
			t.Fatal("play of an idle stream accepted")
		}
		ts.logs.WaitFor(t, "play refused: stream is not live")
	})
	t.Run("allowed", func(t *testing.T) {
		ts := startServer(t, func(s *Server) { s.AllowRead = true })
		e := ts.goLive(t, "rtmp", nil)
		// A player joining a stream live for a while: the newest keyframe is at 3 s.
		e.mustSend(time.Second)
		testutil.WaitFor(t, "the relay to get every frame", func() bool {
			in := ts.st.Info()
			return len(in.Tracks) == 2 && in.Tracks[0].Frames == uint64(e.nv) && in.Tracks[1].Frames == uint64(e.na)
		})
		p, err := dialPlayer(t, ts, streamName)
		if err != nil {
			t.Fatalf("play: %v", err)
		}
		// The player needs 2 s of media to find the tracks: send it while the player waits.
		init := p.initialize()
		e.mustSend(3 * time.Second)
		if err := <-init; err != nil {
			t.Fatalf("player: %v", err)
		}
		ts.logs.WaitFor(t, "player connected")
		p.start()
		if got := strings.Join(p.codecs, ","); got != "H264,AAC" {
			t.Fatalf("player found tracks %q, want H264,AAC", got)
		}
		e.mustSend(500 * time.Millisecond)
		lastV, lastA := e.nv-1, e.na-1
		testutil.WaitFor(t, "the player to get the last frames", func() bool {
			select {
			case err := <-p.err:
				t.Fatalf("player: %v", err)
			default:
			}
			return p.has(lastV, lastA)
		})
		p.mu.Lock()
		defer p.mu.Unlock()
		for i := 1; i < len(p.video); i++ {
			if p.video[i] != p.video[i-1]+1 {
				t.Fatalf("player got video frame %d after %d", p.video[i], p.video[i-1])
			}
		}
	})
}

// TestPlayFreshStream plays a stream whose timeline is still under 2 s when the player joins
// (a publisher starting at a large timestamp that the relay rebases): the player finds both
// tracks and receives the frames.
func TestPlayFreshStream(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.AllowRead = true })
	// Publish straight into the relay, so that the timeline starts when the test wants.
	pub := ts.st.Publish(relay.SourceInfo{Protocol: "test"})
	defer pub.Close()
	vt, err := relay.NewH264Track(testutil.SPS720(), testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	at, err := relay.NewAACTrack(testutil.ASC())
	if err != nil {
		t.Fatal(err)
	}
	if vt, err = pub.SetTrack(vt); err != nil {
		t.Fatal(err)
	}
	if at, err = pub.SetTrack(at); err != nil {
		t.Fatal(err)
	}
	nv, na := 0, 0
	send := func(d time.Duration) {
		end := time.Duration(nv)*videoStep + d
		for {
			vd, ad := time.Duration(nv)*videoStep, time.Duration(na)*audioStep
			if vd >= end && ad >= end {
				return
			}
			var f *relay.Frame
			if vd <= ad {
				f = &relay.Frame{Track: vt, DTS: vd, PTS: vd, Key: nv%30 == 0, Units: videoAU(nv, nv%30 == 0)}
				nv++
			} else {
				f = &relay.Frame{Track: at, DTS: ad, PTS: ad, Key: true, Units: [][]byte{audioAU(na)}}
				na++
			}
			if err := pub.WriteFrame(f); err != nil {
				t.Error(err)
				return
			}
		}
	}
	send(100 * time.Millisecond)
	p, err := dialPlayer(t, ts, streamName)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	init := p.initialize()
	send(3 * time.Second)
	if err := <-init; err != nil {
		t.Fatalf("player: %v", err)
	}
	p.start()
	if got := strings.Join(p.codecs, ","); got != "H264,AAC" {
		t.Fatalf("player found tracks %q, want H264,AAC", got)
	}
	testutil.WaitFor(t, "the player to get the last frames", func() bool {
		select {
		case err := <-p.err:
			t.Fatalf("player: %v", err)
		default:
		}
		return p.has(nv-1, na-1)
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.video[0] != 0 {
		t.Errorf("player started at video frame %d, want the keyframe 0", p.video[0])
	}
	for i := 1; i < len(p.video); i++ {
		if p.video[i] != p.video[i-1]+1 {
			t.Fatalf("player got video frame %d after %d", p.video[i], p.video[i-1])
		}
	}
}

func TestGarbage(t *testing.T) {
	ts := startServer(t, nil)
	e := ts.goLive(t, "rtmp", nil)
	r := relaytest.Subscribe(t, ts.st)

	for _, tt := range []struct {
		name string
		log  string
		send func(c net.Conn) error
	}{
		{
			name: "HTTP request",
			log:  "connection closed before the RTMP session was set up",
			send: func(c net.Conn) error {
				_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: beffroi\r\n\r\n")
				return err
			},
		},
		{
			name: "garbage chunks after the handshake",
			log:  "connection closed before the RTMP session was set up",
			send: func(c net.Conn) error {
				bc := bytecounter.NewReadWriter(c)
				if _, _, err := handshake.DoClient(bc, false, false); err != nil {
					return err
				}
				junk := make([]byte, 4096)
				for i := range junk {
					junk[i] = byte(i*131 + 7)
				}
				_, err := c.Write(junk)
				return err
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := tt.send(c); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
			var ne net.Error
			if _, err := io.Copy(io.Discard, c); errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server did not close the connection")
			}
			ts.logs.WaitFor(t, tt.log)
		})
	}

	// The publisher did not notice.
	e.mustSend(500 * time.Millisecond)
	last := e.nv - 1
	for {
		f := relaytest.Next(t, r)
		if f.Track.Kind() == relay.Video && seq(f) == last {
			break
		}
	}
	if st := ts.state(); st != relay.Live {
		t.Errorf("stream %v", st)
	}
}

func TestRTMPS(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	ts := startServer(t, func(s *Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})
	ts.goLive(t, "rtmps", &tls.Config{RootCAs: pool})
	if p := ts.st.Info().Source.Protocol; p != "rtmps" {
		t.Errorf("source protocol %q, want rtmps", p)
	}
	ts.logs.WaitFor(t, "protocol=rtmps")

	// Plain RTMP on the RTMPS port is closed during the TLS handshake.
	if _, err := connect(t, ts.url("rtmp", "/live", publishKey), true, nil); err == nil {
		t.Error("plain RTMP accepted on the RTMPS listener")
	}
}

// TestParameterChange sends an access unit carrying a new SPS (the encoder switched to
// 640x360): the stream's video track changes, and readers get frames on the new track.
func TestParameterChange(t *testing.T) {
	ts := startServer(t, nil)
	e := ts.goLive(t, "rtmp", nil)
	r := relaytest.Subscribe(t, ts.st)
	old := ts.st.Track(relay.Video)

	idr := videoAU(e.nv, true)[0]
	dts := time.Duration(e.nv) * videoStep
	if err := e.w.WriteH264(e.vt, dts, dts, [][]byte{testutil.SPS360(), testutil.PPS(), idr}); err != nil {
		t.Fatal(err)
	}
	e.nv++
	e.mustSend(200 * time.Millisecond)
	testutil.WaitFor(t, "the new video track", func() bool {
		v := ts.st.Track(relay.Video)
		return v != nil && v.Width == 640 && v.Height == 360
	})
	if v := ts.st.Info().Tracks[0]; v.Width != 640 || v.Height != 360 {
		t.Errorf("Info video track %+v, want 640x360", v)
	}
	for {
		f := relaytest.Next(t, r)
		if f.Track.Kind() != relay.Video || f.Track == old {
			continue
		}
		if !bytes.Equal(f.Track.SPS, testutil.SPS360()) || !f.Key || seq(f) != int(idr[1])<<8|int(idr[2]) {
			t.Fatalf("first frame on the new track: key %v, SPS % x", f.Key, f.Track.SPS)
		}
		break
	}
	if st := ts.state(); st != relay.Live {
		t.Errorf("stream %v after the parameter change", st)
	}
}

// TestPublisherGoroutines checks that a publisher's connection leaves no goroutine behind once
// it is closed and the server stopped.
func TestPublisherGoroutines(t *testing.T) {
	ts := startServer(t, nil)
	e := ts.goLive(t, "rtmp", nil)
	e.c.Close()
	testutil.WaitFor(t, "the stream to end", func() bool { return ts.state() == relay.Idle })
	ts.stop()
	testutil.NoGoroutines(t, "ingest/rtmp.(*Server).publish")
}

func TestTakeover(t *testing.T) {
	ts := startServer(t, nil)
	e1 := ts.goLive(t, "rtmp", nil)
	e2, err := newEncoder(t, ts.url("rtmp", "/live", publishKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	e2.mustSend(2500 * time.Millisecond)
	testutil.WaitFor(t, "the second publisher", func() bool { return ts.st.Info().Publishes == 2 })
	ts.logs.WaitFor(t, "replaced by a newer connection")
	// The replaced encoder's connection is closed.
	_ = e1.c.NetConn().SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		if _, err := e1.c.Read(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the replaced connection is still open")
			}
			break
		}
	}
	if st := ts.state(); st != relay.Live {
		t.Errorf("stream %v", st)
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/live/" + publishKey, "/live/" + publishKey + "/", "/live", "/live/", "live/key", "",
		"/", "//", "///live//key//", "/other/key", "/live/a/b/c", "/live/key?x=1", "/%2F/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		app, name := parsePath(path)
		if strings.Contains(app, "/") {
			t.Fatalf("parsePath(%q): app %q contains a slash", path, app)
		}
		if !strings.Contains(path, app) || !strings.Contains(path, name) {
			t.Fatalf("parsePath(%q) = %q, %q: not parts of the path", path, app, name)
		}
		if len(app)+len(name) > len(path) {
			t.Fatalf("parsePath(%q) = %q, %q: longer than the path", path, app, name)
		}
		if !strings.Contains(name, "/") && !strings.HasPrefix(path, "//") {
			// A path built from an application and a name splits back into them.
			if a2, n2 := parsePath("/" + app + "/" + name); a2 != app || n2 != name {
				t.Fatalf("parsePath(/%s/%s) = %q, %q", app, name, a2, n2)
			}
		}
	})
}

// A publisher that announced an acknowledgement window (gortmplib clients do, Beffroi's own
// pusher included) gets acknowledgements long after the handshake: the handshake's write
// deadline must not cut it off at the first one.
func TestAcknowledgementsAfterHandshake(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.ReadTimeout = 300 * time.Millisecond })
	e := ts.goLive(t, "rtmp", nil)
	big := make([]byte, 64*1024)
	big[0] = 0x41
	deadline := time.Now().Add(time.Second)
	// 2.5 MB (gortmplib's window) and more, spread past the handshake's deadline.
	for i := 0; i < 60 || time.Now().Before(deadline); i++ {
		d := time.Duration(e.nv) * videoStep
		if err := e.w.WriteH264(e.vt, d, d, [][]byte{big}); err != nil {
			t.Fatalf("publisher cut off after %d large frames: %v", i, err)
		}
		e.nv++
		if i%10 == 9 {
			time.Sleep(50 * time.Millisecond) // keep sending past the deadline, slowly
		}
	}
	if strings.Contains(ts.logs.String(), "publisher disconnected") {
		t.Fatalf("publisher disconnected:\n%s", ts.logs.String())
	}
	if st := ts.state(); st != relay.Live {
		t.Fatalf("stream %s, want live", st)
	}
}
