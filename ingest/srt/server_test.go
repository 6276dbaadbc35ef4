package srt

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	gosrt "github.com/datarhei/gosrt"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

const (
	streamName  = "conseil"
	publishKey  = "pk-conseil-5e1f0a93c7"
	otherStream = "marche"
	otherKey    = "pk-marche-0b7d41e2aa"
	passphrase  = "le-beffroi-d-arras"
	waitTimeout = testutil.WaitTimeout
	// 90 kHz ticks of a 30 fps video frame and of an AAC access unit at 48 kHz.
	videoTicks = 3000
	audioTicks = 1920
	videoStep  = time.Second / 30
	audioStep  = 1024 * time.Second / 48000
)

type testServer struct {
	*Server
	reg   *relay.Registry
	st    *relay.Stream
	other *relay.Stream
	logs  *testutil.LogBuffer
	addr  string
	stop  func() // cancels Run and waits for it
}

// testLatency is the SRT latency of the tests' servers and callers.
const testLatency = 500 * time.Millisecond

func startServer(t *testing.T, configure func(s *Server)) *testServer {
	t.Helper()
	reg := relay.NewRegistry(relay.RegistryOptions{})
	st, err := reg.Add(streamName, publishKey)
	if err != nil {
		t.Fatal(err)
	}
	other, err := reg.Add(otherStream, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.StopAll)
	logs := &testutil.LogBuffer{}
	// Half a second of latency (the default is 200 ms): these tests check what the server makes of
	// every packet, so none may be dropped as too late while a loaded machine (-race, the
	// whole suite) holds a goroutine back. Loss itself is the netem tests' subject.
	s := &Server{
		Addr: "127.0.0.1:0", Registry: reg, ReadTimeout: 5 * time.Second, Latency: testLatency,
		Logger: logs.Logger(),
	}
	if configure != nil {
		configure(s)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, reg: reg, st: st, other: other, logs: logs, addr: s.ListenAddr().String()}
	ts.stop = testutil.Start(t, s.Run)
	t.Cleanup(func() {
		ts.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

func state(st *relay.Stream) relay.State {
	s, _ := st.State()
	return s
}

// dial connects an SRT caller with a stream ID and, when not empty, a passphrase.
func dial(t testing.TB, addr, streamID, pass string) (gosrt.Conn, error) {
	t.Helper()
	cfg := gosrt.DefaultConfig()
	cfg.ReceiverLatency, cfg.PeerLatency = testLatency, testLatency
	cfg.StreamId = streamID
	cfg.Passphrase = pass
	c, err := gosrt.Dial("srt", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// tsSink is what the encoder's MPEG-TS goes through on its way to the connection; mangle, when
// set, rewrites each write (always whole 188-byte packets) to simulate a bad network.
type tsSink struct {
	w      io.Writer
	mangle func([]byte) []byte
}

func (s *tsSink) Write(p []byte) (int, error) {
	q := p
	if s.mangle != nil {
		q = s.mangle(p)
	}
	if _, err := s.w.Write(q); err != nil {
		return 0, err
	}
	return len(p), nil
}

// encoder publishes H.264 and AAC (two access units per PES packet, as encoders do) in
// MPEG-TS over SRT, as an SRT encoder would.
type encoder struct {
	t      testing.TB
	c      gosrt.Conn
	sink   *tsSink
	bw     *bufio.Writer
	w      *mpegts.Writer
	vt, at *mpegts.Track
	nv, na int
	base   int64 // 90 kHz timestamp of the first frame
	sps    []byte
}

func newEncoder(t testing.TB, c gosrt.Conn) *encoder {
	t.Helper()
	e := newTSEncoder(t, c)
	e.c = c
	return e
}

// newTSEncoder returns an encoder writing its MPEG-TS to w.
func newTSEncoder(t testing.TB, w io.Writer) *encoder {
	t.Helper()
	var asc mpeg4audio.AudioSpecificConfig
	if err := asc.Unmarshal(testutil.ASC()); err != nil {
		t.Fatal(err)
	}
	e := &encoder{
		t: t, sink: &tsSink{w: w}, base: 90000, sps: testutil.SPS720(),
		vt: &mpegts.Track{Codec: &codecs.H264{}},
		at: &mpegts.Track{Codec: &codecs.MPEG4Audio{Config: asc}},
	}
	// 7 TS packets per SRT packet, as every SRT encoder sends them.
	e.bw = bufio.NewWriterSize(e.sink, 7*188)
	e.w = &mpegts.Writer{W: e.bw, Tracks: []*mpegts.Track{e.vt, e.at}}
	if err := e.w.Initialize(); err != nil {
		t.Fatal(err)
	}
	return e
}

// videoAU returns a picture whose payload holds its sequence number; a keyframe carries the
// parameter sets first, as in MPEG-TS.
func (e *encoder) videoAU(n int) [][]byte {
	u := bytes.Repeat([]byte{0xaa}, 200+n%300)
	u[0] = 0x41
	if n%30 == 0 {
		u[0] = 0x65
	}
	u[1], u[2] = byte(n>>8), byte(n)
	if n%30 == 0 {
		return [][]byte{e.sps, testutil.PPS(), u}
	}
	return [][]byte{u}
}

func audioAU(n int) []byte {
	u := bytes.Repeat([]byte{0x55}, 100)
	u[0], u[1], u[2] = 0x21, byte(n>>8), byte(n)
	return u
}

// ticks returns a 33-bit MPEG-TS timestamp.
func (e *encoder) ticks(t int64) int64 { return (e.base + t) & 0x1ffffffff }

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
			ts := e.ticks(int64(e.nv) * videoTicks)
			err = e.w.WriteH264(e.vt, ts, ts, e.videoAU(e.nv))
			e.nv++
		} else {
			err = e.w.WriteMPEG4Audio(e.at, e.ticks(int64(e.na)*audioTicks), [][]byte{audioAU(e.na), audioAU(e.na + 1)})
			e.na += 2
		}
		if err == nil {
			err = e.bw.Flush()
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

// goLive connects an encoder with streamID and sends enough media for the stream to have its
// tracks.
func (ts *testServer) goLive(t testing.TB, st *relay.Stream, streamID string) *encoder {
	t.Helper()
	c, err := dial(t, ts.addr, streamID, "")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	e := newEncoder(t, c)
	e.mustSend(500 * time.Millisecond)
	testutil.WaitFor(t, "the stream to go live with its tracks", func() bool {
		return state(st) == relay.Live && st.Track(relay.Video) != nil && st.Track(relay.Audio) != nil
	})
	return e
}

// seq is the sequence number the encoder put in a frame's payload (its last unit).
func seq(f *relay.Frame) int {
	u := f.Units[len(f.Units)-1]
	return int(u[1])<<8 | int(u[2])
}

// readUntil reads frames until it has video frame lastVideo and audio frame lastAudio, checking
// codecs, keyframe flags, order and timestamps on the way; it returns the frames read.
func readUntil(t testing.TB, r *relay.Reader, lastVideo, lastAudio int) []*relay.Frame {
	t.Helper()
	var frames []*relay.Frame
	var gotVideo, gotAudio bool
	prev := [2]*relay.Frame{}
	for first := true; !gotVideo || !gotAudio; {
		f := relaytest.Next(t, r)
		frames = append(frames, f)
		k := f.Track.Kind()
		switch {
		case k == relay.Video && f.Track.Codec != relay.H264, k == relay.Audio && f.Track.Codec != relay.AAC:
			t.Fatalf("frame of codec %s", f.Track.Codec)
		case k == relay.Video && first && !f.Key:
			t.Fatal("reader did not start on a keyframe")
		case k == relay.Video && f.Key != (seq(f)%30 == 0):
			t.Fatalf("video frame %d: Key = %v", seq(f), f.Key)
		case k == relay.Video && f.Key && !h264.IsRandomAccess(f.Units):
			t.Fatalf("video frame %d flagged Key without an IDR", seq(f))
		case k == relay.Audio && (!f.Key || len(f.Units) != 1 || len(f.Units[0]) != 100):
			t.Fatalf("audio frame %d: Key %v, %d units: one frame per access unit expected", seq(f), f.Key, len(f.Units))
		}
		if k == relay.Video {
			first = false
		}
		if p := prev[k]; p != nil {
			if seq(f) != seq(p)+1 {
				t.Fatalf("%s frame %d after %d", k, seq(f), seq(p))
			}
			step := videoStep
			if k == relay.Audio {
				step = audioStep
			}
			if d := f.DTS - p.DTS; d < step-time.Millisecond || d > step+time.Millisecond {
				t.Fatalf("%s frame %d: DTS %v after %v, want a step of %v", k, seq(f), f.DTS, p.DTS, step)
			}
		}
		prev[k] = f
		gotVideo = gotVideo || (k == relay.Video && seq(f) >= lastVideo)
		gotAudio = gotAudio || (k == relay.Audio && seq(f) >= lastAudio)
	}
	return frames
}

// lastVideo is the last video frame the relay can have: MPEG-TS video PES packets have no
// length, so the demuxer hands one over when the next one starts.
func (e *encoder) lastVideo() int { return e.nv - 2 }

func TestPublish(t *testing.T) {
	for _, tt := range []struct{ name, streamID string }{
		{"publish form", "publish:" + streamName + ":" + publishKey},
		{"access control form", "#!::r=" + streamName + ",m=publish,s=" + publishKey},
		{"access control form, keys reordered, with a user", "#!::s=" + publishKey + ",u=regie,m=publish,r=" + streamName},
		{"percent-encoded access control form", "%23%21%3A%3Ar%3D" + streamName + "%2Cm%3Dpublish%2Cs%3D" + publishKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, nil)
			e := ts.goLive(t, ts.st, tt.streamID)

			in := ts.st.Info()
			if in.Source.Protocol != "srt" || !strings.HasPrefix(in.Source.RemoteAddr, "127.0.0.1:") {
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
			if ts.logs.Count("publisher connected", "stream="+streamName, "H264", "AAC 48000 Hz") != 1 {
				t.Errorf("want one line saying which tracks the publisher sends")
			}

			r := relaytest.Subscribe(t, ts.st)
			e.mustSend(time.Second)
			readUntil(t, r, e.lastVideo(), e.na-1)

			e.c.Close()
			testutil.WaitFor(t, "the stream to end", func() bool { return state(ts.st) == relay.Idle })
			ts.logs.WaitFor(t, "connection closed by the encoder")
			if strings.Contains(ts.logs.String(), publishKey) {
				t.Errorf("log reveals the publish key:\n%s", ts.logs.String())
			}
		})
	}
}

func TestPublishRefused(t *testing.T) {
	const wrongKey = "pk-conseil-wrong-77d1"
	tests := []struct {
		name       string
		streamID   string
		pass       string // the encoder's
		serverPass string
		reason     gosrt.RejectionReason
		log        string
		logStream  bool // the line names the stream
	}{
		{
			name: "wrong key", streamID: "publish:" + streamName + ":" + wrongKey,
			reason: gosrt.REJX_UNAUTHORIZED, log: "publish refused: unknown publish key", logStream: true,
		},
		{
			name: "wrong key, access control form", streamID: "#!::r=" + streamName + ",m=publish,s=" + wrongKey,
			reason: gosrt.REJX_UNAUTHORIZED, log: "publish refused: unknown publish key", logStream: true,
		},
		{
			name: "wrong key, unknown stream", streamID: "publish:nope:" + wrongKey,
			reason: gosrt.REJX_UNAUTHORIZED, log: "publish refused: unknown publish key",
		},
		{
			name: "key of another stream", streamID: "publish:" + streamName + ":" + otherKey,
			reason: gosrt.REJX_UNAUTHORIZED, log: "publish refused: the publish key is not the key of the stream", logStream: true,
		},
		{
			name: "key of another stream, access control form", streamID: "#!::r=" + otherStream + ",m=publish,s=" + publishKey,
			reason: gosrt.REJX_UNAUTHORIZED, log: "publish refused: the publish key is not the key of the stream",
		},
		{
			name: "key alone", streamID: publishKey,
			reason: gosrt.REJX_BAD_REQUEST, log: "publish refused: malformed stream id",
		},
		{
			name: "no stream id", streamID: "",
			reason: gosrt.REJX_BAD_REQUEST, log: "publish refused: no stream id",
		},
		{
			name: "read", streamID: "read:" + streamName,
			reason: gosrt.REJX_BAD_MODE, log: "reading over SRT is not supported yet",
		},
		{
			name: "request mode", streamID: "#!::r=" + streamName + ",m=request",
			reason: gosrt.REJX_BAD_MODE, log: "reading over SRT is not supported yet",
		},
		{
			name: "no mode", streamID: "#!::r=" + streamName + ",s=" + publishKey,
			reason: gosrt.REJX_BAD_MODE, log: "reading over SRT is not supported yet",
		},
		{
			name: "passphrase required", streamID: "publish:" + streamName + ":" + publishKey, serverPass: passphrase,
			reason: gosrt.REJ_UNSECURE, log: "publish refused: this server requires a passphrase", logStream: true,
		},
		{
			name: "wrong passphrase", streamID: "publish:" + streamName + ":" + publishKey,
			pass: "not-the-passphrase", serverPass: passphrase,
			reason: gosrt.REJ_BADSECRET, log: "publish refused: wrong passphrase", logStream: true,
		},
		{
			name: "passphrase the server does not have", streamID: "publish:" + streamName + ":" + publishKey, pass: passphrase,
			reason: gosrt.REJ_UNSECURE, log: "publish refused: the encoder encrypts with a passphrase", logStream: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, func(s *Server) { s.Passphrase = tt.serverPass })
			_, err := dial(t, ts.addr, tt.streamID, tt.pass)
			if err == nil {
				t.Fatal("publish accepted")
			}
			if want := "REJECT (" + strconv.FormatUint(uint64(tt.reason), 32) + ")"; !strings.Contains(err.Error(), want) {
				t.Errorf("Dial: %v, want rejection reason %d", err, tt.reason)
			}
			ts.logs.WaitFor(t, tt.log)
			ts.stop() // every log line is written
			logs := ts.logs.String()
			if n := strings.Count(logs, "\n"); n != 1 {
				t.Errorf("%d log lines, want 1:\n%s", n, logs)
			}
			if got := strings.Contains(logs, "stream="+streamName); got != tt.logStream {
				t.Errorf("log line names the stream: %v, want %v:\n%s", got, tt.logStream, logs)
			}
			if !strings.Contains(logs, "protocol=srt") || !strings.Contains(logs, "remote=127.0.0.1:") {
				t.Errorf("log line without protocol and remote address:\n%s", logs)
			}
			for _, s := range []string{wrongKey, publishKey, otherKey, passphrase, "not-the-passphrase"} {
				if strings.Contains(logs, s) {
					t.Errorf("log reveals the secret %q:\n%s", s, logs)
				}
			}
			for _, st := range []*relay.Stream{ts.st, ts.other} {
				if s := state(st); s != relay.Idle {
					t.Errorf("stream %s %v after a refused publish", st.Name(), s)
				}
			}
		})
	}
}

func TestPassphrase(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.Passphrase = passphrase })
	c, err := dial(t, ts.addr, "publish:"+streamName+":"+publishKey, passphrase)
	if err != nil {
		t.Fatalf("publish with the passphrase: %v", err)
	}
	e := newEncoder(t, c)
	e.mustSend(500 * time.Millisecond)
	testutil.WaitFor(t, "the stream to go live with its tracks", func() bool {
		return state(ts.st) == relay.Live && ts.st.Track(relay.Video) != nil && ts.st.Track(relay.Audio) != nil
	})
	r := relaytest.Subscribe(t, ts.st)
	e.mustSend(500 * time.Millisecond)
	readUntil(t, r, e.lastVideo(), e.na-1)

	for _, bad := range []string{"short", strings.Repeat("x", 80)} {
		s := &Server{Addr: "127.0.0.1:0", Registry: ts.reg, Passphrase: bad}
		if err := s.Listen(); err == nil || strings.Contains(err.Error(), bad) {
			s.Close()
			t.Errorf("Listen with a %d-character passphrase: %v", len(bad), err)
		}
	}
}

