package rtsp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

const (
	streamName = "conseil"
	publishKey = "pk-conseil-5e1f0a93c7"
	otherName  = "marche"
	otherKey   = "pk-marche-77d1e04b2a"
	wrongKey   = "pk-conseil-wrong-3b9d"
)

type testServer struct {
	*Server
	st   *relay.Stream
	logs *testutil.LogBuffer
	addr string
	stop func() // cancels Run and waits for it
}

func startServer(t *testing.T, configure func(s *Server)) *testServer {
	t.Helper()
	reg := relay.NewRegistry(relay.RegistryOptions{})
	st, err := reg.Add(streamName, publishKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add(otherName, otherKey); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.StopAll)
	logs := &testutil.LogBuffer{}
	s := &Server{Addr: "127.0.0.1:0", Registry: reg, ReadTimeout: 5 * time.Second, Logger: logs.Logger()}
	if configure != nil {
		configure(s)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, st: st, logs: logs, addr: s.ListenAddr().String()}
	ts.stop = testutil.Start(t, s.Run)
	t.Cleanup(func() {
		ts.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// url returns rtsp://[userinfo@]addr/path.
func (ts *testServer) url(userinfo, pathAndQuery string) string {
	if userinfo != "" {
		userinfo += "@"
	}
	return "rtsp://" + userinfo + ts.addr + pathAndQuery
}

func (ts *testServer) state() relay.State {
	st, _ := ts.st.State()
	return st
}

// encoder publishes H.264 and AAC with gortsplib's client, as ffmpeg or an app would.
type encoder struct {
	t testing.TB
	c *gortsplib.Client
	*generator
}

// newEncoder announces and records to rawURL; params puts the H.264 parameter sets in the SDP.
func newEncoder(t testing.TB, rawURL string, params bool) (*encoder, error) {
	t.Helper()
	desc := newDescription(t, params)
	// The write queue holds more than any test sends at once (a few seconds of media).
	c := &gortsplib.Client{ReadTimeout: waitTimeout, WriteQueueSize: 4096,
		// No Protocol: the client offers UDP first, and falls back to TCP on the 461 answer.
		OnTransportSwitch: func(error) {}}
	if err := c.StartRecording(rawURL, desc); err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	return &encoder{t: t, c: c, generator: newGenerator(t, desc)}, nil
}

// send queues d of media at once; the client writes it at the connection's pace.
func (e *encoder) send(d time.Duration) error {
	return e.generate(d, func(m *description.Media, pkts []*rtp.Packet) error {
		for _, p := range pkts {
			if err := e.c.WritePacketRTP(m, p); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *encoder) mustSend(d time.Duration) {
	e.t.Helper()
	if err := e.send(d); err != nil {
		e.t.Fatalf("encoder: %v", err)
	}
}

// goLive publishes with the key in the query and waits for the stream to be live.
func (ts *testServer) goLive(t testing.TB) *encoder {
	t.Helper()
	e, err := newEncoder(t, ts.url("", "/"+streamName+"?key="+publishKey), true)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	testutil.WaitFor(t, "the stream to go live with its tracks", func() bool {
		return ts.state() == relay.Live && ts.st.Track(relay.Video) != nil && ts.st.Track(relay.Audio) != nil
	})
	return e
}

// readUntil reads frames until the video frame lastVideo and the audio frame lastAudio, checking
// what every reader may rely on: codecs, keyframe flags, decoding order, increasing DTS, PTS
// not before DTS, and the PTS spacing the sender meant.
func readUntil(t testing.TB, r *relay.Reader, lastVideo, lastAudio int) {
	t.Helper()
	readFrom(t, r, 0, lastVideo, lastAudio)
}

// readFrom is readUntil for a reader that may first get another publisher's frames: it skips
// frames until a video keyframe numbered from or more.
func readFrom(t testing.TB, r *relay.Reader, from, lastVideo, lastAudio int) {
	t.Helper()
	readFrames(t, r, from, func(v, a *relay.Frame) bool {
		return v != nil && a != nil && seq(v) >= lastVideo && seq(a) >= lastAudio
	})
}

// readFrames reads and checks frames from the first video keyframe numbered from or more, until
// done says so of the last video and audio frames read.
func readFrames(t testing.TB, r *relay.Reader, from int, done func(video, audio *relay.Frame) bool) {
	t.Helper()
	prev := [2]*relay.Frame{}
	started := false
	for !done(prev[relay.Video], prev[relay.Audio]) {
		f := relaytest.Next(t, r)
		k := f.Track.Kind()
		if !started {
			if k != relay.Video || seq(f) < from {
				continue
			}
			if !f.Key {
				if from == 0 {
					t.Fatal("reader did not start on a keyframe")
				}
				continue
			}
			started = true
		}
		switch {
		case k == relay.Video && f.Track.Codec != relay.H264, k == relay.Audio && f.Track.Codec != relay.AAC:
			t.Fatalf("frame of codec %s", f.Track.Codec)
		case k == relay.Video && f.Key != h264.IsRandomAccess(f.Units):
			t.Fatalf("video frame %d: Key = %v", seq(f), f.Key)
		case k == relay.Audio && !f.Key:
			t.Fatal("audio frame not flagged Key")
		case f.PTS < f.DTS:
			t.Fatalf("%s frame %d: PTS %v before DTS %v", k, seq(f), f.PTS, f.DTS)
		}
		if p := prev[k]; p != nil {
			if seq(f) != seq(p)+1 {
				t.Fatalf("%s frame %d after %d", k, seq(f), seq(p))
			}
			if f.DTS <= p.DTS {
				t.Fatalf("%s frame %d: DTS %v after %v", k, seq(f), f.DTS, p.DTS)
			}
			// The PTS distance between two frames is what the sender meant.
			want := time.Duration(seq(f)-seq(p)) * audioStep
			if k == relay.Video {
				d1, _, _ := codedFrame(seq(f))
				d0, _, _ := codedFrame(seq(p))
				want = time.Duration(d1-d0) * videoStep
			}
			if d := f.PTS - p.PTS - want; d > time.Millisecond || d < -time.Millisecond {
				t.Fatalf("%s frame %d: PTS %v, %v after frame %d, want %v", k, seq(f), f.PTS, f.PTS-p.PTS, seq(p), want)
			}
		}
		prev[k] = f
	}
}

func TestPublish(t *testing.T) {
	for _, tt := range []struct {
		name, userinfo, path string
	}{
		{name: "key in the query", path: "/" + streamName + "?key=" + publishKey},
		{name: "key as the password", userinfo: "obs:" + publishKey, path: "/" + streamName},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, nil)
			e, err := newEncoder(t, ts.url(tt.userinfo, tt.path), true)
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
			testutil.WaitFor(t, "the stream to go live", func() bool { return ts.state() == relay.Live })
			ts.logs.WaitFor(t, "publisher connected")

			in := ts.st.Info()
			if in.Source.Protocol != "rtsp" || !strings.HasPrefix(in.Source.RemoteAddr, "127.0.0.1:") {
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

			r := relaytest.Subscribe(t, ts.st)
			// Over two GOPs, B frames included.
			e.mustSend(2500 * time.Millisecond)
			readUntil(t, r, e.nv-1, e.na-1)

			e.c.Close()
			testutil.WaitFor(t, "the stream to end", func() bool { return ts.state() == relay.Idle })
			ts.logs.WaitFor(t, "publisher disconnected")
			ts.stop()
			testutil.AssertNoSecret(t, "the log", ts.logs.String(), publishKey)
		})
	}
}

func TestPublishRefused(t *testing.T) {
	tests := []struct {
		name           string
		userinfo, path string
		log            string   // the refusal's log line
		secrets        []string // must not appear in the log
	}{
		{
			name: "wrong key in the query", path: "/" + streamName + "?key=" + wrongKey,
			log: "publish refused: unknown publish key", secrets: []string{wrongKey},
		},
		{
			name: "wrong password", userinfo: "obs:" + wrongKey, path: "/" + streamName,
			log: "publish refused: unknown publish key", secrets: []string{wrongKey},
		},
		{
			name: "key of another stream", path: "/" + streamName + "?key=" + otherKey,
			log: "publish refused: the publish key belongs to another stream", secrets: []string{otherKey},
		},
		{
			name: "key of another stream as the password", userinfo: "obs:" + otherKey, path: "/" + streamName,
			log: "publish refused: the publish key belongs to another stream", secrets: []string{otherKey},
		},
		{
			name: "no key", path: "/" + streamName,
			log: "publish: no key yet, asking for credentials",
		},
		{
			// The RTMP habit: the key where the stream name goes.
			name: "key in the path", path: "/" + publishKey,
			log: "publish: no key yet, asking for credentials", secrets: []string{publishKey},
		},
		{
			name: "key in the path and the query", path: "/" + publishKey + "?key=" + publishKey,
			log: "publish refused: the publish key belongs to another stream", secrets: []string{publishKey},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, nil)
			_, err := newEncoder(t, ts.url(tt.userinfo, tt.path), true)
			var bad liberrors.ErrClientBadStatusCode
			if !errors.As(err, &bad) || bad.Code != base.StatusUnauthorized {
				t.Fatalf("publish: %v, want 401 Unauthorized", err)
			}
			for _, s := range tt.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("client error reveals the key: %v", err)
				}
			}
			ts.logs.WaitFor(t, tt.log)
			ts.stop() // every log line is written
			if st := ts.state(); st != relay.Idle {
				t.Errorf("stream %v after a refused publish", st)
			}
			testutil.AssertNoSecret(t, "the log", ts.logs.String(), tt.secrets...)
		})
	}
}

