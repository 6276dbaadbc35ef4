package srt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	gosrt "github.com/datarhei/gosrt"

	"github.com/beffroi/beffroi/internal/netguard"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

const (
	waitTimeout = testutil.WaitTimeout
	streamID    = "#!::r=conseil,m=publish,s=s3cret-stream-key"
	passphrase  = "pass-phrase-0123456789"
)

func TestNewPusher(t *testing.T) {
	for _, tt := range []struct {
		url          string
		streamID     string
		passphrase   string
		latency      time.Duration // gosrt's Latency (-1: not set)
		rcvLatency   time.Duration
		connTimeout  time.Duration
		wantAddrHost string
	}{
		{"srt://ingest.example.org:9000?streamid=publish:live/key", "publish:live/key", "", -1, 120 * time.Millisecond, DefaultConnectTimeout, "ingest.example.org:9000"},
		{"srt://10.0.0.1:9000?streamid=%23%21%3A%3Ar%3Dlive%2Fx%2Cm%3Dpublish&passphrase=0123456789ab&latency=200", "#!::r=live/x,m=publish", "0123456789ab", 200 * time.Millisecond, 120 * time.Millisecond, DefaultConnectTimeout, "10.0.0.1:9000"},
		// As ffmpeg and OBS write it: latency in microseconds, '#' unescaped.
		{"srt://[::1]:9000?latency=2000000&streamid=#!::r=live/x,m=publish&rcvlatency=500", "#!::r=live/x,m=publish", "", 2 * time.Second, 500 * time.Millisecond, DefaultConnectTimeout, "[::1]:9000"},
		{"srt://h:1?conntimeo=1500&mode=caller", "", "", -1, 120 * time.Millisecond, 1500 * time.Millisecond, "h:1"},
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
			c := p.cfg
			if p.addr != tt.wantAddrHost || c.StreamId != tt.streamID || c.Passphrase != tt.passphrase ||
				c.Latency != tt.latency || c.ReceiverLatency != tt.rcvLatency || c.ConnectionTimeout != tt.connTimeout {
				t.Errorf("addr %q streamid %q passphrase %q latency %s rcvlatency %s conntimeo %s",
					p.addr, c.StreamId, c.Passphrase, c.Latency, c.ReceiverLatency, c.ConnectionTimeout)
			}
		})
	}
	for _, tt := range []struct{ url, want string }{
		{"srt://host?streamid=x", "host and a port"},
		{"srt://:9000?streamid=x", "host and a port"},
		{"srt://host:0", "invalid port"},
		{"rtmp://host:9000/app/key", "unsupported scheme"},
		{"srt://host:9000/live/key", "no path"},
		{"srt://user:pw@host:9000", "no user name"},
		{"srt://host:9000?mode=listener", "mode"},
		{"srt://host:9000?latency=soon", "latency"},
		{"srt://host:9000?streamid=k3y-abc&passphrase=short-k3y", "passphrase"},
		{"srt://host:9000?streamid=k3y-abc;x=%zz&passphrase=0123456789ab", "query is not valid"},
	} {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(u, outputs.Options{})
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), tt.want) {
			t.Errorf("New(%s) = %v, want an error about %q", tt.url, err, tt.want)
			continue
		}
		testutil.AssertNoSecret(t, "the error", err.Error(), "k3y-abc", "short-k3y", "pw")
	}
}

// loopback is the options of pushers to the test receivers, which are on 127.0.0.1.
func loopback() outputs.Options { return outputs.Options{AllowPrivateNetworks: true} }

// newSource is a live relay stream with H.264 and AAC, fed by the test.
func newSource(t testing.TB) *relaytest.Publisher {
	t.Helper()
	return relaytest.Publish(t, relaytest.NewStream(t, "conseil"), relaytest.Options{})
}

// progress records what a pusher reports.
type progress struct {
	live          atomic.Bool
	bytes, frames atomic.Int64
}

func (p *progress) Live()                   { p.live.Store(true) }
func (p *progress) Wrote(bytes, frames int) { p.bytes.Add(int64(bytes)); p.frames.Add(int64(frames)) }

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