// TestGarbage: random bytes instead of MPEG-TS, and MPEG-TS damaged on the way, neither crash
// nor flood the log, and a publisher on another stream does not notice.
func TestGarbage(t *testing.T) {
	ts := startServer(t, nil)
	other := ts.goLive(t, ts.other, "publish:"+otherStream+":"+otherKey)
	otherReader := relaytest.Subscribe(t, ts.other)
	rnd := rand.New(rand.NewPCG(1, 2))

	t.Run("random bytes instead of MPEG-TS", func(t *testing.T) {
		c, err := dial(t, ts.addr, "publish:"+streamName+":"+publishKey, "")
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, 1316)
		// Paced: gosrt drops what does not fit its send queue.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for sent := 0; sent < 1100*1024 && !strings.Contains(ts.logs.String(), "first megabyte"); {
			for range 16 {
				for i := range junk {
					junk[i] = byte(rnd.Uint32())
				}
				if _, err := c.Write(junk); err != nil {
					break
				}
				sent += len(junk)
			}
			<-tick.C
		}
		ts.logs.WaitFor(t, "no MPEG-TS program table (PAT/PMT) in the first megabyte")
		testutil.WaitFor(t, "the stream to end", func() bool { return state(ts.st) == relay.Idle })
		if n := ts.logs.Count("stream=" + streamName); n > 3 {
			t.Errorf("%d log lines for one publisher sending garbage:\n%s", n, ts.logs.String())
		}
	})

	t.Run("damaged MPEG-TS", func(t *testing.T) {
		e := ts.goLive(t, ts.st, "publish:"+streamName+":"+publishKey)
		before := ts.logs.Count("malformed MPEG-TS")
		// A network that cuts packets short, then one that inserts junk.
		n := 0
		e.sink.mangle = func(p []byte) []byte {
			var out []byte
			for pkt := range slicesChunk(p, 188) {
				n++
				if n%3 == 0 {
					pkt = pkt[:100]
				}
				out = append(out, pkt...)
			}
			return out
		}
		e.mustSend(time.Second)
		e.sink.mangle = func(p []byte) []byte {
			junk := make([]byte, 500)
			for i := range junk {
				if junk[i] = byte(rnd.Uint32()); junk[i] == 0x47 {
					junk[i] = 0x48
				}
			}
			return append(junk, p...)
		}
		e.mustSend(time.Second)
		e.sink.mangle = nil
		// The publisher goes on: whatever it sends next reaches readers.
		r := relaytest.Subscribe(t, ts.st)
		e.mustSend(1500 * time.Millisecond)
		for {
			f := relaytest.Next(t, r)
			if f.Track.Kind() == relay.Video && seq(f) >= e.lastVideo() {
				break
			}
		}
		if s := state(ts.st); s != relay.Live {
			t.Errorf("stream %v after damaged data", s)
		}
		if got := ts.logs.Count("malformed MPEG-TS") - before; got < 1 || got > 2 {
			t.Errorf("%d log lines about malformed data, want 1 (at most one per 10 s):\n%s", got, ts.logs.String())
		}
	})

	// The other publisher did not notice.
	other.mustSend(500 * time.Millisecond)
	readUntil(t, otherReader, other.lastVideo(), other.na-1)
	if in := ts.other.Info(); in.State != relay.Live || in.Publishes != 1 {
		t.Errorf("other stream: %v, %d publishes", in.State, in.Publishes)
	}
}