func TestPlayRefused(t *testing.T) {
	ts := startServer(t, nil)
	ts.goLive(t)
	for _, path := range []string{"/" + streamName, "/" + publishKey, "/" + streamName + "?key=" + publishKey} {
		u, err := base.ParseURL(ts.url("", path))
		if err != nil {
			t.Fatal(err)
		}
		c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, ReadTimeout: waitTimeout}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		_, _, err = c.Describe(u)
		c.Close()
		var bad liberrors.ErrClientBadStatusCode
		if !errors.As(err, &bad) || bad.Code != base.StatusNotFound {
			t.Errorf("DESCRIBE %s: %v, want 404 Not Found", path, err)
		}
	}
	ts.logs.WaitFor(t, "play refused: reading over RTSP is not supported yet")
	ts.logs.WaitFor(t, "stream="+streamName)
	ts.stop()
	testutil.AssertNoSecret(t, "the log", ts.logs.String(), publishKey)
	if n := strings.Count(ts.logs.String(), "play refused"); n != 3 {
		t.Errorf("%d play refusals logged, want 3", n)
	}
}

// TestGarbage sends what a stranger might to the RTSP port, while a publisher is live: each
// such connection is closed, and the publisher does not notice.
func TestGarbage(t *testing.T) {
	ts := startServer(t, nil)
	e := ts.goLive(t)
	r := relaytest.Subscribe(t, ts.st)
	const secret = "pk-garbage-secret-91ab"
	// Bytes that start no RTSP method nor interleaved frame: the server skips them.
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = byte(i*131 + 7)
		if strings.IndexByte("$ADGOPRST", junk[i]) >= 0 {
			junk[i] = 0
		}
	}
	for _, tt := range []struct {
		name, send string
	}{
		{name: "HTTP request", send: "GET / HTTP/1.1\r\nHost: beffroi\r\n\r\n"},
		{name: "interleaved frame before any session", send: "$\x00\x00\x04abcd"},
		{name: "request with an invalid URL holding a key", send: "ANNOUNCE rtsp://[::1/" + streamName + "?key=" + secret + " RTSP/1.0\r\nCSeq: 1\r\n\r\n"},
		{name: "request without CSeq", send: "OPTIONS rtsp://127.0.0.1/x RTSP/1.0\r\n\r\n"},
		{name: "binary junk, then a request without CSeq", send: string(junk) + "OPTIONS rtsp://127.0.0.1/x RTSP/1.0\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
			var ne net.Error
			if _, err := io.Copy(io.Discard, c); errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server did not close the connection")
			}
		})
	}
	ts.logs.WaitFor(t, "invalid URL")

	// The publisher did not notice.
	e.mustSend(500 * time.Millisecond)
	readUntil(t, r, e.nv-1, e.na-1)
	if st := ts.state(); st != relay.Live {
		t.Errorf("stream %v", st)
	}
	ts.stop()
	testutil.AssertNoSecret(t, "the log", ts.logs.String(), secret, publishKey)
}