// receiver is an SRT listener in the test that demuxes the MPEG-TS it receives.
type receiver struct {
	t      testing.TB
	ln     gosrt.Listener
	reject bool
	// closeAfter, when set, makes the receiver hang up once that many video frames arrived.
	closeAfter int
	sessions   chan *session
	wg         sync.WaitGroup
}

// session is what the receiver saw of one caller.
type session struct {
	streamID string
	mu       sync.Mutex
	tracks   []string
	video    []int // sequence numbers
	keys     []bool
	sps      [][]byte // the SPS in front of each keyframe
	audio    []int
	err      error // why the MPEG-TS ended
	done     chan struct{}
}

func (s *session) snapshot() (video []int, keys []bool, audio []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.video...), append([]bool(nil), s.keys...), append([]int(nil), s.audio...)
}

func startReceiver(t testing.TB, reject bool, closeAfter int) *receiver {
	t.Helper()
	cfg := gosrt.DefaultConfig()
	cfg.Passphrase = passphrase
	ln, err := gosrt.Listen("srt", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, ln: ln, reject: reject, closeAfter: closeAfter, sessions: make(chan *session, 16)}
	rc.wg.Go(func() {
		for {
			req, err := ln.Accept2()
			if err != nil {
				return
			}
			s := &session{streamID: req.StreamId(), done: make(chan struct{})}
			if rc.reject {
				req.Reject(gosrt.REJX_UNAUTHORIZED)
				close(s.done)
				rc.sessions <- s
				continue
			}
			if err := req.SetPassphrase(passphrase); err != nil {
				req.Reject(gosrt.REJ_BADSECRET)
				continue
			}
			conn, err := req.Accept()
			if err != nil {
				continue
			}
			rc.sessions <- s
			rc.wg.Go(func() { rc.serve(conn, s) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		rc.wg.Wait()
	})
	return rc
}

func (rc *receiver) url(query string) *url.URL {
	u, err := url.Parse("srt://" + rc.ln.Addr().String() + "?" + query)
	if err != nil {
		rc.t.Fatal(err)
	}
	return u
}

// defaultQuery: the tests send seconds of media at once; a latency well above SRT's 120 ms
// default keeps a loaded machine (CI runs every package at once) from making the receiver drop
// packets that arrive "too late".
func defaultQuery() string {
	return url.Values{"streamid": {streamID}, "passphrase": {passphrase}, "latency": {"1000"}}.Encode()
}

func (rc *receiver) session(t testing.TB) *session {
	t.Helper()
	select {
	case s := <-rc.sessions:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("no SRT connection arrived")
	}
	return nil
}

func (rc *receiver) serve(conn gosrt.Conn, s *session) {
	defer close(s.done)
	defer conn.Close()
	r := &mpegts.Reader{R: conn}
	if s.err = r.Initialize(); s.err != nil {
		return
	}
	for _, tr := range r.Tracks() {
		switch tr.Codec.(type) {
		case *codecs.H264:
			s.tracks = append(s.tracks, "H264")
			r.OnDataH264(tr, func(_, _ int64, au [][]byte) error {
				s.mu.Lock()
				defer s.mu.Unlock()
				var sps []byte
				for _, u := range au {
					switch h264.NALUType(u[0] & 0x1f) {
					case h264.NALUTypeSPS:
						sps = u
					case h264.NALUTypeIDR, h264.NALUTypeNonIDR:
						s.video = append(s.video, relaytest.UnitSeq(u))
						key := h264.IsRandomAccess(au)
						s.keys = append(s.keys, key)
						if key {
							s.sps = append(s.sps, sps)
						}
					}
				}
				if rc.closeAfter > 0 && len(s.video) >= rc.closeAfter {
					return errors.New("hanging up")
				}
				return nil
			})
		case *codecs.MPEG4Audio:
			s.tracks = append(s.tracks, "AAC")
			r.OnDataMPEG4Audio(tr, func(_ int64, aus [][]byte) error {
				s.mu.Lock()
				defer s.mu.Unlock()
				for _, au := range aus {
					s.audio = append(s.audio, relaytest.UnitSeq(au))
				}
				return nil
			})
		default:
			s.tracks = append(s.tracks, "other")
		}
	}
	for {
		if s.err = r.Read(); s.err != nil {
			return
		}
	}
}

func assertConsecutive(t testing.TB, what string, seqs []int, min int) {
	t.Helper()
	if len(seqs) < min {
		t.Errorf("%s: %d frames arrived, want at least %d", what, len(seqs), min)
	}
	for i, n := range seqs {
		if n != i {
			t.Errorf("%s: frame %d has sequence number %d (%v)", what, i, n, seqs)
			return
		}
	}
}

// TestPush: H.264 and AAC reach an SRT listener as MPEG-TS, in order and keyframe first, with
// the stream ID and passphrase of the URL; when the stream ends, Push returns relay.ErrEnded.
func TestPush(t *testing.T) {
	rc := startReceiver(t, false, 0)
	src := newSource(t)
	r := relaytest.Subscribe(t, src.Stream())
	p, err := NewPusher(rc.url(defaultQuery()), loopback())
	if err != nil {
		t.Fatal(err)
	}
	pr := &progress{}
	ch := push(t.Context(), p, r, pr)
	s := rc.session(t)
	if s.streamID != streamID {
		t.Errorf("the listener received stream ID %q, want %q", s.streamID, streamID)
	}
	testutil.WaitFor(t, "the pusher to be live", pr.live.Load)
	src.Send(3 * time.Second)
	testutil.WaitFor(t, "the frames to arrive", func() bool {
		v, _, a := s.snapshot()
		return len(v) >= 89 && len(a) >= 140
	})
	src.Stream().Stop()
	if err := waitPush(t, ch); !errors.Is(err, relay.ErrEnded) {
		t.Errorf("Push after the stream ended = %v, want relay.ErrEnded", err)
	}
	<-s.done
	if strings.Join(s.tracks, "+") != "H264+AAC" {
		t.Errorf("tracks %v, want H264 + AAC", s.tracks)
	}
	video, keys, audio := s.snapshot()
	// The last video frame stays in the demuxer: MPEG-TS video ends at the next frame.
	nv, na := src.Sent()
	assertConsecutive(t, "video", video, nv-1)
	assertConsecutive(t, "audio", audio, na)
	for i, k := range keys {
		if want := video[i]%30 == 0; k != want {
			t.Errorf("video frame %d: keyframe %v, want %v", video[i], k, want)
		}
	}
	if got := pr.frames.Load(); got != int64(nv+na) {
		t.Errorf("Wrote counted %d frames, want %d", got, nv+na)
	}
	if b := pr.bytes.Load(); b == 0 || b%188 != 0 {
		t.Errorf("Wrote counted %d bytes, want whole MPEG-TS packets", b)
	}
}

// TestPushStartsOnKeyframe: a pusher joining a stream mid-GOP sends nothing before the next
// video keyframe, audio included.
func TestPushStartsOnKeyframe(t *testing.T) {
	rc := startReceiver(t, false, 0)
	src := newSource(t)
	src.Send(500 * time.Millisecond)
	src.Stream().Stop() // a fresh session without a keyframe in the ring: the reader waits for one
	src.Republish()
	src.Seek(10, 16) // mid-GOP: the next keyframe is video frame 30
	src.Send(100 * time.Millisecond)
	r := relaytest.Subscribe(t, src.Stream())
	p, err := NewPusher(rc.url(defaultQuery()), loopback())
	if err != nil {
		t.Fatal(err)
	}
	pr := &progress{}
	ctx, cancel := context.WithCancel(t.Context())
	ch := push(ctx, p, r, pr)
	s := rc.session(t)
	testutil.WaitFor(t, "the pusher to be live", pr.live.Load)
	src.Send(2 * time.Second)
	testutil.WaitFor(t, "the frames to arrive", func() bool {
		v, _, _ := s.snapshot()
		return len(v) >= 30
	})
	cancel()
	if err := waitPush(t, ch); !errors.Is(err, context.Canceled) {
		t.Errorf("Push after cancel = %v, want context.Canceled", err)
	}
	video, keys, audio := s.snapshot()
	if video[0] != 30 || !keys[0] {
		t.Errorf("first video frame %d (key %v), want keyframe 30", video[0], keys[0])
	}
	// Audio frame 47 starts at 0.979 s, 64 at 1.365 s: the first one sent is the first at or
	// after the keyframe (1 s), modulo the order frames were published in.
	if len(audio) == 0 || audio[0] < 46 || audio[0] > 48 {
		t.Errorf("first audio frame %v, want about 47 (the first after the first keyframe)", audio[:min(3, len(audio))])
	}
}

// TestPushNewParameters: new video parameters mid-stream reach the listener in band, with
// the keyframes that follow; a new codec ends the session so that it restarts with new tracks.
func TestPushNewParameters(t *testing.T) {
	rc := startReceiver(t, false, 0)
	src := newSource(t)
	r := relaytest.Subscribe(t, src.Stream())
	p, err := NewPusher(rc.url(defaultQuery()), loopback())
	if err != nil {
		t.Fatal(err)
	}
	pr := &progress{}
	ch := push(t.Context(), p, r, pr)
	s := rc.session(t)
	src.Send(time.Second)
	small, err := relay.NewH264Track(testutil.SPS360(), testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	src.SetTrack(small)
	src.Send(time.Second + relaytest.VideoStep)
	// send stops once both tracks reached the time asked: keyframe 30 went out before the
	// change, keyframe 60 after.
	testutil.WaitFor(t, "three keyframes", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.sps) >= 3
	})
	s.mu.Lock()
	if !bytes.Equal(s.sps[0], testutil.SPS720()) || !bytes.Equal(s.sps[2], testutil.SPS360()) {
		t.Errorf("SPS in front of the keyframes: %x, want SPS720 first and SPS360 last", s.sps)
	}
	s.mu.Unlock()

	h265 := &relay.Track{Codec: relay.H265, VPS: []byte{0x40, 1}, SPS: []byte{0x42, 1}, PPS: []byte{0x44, 1}}
	src.SetTrack(h265)
	src.Send(relaytest.VideoStep)
	err = waitPush(t, ch)
	if err == nil || !strings.Contains(err.Error(), "video codec changed from H264 to H265") {
		t.Errorf("Push after a codec change = %v", err)
	}
}

// TestPushUnsupportedCodec: a VP8 stream cannot travel in MPEG-TS: Push says so.
func TestPushUnsupportedCodec(t *testing.T) {
	rc := startReceiver(t, false, 0)
	st := relay.NewStream(relay.StreamOptions{Name: "conseil", PublishKey: "pk"})
	t.Cleanup(st.Stop)
	pub := st.Publish(relay.SourceInfo{Protocol: "test"})
	vp8, err := pub.SetTrack(&relay.Track{Codec: relay.VP8, Width: 640, Height: 360})
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.Subscribe(relay.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := NewPusher(rc.url(defaultQuery()), loopback())
	if err != nil {
		t.Fatal(err)
	}
	ch := push(t.Context(), p, r, &progress{})
	if err := pub.WriteFrame(&relay.Frame{Track: vp8, Key: true, Units: [][]byte{{1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}
	err = waitPush(t, ch)
	if err == nil || !strings.Contains(err.Error(), "VP8 video cannot be sent over SRT") {
		t.Errorf("Push of VP8 = %v", err)
	}
}

// TestPushRejected: a listener that refuses the stream ID makes a clear error, without the
// stream ID.
func TestPushRejected(t *testing.T) {
	rc := startReceiver(t, true, 0)
	src := newSource(t)
	p, err := NewPusher(rc.url(defaultQuery()), loopback())
	if err != nil {
		t.Fatal(err)
	}
	pr := &progress{}
	err = waitPush(t, push(t.Context(), p, relaytest.Subscribe(t, src.Stream()), pr))
	if err == nil || !strings.Contains(err.Error(), "the destination refused the stream ID") {
		t.Fatalf("Push to a listener refusing the stream ID = %v", err)
	}
	t.Log(err)
	if pr.live.Load() {
		t.Error("Live reported for a refused connection")
	}
	testutil.AssertNoSecret(t, "the error", err.Error(), "s3cret-stream-key", passphrase)
}

// TestPushNoListener: nothing answers: Push fails once the connect time-out passed, and says
// so without the stream ID. Cancelling while connecting returns at once.
func TestPushNoListener(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	src := newSource(t)
	u, _ := url.Parse("srt://" + addr + "?conntimeo=500&" + defaultQuery())
	p, err := NewPusher(u, loopback())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = waitPush(t, push(t.Context(), p, relaytest.Subscribe(t, src.Stream()), &progress{}))
	if err == nil || !strings.Contains(err.Error(), "no SRT answer within 500ms") {
		t.Fatalf("Push to a closed port = %v", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("Push gave up after %s, before the connect time-out", d)
	}
	testutil.AssertNoSecret(t, "the error", err.Error(), "s3cret-stream-key", passphrase)

	u, _ = url.Parse("srt://" + addr + "?" + defaultQuery()) // the default 10 s time-out
	if p, err = NewPusher(u, loopback()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ch := push(ctx, p, relaytest.Subscribe(t, src.Stream()), &progress{})
	time.AfterFunc(100*time.Millisecond, cancel)
	select {
	case err := <-ch:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Push cancelled while connecting = %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Push cancelled while connecting did not return within 2 s")
	}
}

// TestPushCancel: cancelling a live push returns promptly with the context's error.
func TestPushCancel(t *testing.T) {
	rc := startReceiver(t, false, 0)
	src := newSource(t)
	p, err := NewPusher(rc.url(defaultQuery()), loopback())
	if err != nil {
		t.Fatal(err)
	}
	pr := &progress{}
	ctx, cancel := context.WithCancel(t.Context())
	ch := push(ctx, p, relaytest.Subscribe(t, src.Stream()), pr)
	s := rc.session(t)
	src.Send(time.Second)
	testutil.WaitFor(t, "frames to arrive", func() bool { v, _, _ := s.snapshot(); return len(v) > 10 })
	cancel()
	if err := waitPush(t, ch); !errors.Is(err, context.Canceled) {
		t.Errorf("Push after cancel = %v, want context.Canceled", err)
	}
	// The connection is closed: the listener sees its MPEG-TS end.
	select {
	case <-s.done:
	case <-time.After(waitTimeout):
		t.Error("the listener's connection did not end after the push was cancelled")
	}
}

// TestPushDestinationHangsUp: the listener closes the connection: Push says so.
func TestPushDestinationHangsUp(t *testing.T) {
	rc := startReceiver(t, false, 10)
	src := newSource(t)
	p, err := NewPusher(rc.url(defaultQuery()), loopback())
	if err != nil {
		t.Fatal(err)
	}
	ch := push(t.Context(), p, relaytest.Subscribe(t, src.Stream()), &progress{})
	rc.session(t)
	src.Send(time.Second)
	err = waitPush(t, ch)
	if err == nil || !strings.Contains(err.Error(), "connection closed by the destination") {
		t.Errorf("Push after the destination hung up = %v", err)
	}
}

// fullConn is a gosrt connection whose send queue is full for a while (or forever).
type fullConn struct {
	gosrt.Conn
	full    int // writes refused before one is taken; negative: all
	refused int
	packets [][]byte
}

func (c *fullConn) Write(b []byte) (int, error) {
	if c.full < 0 || c.refused < c.full {
		c.refused++
		return 0, io.EOF
	}
	c.packets = append(c.packets, append([]byte(nil), b...))
	return len(b), nil
}

// TestConnWriter: writes go out one SRT packet (whole MPEG-TS packets) at a time; a full
// send queue is waited for, up to the write time-out.
func TestConnWriter(t *testing.T) {
	fc := &fullConn{full: 3}
	cw := &connWriter{conn: fc, ctx: t.Context(), timeout: time.Second, payload: 1316}
	data := bytes.Repeat([]byte{0x47}, 188*10)
	if n, err := cw.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if len(fc.packets) != 2 || len(fc.packets[0]) != 1316 || len(fc.packets[1]) != 188*3 || fc.refused != 3 {
		t.Errorf("packets of %d bytes after %d refusals", len(fc.packets), fc.refused)
	}
	if cw.take() != len(data) || cw.take() != 0 {
		t.Error("take does not count the bytes written")
	}

	fc = &fullConn{full: -1}
	cw = &connWriter{conn: fc, ctx: t.Context(), timeout: 50 * time.Millisecond, payload: 1316}
	start := time.Now()
	_, err := cw.Write(data[:188])
	if !errors.Is(err, errStalled) || err.Error() != "destination accepted no data for 50ms" {
		t.Errorf("Write to a queue that stays full = %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("gave up after %s", d)
	}
}

// TestPushAudioOnly: a stream without video is sent as audio alone, once a second of audio
// showed that no video comes, from its first frame.
func TestPushAudioOnly(t *testing.T) {
	rc := startReceiver(t, false, 0)
	st := relay.NewStream(relay.StreamOptions{Name: "conseil", PublishKey: "pk"})
	t.Cleanup(st.Stop)
	pub := st.Publish(relay.SourceInfo{Protocol: "test"})
	a, err := pub.SetTrack(relaytest.AACTrack(t))
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.Subscribe(relay.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := NewPusher(rc.url(defaultQuery()), loopback())
	if err != nil {
		t.Fatal(err)
	}
	ch := push(t.Context(), p, r, &progress{})
	s := rc.session(t)
	const n = 94 // 2 s
	for i := range n {
		at := time.Duration(i) * relaytest.AACStep
		au := relaytest.Options{}.AudioUnit(i)
		if err := pub.WriteFrame(&relay.Frame{Track: a, DTS: at, PTS: at, Key: true, Units: [][]byte{au}}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, "the audio", func() bool { _, _, au := s.snapshot(); return len(au) >= n })
	st.Stop()
	if err := waitPush(t, ch); !errors.Is(err, relay.ErrEnded) {
		t.Errorf("Push = %v, want relay.ErrEnded", err)
	}
	<-s.done
	if len(s.tracks) != 1 || s.tracks[0] != "AAC" {
		t.Errorf("tracks %v, want AAC alone", s.tracks)
	}
	_, _, audio := s.snapshot()
	assertConsecutive(t, "audio", audio, n)
}

func TestWithParams(t *testing.T) {
	sps, pps := testutil.SPS720(), testutil.PPS()
	aud, idr := []byte{9, 0xf0}, []byte{0x65, 1}
	typ := func(u []byte) byte { return u[0] & 0x1f }
	for _, tt := range []struct {
		name    string
		in, out [][]byte
	}{
		{"bare", [][]byte{idr}, [][]byte{sps, pps, idr}},
		{"after the delimiter", [][]byte{aud, idr}, [][]byte{aud, sps, pps, idr}},
		{"already there", [][]byte{aud, sps, pps, idr}, [][]byte{aud, sps, pps, idr}},
		{"PPS missing", [][]byte{sps, idr}, [][]byte{pps, sps, idr}},
	} {
		got := withParams(tt.in, 9, typ, []byte{7, 8}, [][]byte{sps, pps})
		if !equalUnits(got, tt.out) {
			t.Errorf("%s: %x, want %x", tt.name, got, tt.out)
		}
	}
}

func equalUnits(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestPushRefusesPrivateAddress: without the opt-in, a destination on loopback is refused
// before any packet leaves, with an error that says why and never the stream ID or passphrase.
func TestPushRefusesPrivateAddress(t *testing.T) {
	rc := startReceiver(t, false, 0)
	src := newSource(t)
	_, port, _ := net.SplitHostPort(rc.ln.Addr().String())
	for _, host := range []string{"127.0.0.1", "[::ffff:127.0.0.1]"} {
		u, _ := url.Parse("srt://" + host + ":" + port + "?" + defaultQuery())
		p, err := NewPusher(u, outputs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pr := &progress{}
		err = waitPush(t, push(t.Context(), p, relaytest.Subscribe(t, src.Stream()), pr))
		if !errors.Is(err, netguard.ErrRefused) || !strings.Contains(err.Error(), "127.0.0.1 is on a private network (loopback") {
			t.Errorf("push to %s = %v, want the private-network refusal", host, err)
		}
		if pr.live.Load() {
			t.Errorf("push to %s went live", host)
		}
		testutil.AssertNoSecret(t, "the error", fmt.Sprint(err), "s3cret-stream-key", passphrase)
	}
	select {
	case <-rc.sessions:
		t.Error("a refused push reached the receiver")
	default:
	}
	// With the opt-in, the same URL connects: the receiver's first session is this one.
	p, err := NewPusher(rc.url(defaultQuery()), loopback())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ch := push(ctx, p, relaytest.Subscribe(t, src.Stream()), &progress{})
	if s := rc.session(t); s.streamID != streamID {
		t.Errorf("the receiver's first session has stream ID %q", s.streamID)
	}
	cancel()
	_ = waitPush(t, ch)
}