// slicesChunk yields consecutive n-byte pieces of b.
func slicesChunk(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			m := min(n, len(b))
			if !yield(b[:m]) {
				return
			}
			b = b[m:]
		}
	}
}

func TestTakeover(t *testing.T) {
	ts := startServer(t, nil)
	e1 := ts.goLive(t, ts.st, "publish:"+streamName+":"+publishKey)
	remote1 := ts.st.Info().Source.RemoteAddr
	c2, err := dial(t, ts.addr, "#!::r="+streamName+",m=publish,s="+publishKey, "")
	if err != nil {
		t.Fatal(err)
	}
	e2 := newEncoder(t, c2)
	e2.mustSend(500 * time.Millisecond)
	testutil.WaitFor(t, "the second publisher", func() bool { return ts.st.Info().Publishes == 2 })
	ts.logs.WaitFor(t, "publisher connection closed: replaced by a newer connection")
	if in := ts.st.Info(); in.State != relay.Live || in.Source.RemoteAddr == remote1 {
		t.Errorf("after the takeover: %v from %s (first publisher %s)", in.State, in.Source.RemoteAddr, remote1)
	}
	// The replaced encoder's connection is closed.
	readErr := make(chan error, 1)
	go func() {
		_, err := e1.c.Read(make([]byte, 1500))
		readErr <- err
	}()
	select {
	case err := <-readErr:
		if err == nil {
			t.Error("the replaced connection is still open")
		}
	case <-time.After(waitTimeout):
		t.Fatal("the replaced connection is still open")
	}
	// The newer publisher's media reaches readers (which start at the newest keyframe,
	// possibly the first publisher's).
	r := relaytest.Subscribe(t, ts.st)
	e2.mustSend(time.Second)
	for {
		f := relaytest.Next(t, r)
		if f.Track.Kind() == relay.Video && seq(f) >= e2.lastVideo() {
			break
		}
	}
}