// TestSilentConnection: a client that connects and sends nothing is cut off after the read
// timeout (gortsplib alone would keep it until shutdown).
func TestSilentConnection(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.ReadTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	var ne net.Error
	if _, err := io.Copy(io.Discard, c); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server did not close the silent connection")
	}
}

func TestTakeover(t *testing.T) {
	ts := startServer(t, nil)
	e1 := ts.goLive(t)
	e1.mustSend(200 * time.Millisecond)
	r := relaytest.Subscribe(t, ts.st)
	e2, err := newEncoder(t, ts.url("", "/"+streamName+"?key="+publishKey), true)
	if err != nil {
		t.Fatal(err)
	}
	// Numbered after the first encoder's frames, so that the reader tells them apart.
	e2.nv, e2.na = 10*gopLength, 469 // both at 10 s of media
	e2.mustSend(200 * time.Millisecond)
	testutil.WaitFor(t, "the second publisher", func() bool { return ts.st.Info().Publishes == 2 })
	ts.logs.WaitFor(t, "publisher connection closed: replaced by a newer connection")
	// The replaced encoder's session is closed.
	done := make(chan error, 1)
	go func() { done <- e1.c.Wait() }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("the replaced session is still open")
	}
	e2.mustSend(time.Second)
	readFrom(t, r, 10*gopLength, e2.nv-1, e2.na-1)
	if st := ts.state(); st != relay.Live {
		t.Errorf("stream %v", st)
	}
}

// TestInBandParameters: the SDP has no SPS/PPS; the stream's video track comes from the first
// in-band parameter sets, and new ones (a resolution change) make a new track.
func TestInBandParameters(t *testing.T) {
	ts := startServer(t, nil)
	e, err := newEncoder(t, ts.url("", "/"+streamName+"?key="+publishKey), false)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the stream to go live", func() bool { return ts.state() == relay.Live })
	if v := ts.st.Track(relay.Video); v != nil {
		t.Fatalf("video track %+v before any parameter set", v)
	}
	// The first keyframe comes without parameter sets (joined late), the next one with them.
	sps := testutil.SPS720()
	e.extra = func(n int) [][]byte {
		if _, idr, _ := codedFrame(n); idr && n > 0 {
			return [][]byte{sps, testutil.PPS()}
		}
		return nil
	}
	e.mustSend(1500 * time.Millisecond)
	testutil.WaitFor(t, "the video track", func() bool {
		v := ts.st.Track(relay.Video)
		return v != nil && v.Width == 1280 && v.Height == 720
	})
	ts.logs.WaitFor(t, "waiting for the video parameter sets")
	ts.logs.WaitFor(t, "video parameters received in-band")
	// Audio waited for the video: the 47 audio frames sent before the keyframe at 1 s are dropped.
	if in := ts.st.Info(); len(in.Tracks) != 2 || in.Tracks[1].Frames > uint64(e.na-47) {
		t.Errorf("tracks %+v: audio published before the video could start (%d audio frames sent)", in.Tracks, e.na)
	}
	r := relaytest.Subscribe(t, ts.st)
	e.mustSend(time.Second)
	readUntil(t, r, e.nv-1, e.na-1)

	// The encoder switches to 640x360 at its next keyframe.
	old := ts.st.Track(relay.Video)
	sps = testutil.SPS360()
	e.mustSend(2 * time.Second)
	testutil.WaitFor(t, "the new video track", func() bool {
		v := ts.st.Track(relay.Video)
		return v != nil && v.Width == 640 && v.Height == 360
	})
	for {
		f := relaytest.Next(t, r)
		if f.Track.Kind() != relay.Video || f.Track == old {
			continue
		}
		if !bytes.Equal(f.Track.SPS, testutil.SPS360()) || !f.Key {
			t.Fatalf("first frame on the new track: key %v, SPS % x", f.Key, f.Track.SPS)
		}
		break
	}
}

// TestServerGoroutines: nothing is left running once publishers are gone and Run returned.
func TestServerGoroutines(t *testing.T) {
	ts := startServer(t, nil)
	e := ts.goLive(t)
	e.mustSend(300 * time.Millisecond)
	e2 := ts.goLive(t) // a takeover: its watcher must end too
	e2.mustSend(300 * time.Millisecond)
	c, err := net.Dial("tcp", ts.addr) // a connection still open at shutdown
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ts.stop()
	e.c.Close()
	e2.c.Close()
	testutil.NoGoroutines(t, "ingest/rtsp.(*Server)", "ingest/rtsp.(*handler)", "ingest/rtsp.(*listener)", "gortsplib/v5.(*Server", "gortsplib/v5.(*serverConn", "gortsplib/v5.(*ServerConn", "gortsplib/v5.(*ServerSession")
	if st := ts.state(); st == relay.Live {
		t.Errorf("stream still live after the server stopped")
	}
}

func TestParseTarget(t *testing.T) {
	for _, tt := range parseTargetCases {
		stream, key := parseTarget(tt.path, tt.query)
		if stream != tt.stream || key != tt.key {
			t.Errorf("parseTarget(%q, %q) = %q, %q; want %q, %q", tt.path, tt.query, stream, key, tt.stream, tt.key)
		}
	}
}