func TestReadTimeout(t *testing.T) {
	// gosrt callers send no keepalives: their peer idle timeout (5 s) comes after this one.
	ts := startServer(t, func(s *Server) { s.ReadTimeout = 2 * time.Second }) // past testLatency
	ts.goLive(t, ts.st, "publish:"+streamName+":"+publishKey)
	ts.logs.WaitFor(t, "no data received for too long")
	testutil.WaitFor(t, "the stream to end", func() bool { return state(ts.st) == relay.Idle })
}

// TestNoSupportedTrack: an MPEG-TS with only MPEG-1 audio is refused once its tracks are
// known, with a line for the ignored track and one for the refusal.
func TestNoSupportedTrack(t *testing.T) {
	ts := startServer(t, nil)
	c, err := dial(t, ts.addr, "publish:"+streamName+":"+publishKey, "")
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(c, 7*188)
	w := &mpegts.Writer{W: bw, Tracks: []*mpegts.Track{{Codec: &codecs.MPEG1Audio{}}}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTables(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	ts.logs.WaitFor(t, "no supported track")
	if ts.logs.Count("track ignored: codec not supported", "MPEG-1/2 audio") != 1 {
		t.Errorf("no line about the ignored track:\n%s", ts.logs.String())
	}
	testutil.WaitFor(t, "the stream to end", func() bool { return state(ts.st) == relay.Idle })
}

// TestTimestampWrap: MPEG-TS timestamps wrap around after 26.5 hours; the relay's do not.
func TestTimestampWrap(t *testing.T) {
	ts := startServer(t, nil)
	c, err := dial(t, ts.addr, "publish:"+streamName+":"+publishKey, "")
	if err != nil {
		t.Fatal(err)
	}
	e := newEncoder(t, c)
	e.base = 1<<33 - 90000 // a second before the wrap
	e.mustSend(500 * time.Millisecond)
	testutil.WaitFor(t, "the stream to go live with its tracks", func() bool {
		return ts.st.Track(relay.Video) != nil && ts.st.Track(relay.Audio) != nil
	})
	r := relaytest.Subscribe(t, ts.st)
	e.mustSend(1500 * time.Millisecond)
	// readUntil checks every step, across the wrap.
	frames := readUntil(t, r, e.lastVideo(), e.na-1)
	if d := frames[len(frames)-1].DTS - frames[0].DTS; d < time.Second {
		t.Errorf("frames span %v across the wrap", d)
	}
}

// TestParameterChange: an access unit carrying a new SPS (the encoder switched to 640x360)
// makes a new video track, and readers get frames on it.
func TestParameterChange(t *testing.T) {
	ts := startServer(t, nil)
	e := ts.goLive(t, ts.st, "publish:"+streamName+":"+publishKey)
	r := relaytest.Subscribe(t, ts.st)
	old := ts.st.Track(relay.Video)
	e.nv = (e.nv/30 + 1) * 30 // the next keyframe carries the new SPS
	e.sps = testutil.SPS360()
	e.mustSend(500 * time.Millisecond)
	testutil.WaitFor(t, "the new video track", func() bool {
		v := ts.st.Track(relay.Video)
		return v != nil && v.Width == 640 && v.Height == 360
	})
	for {
		f := relaytest.Next(t, r)
		if f.Track.Kind() != relay.Video || f.Track == old {
			continue
		}
		if !bytes.Equal(f.Track.SPS, testutil.SPS360()) || !f.Key || seq(f)%30 != 0 {
			t.Fatalf("first frame on the new track: key %v, frame %d, SPS % x", f.Key, seq(f), f.Track.SPS)
		}
		break
	}
}

// TestOpus: Opus audio (several packets per PES packet) reaches readers one packet per frame.
func TestOpus(t *testing.T) {
	ts := startServer(t, nil)
	c, err := dial(t, ts.addr, "publish:"+streamName+":"+publishKey, "")
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(c, 7*188)
	at := &mpegts.Track{Codec: &codecs.Opus{ChannelCount: 2}} //nolint:staticcheck // what the Writer reads
	w := &mpegts.Writer{W: bw, Tracks: []*mpegts.Track{at}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	// TOC 0xfc: CELT fullband, 20 ms, one frame.
	pkt := func(n int) []byte { return []byte{0xfc, byte(n >> 8), byte(n), 0xaa, 0xaa} }
	sent := 0
	send := func(pes int) {
		for range pes {
			if err := w.WriteOpus(at, int64(sent)*1800, [][]byte{pkt(sent), pkt(sent + 1)}); err != nil {
				t.Fatal(err)
			}
			sent += 2
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(10)
	testutil.WaitFor(t, "the Opus track", func() bool { return ts.st.Track(relay.Audio) != nil })
	if a := ts.st.Track(relay.Audio); a.Codec != relay.Opus || a.SampleRate != 48000 || a.Channels != 2 {
		t.Errorf("audio track %+v", a)
	}
	r := relaytest.Subscribe(t, ts.st)
	send(10)
	var prev *relay.Frame
	for {
		f := relaytest.Next(t, r)
		if prev != nil && (seq(f) != seq(prev)+1 || f.DTS-prev.DTS != 20*time.Millisecond) {
			t.Fatalf("Opus frame %d at %v after %d at %v", seq(f), f.DTS, seq(prev), prev.DTS)
		}
		prev = f
		// The last PES packet has a length: it arrives whole.
		if seq(f) == sent-1 {
			break
		}
	}
}

// TestPublisherGoroutines checks that a publisher's connection leaves no goroutine behind once
// it is closed and the server stopped.
func TestPublisherGoroutines(t *testing.T) {
	ts := startServer(t, nil)
	ts.goLive(t, ts.st, "publish:"+streamName+":"+publishKey)
	ts.stop()
	if s := state(ts.st); s != relay.Idle {
		t.Errorf("stream %v after the server stopped", s)
	}
	testutil.NoGoroutines(t, "ingest/srt.(*Server).publish")
	if strings.Contains(ts.logs.String(), "publisher disconnected") {
		t.Errorf("shutdown logged as a disconnection:\n%s", ts.logs.String())
	}
}

func TestTicksToDuration(t *testing.T) {
	for _, tt := range []struct {
		ticks int64
		want  time.Duration
	}{
		{0, 0},
		{90000, time.Second},
		{3000, time.Second / 30},
		{-1920, -1920 * time.Second / 90000},
		// 40 days of ticks: ticks * time.Second would overflow.
		{90000 * 86400 * 40, 40 * 24 * time.Hour},
		{90000*86400*40 + 45000, 40*24*time.Hour + 500*time.Millisecond},
	} {
		if got := relay.TicksToDuration(tt.ticks, 90000); got != tt.want {
			t.Errorf("TicksToDuration(%d, 90000) = %v, want %v", tt.ticks, got, tt.want)
		}
	}
}

// TestStreamRemoved: a stream removed while live closes its publisher's connection, and the
// log says why.
func TestStreamRemoved(t *testing.T) {
	ts := startServer(t, nil)
	e := ts.goLive(t, ts.st, "publish:"+streamName+":"+publishKey)
	ts.reg.Remove(streamName)
	ts.logs.WaitFor(t, "publisher connection closed: the stream was stopped")
	readErr := make(chan error, 1)
	go func() {
		_, err := e.c.Read(make([]byte, 1500))
		readErr <- err
	}()
	select {
	case err := <-readErr:
		if err == nil {
			t.Error("the connection is still open")
		}
	case <-time.After(waitTimeout):
		t.Fatal("the connection is still open")
	}
}