var parseTargetCases = []struct {
	path, query, stream, key string
}{
	{"/event", "key=abc", "event", "abc"},
	{"/event/", "key=abc", "event", "abc"},
	{"event", "", "event", ""},
	{"/", "key=abc", "", "abc"},
	{"", "", "", ""},
	{"/event", "other=1&key=a%2Bb%20c", "event", "a+b c"},
	{"/event", "key=a+b", "event", "a b"},
	{"/event", "key=bad%zz", "event", "bad%zz"},
	{"/event", "keys=abc&key", "event", ""},
	{"/event", "key=first&key=second", "event", "first"},
	{"/event", "x=%zz&key=k", "event", "k"},
	{"/a/b", "key=k", "a/b", "k"},
	{"//event//", "key=k=v", "event", "k=v"},
}

func FuzzParseTarget(f *testing.F) {
	for _, tt := range parseTargetCases {
		f.Add(tt.path, tt.query)
	}
	f.Fuzz(func(t *testing.T, path, query string) {
		stream, key := parseTarget(path, query)
		if strings.HasPrefix(stream, "/") || strings.HasSuffix(stream, "/") {
			t.Fatalf("parseTarget(%q): stream %q keeps a slash", path, stream)
		}
		if !strings.Contains(path, stream) {
			t.Fatalf("parseTarget(%q): stream %q is not part of the path", path, stream)
		}
		if key != "" && !strings.Contains(query, "key=") {
			t.Fatalf("parseTarget(%q, %q): key %q without key=", path, query, key)
		}
		// A key put in a query the way encoders do comes back as it was.
		q := "key=" + strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", " ", "+").Replace(key)
		if _, k2 := parseTarget(path, q); k2 != key {
			t.Fatalf("key %q: put in the query as %q, read back as %q", key, q, k2)
		}
		if _, k2 := parseTarget(path, query+"&key=ignored"); k2 != key && key != "" {
			t.Fatalf("a later key parameter replaced %q with %q", key, k2)
		}
	})
}

var redactCases = []struct {
	msg     string
	secrets []string
	want    string
}{
	{"bad status code: 401 (Unauthorized)", nil, "bad status code: 401 (Unauthorized)"},
	{"invalid URL (rtsp://[::1/event?key=abcdef)", nil, "invalid URL (rtsp://[::1/...)"},
	{"dial rtsp://admin:hunter2@cam:554/live failed", []string{"hunter2"}, "dial rtsp://cam:554/... failed"},
	{"dial rtsp://admin:hun/ter@cam:554/live failed", nil, "dial rtsp://cam:554/... failed"},
	{"path has changed, was '/k3y-secret', now is '/x'", []string{"k3y-secret"}, "path has changed, was '/<redacted>', now is '/x'"},
	{"GET /x?key=s3cret&y=1", nil, "GET /x?key=<redacted>&y=1"},
	{"escaped a%2Fb%3D", []string{"a/b="}, "escaped <redacted>"},
	{"short ab", []string{"ab"}, "short ab"},
}

func TestRedact(t *testing.T) {
	for _, tt := range redactCases {
		if got := redact(tt.msg, tt.secrets...); got != tt.want {
			t.Errorf("redact(%q, %q) = %q, want %q", tt.msg, tt.secrets, got, tt.want)
		}
	}
}

func FuzzRedact(f *testing.F) {
	for _, tt := range redactCases {
		secret := ""
		if len(tt.secrets) > 0 {
			secret = tt.secrets[0]
		}
		f.Add(tt.msg, secret, "cam-pass-1")
	}
	// A secret that could reappear from our own replacement text is not a fair test.
	fair := func(s string) bool {
		if len(s) < 6 || strings.Contains("redacted", strings.ToLower(s)) {
			return false
		}
		for _, r := range s {
			if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", r) {
				return false
			}
		}
		return true
	}
	f.Fuzz(func(t *testing.T, msg, secret, pass string) {
		if fair(secret) && strings.Contains(msg, secret) {
			if out := redact(msg, secret); strings.Contains(out, secret) {
				t.Fatalf("redact(%q, %q) = %q", msg, secret, out)
			}
		}
		// A camera URL's password and a key= value go even when not named as secrets.
		if fair(pass) && !strings.Contains(msg, pass) {
			in := fmt.Sprintf("%s rtsp://admin:%s@cam:554/p?key=%s %s", msg, pass, pass, msg)
			if out := redact(in); strings.Contains(out, pass) {
				t.Fatalf("redact(%q) = %q", in, out)
			}
		}
	})
}
