package rtmpwire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

const waitTimeout = testutil.WaitTimeout

// testPub is a live stream with an H.264 and an AAC track, fed by the test.
type testPub struct {
	t            testing.TB
	st           *relay.Stream
	p            *relay.Publisher
	video, audio *relay.Track
	seq          int
}

func newTestPub(t testing.TB, ring int, withVideo bool) *testPub {
	t.Helper()
	st := relay.NewStream(relay.StreamOptions{Name: "test", PublishKey: "k", RingSize: ring})
	t.Cleanup(st.Stop)
	tp := &testPub{t: t, st: st, p: st.Publish(relay.SourceInfo{Protocol: "test"})}
	var err error
	if withVideo {
		if tp.video, err = tp.p.SetTrack(h264Track(t, testutil.SPS720())); err != nil {
			t.Fatal(err)
		}
	}
	if tp.audio, err = tp.p.SetTrack(aacTrack(t)); err != nil {
		t.Fatal(err)
	}
	return tp
}

// write publishes a frame whose payload carries a sequence number, and returns it.
func (tp *testPub) write(tr *relay.Track, dts, pts time.Duration, key bool, size int) *relay.Frame {
	tp.t.Helper()
	tp.seq++
	var u []byte
	switch {
	case tr.Kind() == relay.Audio:
		u = nal(0x21, size)
	case key:
		u = h264IDR(size)
	default:
		u = h264Slice(size)
	}
	if len(u) > 2 {
		u[1], u[2] = byte(tp.seq>>8), byte(tp.seq)
	}
	f := &relay.Frame{Track: tr, DTS: dts, PTS: pts, Key: key || tr.Kind() == relay.Audio, Units: [][]byte{u}}
	if err := tp.p.WriteFrame(f); err != nil {
		tp.t.Fatal(err)
	}
	return f
}

func (tp *testPub) subscribe() *relay.Reader {
	tp.t.Helper()
	r, err := tp.st.Subscribe(relay.ReaderOptions{})
	if err != nil {
		tp.t.Fatal(err)
	}
	tp.t.Cleanup(r.Close)
	return r
}

// peer reads what a Sender writes, as an RTMP player or platform would.
type peer struct {
	msgs  chan message.Message
	bytes atomic.Int64
	done  chan error
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func startPeer(c net.Conn) *peer {
	p := &peer{msgs: make(chan message.Message, 100000), done: make(chan error, 1)}
	go func() {
		defer close(p.msgs)
		br := bytecounter.NewReader(io.MultiReader(bytes.NewReader(chunkSizePrefix()), countingReader{c, &p.bytes}))
		r := message.NewReader(br, br, nil)
		first := true
		for {
			m, err := r.Read()
			if err != nil {
				p.done <- err
				return
			}
			if _, ok := m.(*message.SetChunkSize); ok && first {
				first = false
				continue
			}
			p.msgs <- m
		}
	}()
	return p
}

func (p *peer) next(t testing.TB) message.Message {
	t.Helper()
	select {
	case m, ok := <-p.msgs:
		if !ok {
			t.Fatalf("peer stopped reading: %v", <-p.done)
		}
		return m
	case <-time.After(waitTimeout):
		t.Fatal("no message from the sender")
	}
	return nil
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { c.Close(); r.c.Close() })
	return c.(*net.TCPConn), r.c.(*net.TCPConn)
}

// runSender runs s in a goroutine; the returned channel yields Run's result.
func runSender(ctx context.Context, s *Sender, r *relay.Reader) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.Run(ctx, r) }()
	return ch
}

func waitResult(t testing.TB, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("Sender.Run did not return")
	}
	return nil
}

// expectFrame checks that m is the message of frame f.
func expectFrame(t testing.TB, m message.Message, f *relay.Frame) {
	t.Helper()
	if _, ok := m.(*message.DataAMF0); ok {
		t.Fatalf("got metadata, want the frame at %v", f.DTS)
	}
	if v, ok := m.(*message.Video); ok && v.Type == message.VideoTypeConfig {
		t.Fatalf("got a video sequence header, want the frame at %v", f.DTS)
	}
	if a, ok := m.(*message.Audio); ok && a.AACType == message.AudioAACTypeConfig {
		t.Fatalf("got an audio sequence header, want the frame at %v", f.DTS)
	}
	dts, delta, units, key := decodedPayload(t, m)
	if dts != f.DTS.Truncate(ms) || delta != (f.PTS-f.DTS).Truncate(ms) || !equalUnits(units, f.Units) ||
		(key >= 0 && (key == 1) != f.Key) {
		t.Fatalf("got %T dts %v (+%v) key %d, want %s frame dts %v pts %v key %v",
			m, dts, delta, key, f.Track.Codec, f.DTS, f.PTS, f.Key)
	}
}

func expectVideoHeader(t testing.TB, m message.Message, sps []byte) {
	t.Helper()
	v, ok := m.(*message.Video)
	if !ok || v.Type != message.VideoTypeConfig {
		t.Fatalf("got %T, want a video sequence header", m)
	}
	if got := v.AVCConfig.SequenceParameterSets[0].NALUnit; !bytes.Equal(got, sps) {
		t.Fatalf("sequence header carries SPS % x, want % x", got, sps)
	}
}

func expectAudioHeader(t testing.TB, m message.Message) {
	t.Helper()
	if a, ok := m.(*message.Audio); !ok || a.AACType != message.AudioAACTypeConfig {
		t.Fatalf("got %T, want an audio sequence header", m)
	}
}

func expectMetadata(t testing.TB, m message.Message, width float64) {
	t.Helper()
	d, ok := m.(*message.DataAMF0)
	if !ok || len(d.Payload) != 3 || d.Payload[1] != "onMetaData" {
		t.Fatalf("got %#v, want onMetaData", m)
	}
	if w, _ := d.Payload[2].(amf0.Object).GetFloat64("width"); w != width {
		t.Errorf("metadata width %v, want %v", w, width)
	}
}

// TestSender follows a sender over a net.Pipe from its first frame to the end of the stream.
func TestSender(t *testing.T) {
	tp := newTestPub(t, 256, true)
	r := tp.subscribe()
	step := time.Second / 30
	v, a := tp.video, tp.audio

	// Before the first keyframe: audio, which the sender drops so the peer starts on a video
	// keyframe, and a P frame, which the relay already drops for a reader that joined before
	// any keyframe.
	tp.write(a, 0, 0, true, 50)
	tp.write(v, 0, 0, false, 50)
	tp.write(a, 21*ms, 21*ms, true, 50)
	k := tp.write(v, step, step, true, 3000)
	frames := []*relay.Frame{
		k,
		tp.write(a, 42*ms, 42*ms, true, 60),
		tp.write(v, 2*step, 4*step, false, 700), // reordered
		tp.write(a, 64*ms, 64*ms, true, 60),
		tp.write(v, 3*step, 3*step, false, 700),
	}

	c1, c2 := net.Pipe()
	defer c2.Close()
	p := startPeer(c2)
	var wroteBytes, wroteFrames atomic.Int64
	s := &Sender{Conn: NewConn(c1), WriteTimeout: waitTimeout, OnWrite: func(b, f int) {
		wroteBytes.Add(int64(b))
		wroteFrames.Add(int64(f))
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := runSender(ctx, s, r)

	// Every track's sequence header comes before the first frame, stamped with its timestamp:
	// a player joining mid-stream finds both tracks at once.
	expectMetadata(t, p.next(t), 1280)
	expectVideoHeader(t, p.next(t), testutil.SPS720())
	expectAudioHeader(t, p.next(t))
	for _, f := range frames {
		expectFrame(t, p.next(t), f)
	}

	// New parameters mid-stream: a new sequence header right before the first frame using them.
	v360, err := tp.p.SetTrack(h264Track(t, testutil.SPS360()))
	if err != nil {
		t.Fatal(err)
	}
	more := []*relay.Frame{
		tp.write(v360, 4*step, 4*step, true, 2000),
		tp.write(a, 85*ms, 85*ms, true, 60),
		tp.write(v360, 5*step, 5*step, false, 500),
	}
	expectVideoHeader(t, p.next(t), testutil.SPS360())
	for _, f := range more {
		expectFrame(t, p.next(t), f)
	}

	tp.st.Stop()
	if err := waitResult(t, res); !errors.Is(err, relay.ErrEnded) {
		t.Fatalf("Run after the stream ended = %v, want relay.ErrEnded", err)
	}
	c1.Close()
	for m := range p.msgs {
		t.Errorf("unexpected message after the last frame: %T", m)
	}
	if got := uint64(p.bytes.Load()); s.Bytes() != got || uint64(wroteBytes.Load()) != got {
		t.Errorf("Bytes() = %d, OnWrite total %d, peer read %d", s.Bytes(), wroteBytes.Load(), got)
	}
	if s.Frames() != uint64(wroteFrames.Load()) {
		t.Errorf("Frames() = %d, OnWrite total %d", s.Frames(), wroteFrames.Load())
	}
}

// TestSenderFramesCountsWrittenFrames checks Frames against what the peer received when the
// sender drops frames to start on a keyframe.
func TestSenderFramesCountsWrittenFrames(t *testing.T) {
	tp := newTestPub(t, 256, true)
	r := tp.subscribe()
	for i := range 5 {
		tp.write(tp.audio, time.Duration(i)*21*ms, time.Duration(i)*21*ms, true, 50)
	}
	tp.write(tp.video, 100*ms, 100*ms, true, 500)
	tp.write(tp.video, 133*ms, 133*ms, false, 500)

	c1, c2 := net.Pipe()
	defer c2.Close()
	p := startPeer(c2)
	s := &Sender{Conn: NewConn(c1)}
	ctx, cancel := context.WithCancel(context.Background())
	res := runSender(ctx, s, r)
	// Metadata, the sequence header, the keyframe and the P frame.
	for range 4 {
		p.next(t)
	}
	cancel()
	if err := waitResult(t, res); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v, want context.Canceled", err)
	}
	if s.Frames() != 2 {
		// The keyframe and the P frame.
		t.Errorf("Frames() = %d, the peer received 2 frames (the 5 audio frames before the keyframe were dropped)", s.Frames())
	}
}

func TestSenderAudioOnly(t *testing.T) {
	tp := newTestPub(t, 64, false)
	r := tp.subscribe()
	f1 := tp.write(tp.audio, 0, 0, true, 80)
	f2 := tp.write(tp.audio, 21*ms, 21*ms, true, 80)
	c1, c2 := net.Pipe()
	defer c2.Close()
	p := startPeer(c2)
	ctx, cancel := context.WithCancel(context.Background())
	res := runSender(ctx, &Sender{Conn: NewConn(c1)}, r)
	if d, ok := p.next(t).(*message.DataAMF0); !ok {
		t.Fatalf("first message %T, want metadata", d)
	}
	expectAudioHeader(t, p.next(t))
	expectFrame(t, p.next(t), f1)
	expectFrame(t, p.next(t), f2)
	cancel()
	if err := waitResult(t, res); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v, want context.Canceled", err)
	}
}

// TestSenderBatches publishes while the sender runs over TCP: every frame arrives, in order,
// in vectored writes of several frames when several are ready.
func TestSenderBatches(t *testing.T) {
	const n = 3000
	tp := newTestPub(t, 4096, true)
	r := tp.subscribe()
	c1, c2 := tcpPair(t)
	p := startPeer(c2)
	var mu sync.Mutex
	var maxFrames, writes int
	s := &Sender{Conn: NewConn(c1), OnWrite: func(_, f int) {
		mu.Lock()
		maxFrames, writes = max(maxFrames, f), writes+1
		mu.Unlock()
	}}
	step, astep := time.Second/30, 1024*time.Second/48000
	var frames []*relay.Frame
	nv, na := 0, 0
	publish := func(count int) {
		for range count {
			vd, ad := time.Duration(nv)*step, time.Duration(na)*astep
			if vd <= ad {
				frames = append(frames, tp.write(tp.video, vd, vd, nv%30 == 0, 200+nv%500))
				nv++
			} else {
				frames = append(frames, tp.write(tp.audio, ad, ad, true, 100))
				na++
			}
		}
	}
	publish(200) // ready before the sender starts: written in batches
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := runSender(ctx, s, r)
	publish(n - 200) // while the sender runs

	headers := 0
	for i := 0; i < len(frames); {
		m := p.next(t)
		switch m := m.(type) {
		case *message.DataAMF0:
			headers++
			continue
		case *message.Video:
			if m.Type == message.VideoTypeConfig {
				headers++
				continue
			}
		case *message.Audio:
			if m.AACType == message.AudioAACTypeConfig {
				headers++
				continue
			}
		}
		expectFrame(t, m, frames[i])
		i++
	}
	if headers != 3 {
		t.Errorf("%d metadata and sequence header messages, want 3", headers)
	}
	if r.Skipped() != 0 {
		t.Errorf("reader skipped %d frames", r.Skipped())
	}
	cancel()
	if err := waitResult(t, res); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxFrames < 2 || maxFrames > batchMax {
		t.Errorf("largest write carried %d frames, want 2..%d", maxFrames, batchMax)
	}
	if s.Frames() != n {
		t.Errorf("Frames() = %d, want %d", s.Frames(), n)
	}
	t.Logf("%d frames in %d writes, up to %d per write", n, writes, maxFrames)
}

// TestSenderWriteTimeout cuts off a peer that stops reading.
func TestSenderWriteTimeout(t *testing.T) {
	tp := newTestPub(t, 64, true)
	r := tp.subscribe()
	c1, c2 := tcpPair(t)
	// Small socket buffers so that they fill quickly; the peer never reads.
	if err := c1.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	if err := c2.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	// 8 MB of keyframes sharing one payload: far more than the socket buffers hold.
	payload := h264IDR(1 << 20)
	for i := range 8 {
		f := &relay.Frame{Track: tp.video, DTS: time.Duration(i) * 33 * ms, PTS: time.Duration(i) * 33 * ms, Key: true, Units: [][]byte{payload}}
		if err := tp.p.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	s := &Sender{Conn: NewConn(c1), WriteTimeout: 200 * ms}
	err := waitResult(t, runSender(context.Background(), s, r))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Run with a peer that reads nothing = %v, want a write timeout", err)
	}
	if s.Frames() != 0 {
		t.Errorf("Frames() = %d after a failed write, want 0", s.Frames())
	}
}

// BenchmarkSenderWrite measures what one more reader costs: taking frames from the relay and
// writing their prepared bytes to a loopback TCP connection whose other end discards. The
// bytes are prepared before the clock runs, as the first reader of a frame (or any other
// reader) would have done. One op is one frame; allocs/op counts every allocation while the
// clock runs, the relay's wake-ups included.
func BenchmarkSenderWrite(b *testing.B) {
	for _, sz := range []struct{ video, audio int }{{25000, 400}, {1000, 100}} {
		b.Run(fmt.Sprintf("video=%dB,audio=%dB", sz.video, sz.audio), func(b *testing.B) {
			benchmarkSenderWrite(b, sz.video, sz.audio)
		})
	}
}

func benchmarkSenderWrite(b *testing.B, videoSize, audioSize int) {
	// Frames are prepared in rounds, so that memory stays bounded whatever b.N is.
	const round = 512
	tp := newTestPub(b, 2*round, true)
	r := tp.subscribe()
	c1, c2 := tcpPair(b)
	go func() { _, _ = io.Copy(io.Discard, c2) }()

	var written, target atomic.Int64
	progress := make(chan struct{}, 1)
	s := &Sender{Conn: NewConn(c1), WriteTimeout: time.Minute, OnWrite: func(_, frames int) {
		if written.Add(int64(frames)) >= target.Load() {
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	res := runSender(ctx, s, r)
	defer func() {
		cancel()
		<-res
	}()

	var (
		keyUnits   = [][]byte{h264IDR(4 * videoSize)}
		videoUnits = [][]byte{h264Slice(videoSize)}
		audioUnits = [][]byte{nal(0x21, audioSize)}
	)
	step, astep := time.Second/30, 1024*time.Second/48000
	nv, na := 0, 0
	next := func() *relay.Frame {
		vd, ad := time.Duration(nv)*step, time.Duration(na)*astep
		if vd <= ad {
			key := nv%60 == 0
			u := videoUnits
			if key {
				u = keyUnits
			}
			nv++
			return &relay.Frame{Track: tp.video, DTS: vd, PTS: vd, Key: key, Units: u}
		}
		na++
		return &relay.Frame{Track: tp.audio, DTS: ad, PTS: ad, Key: true, Units: audioUnits}
	}
	var total int64
	var mallocs uint64
	var mem runtime.MemStats
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	for sent := 0; sent < b.N; {
		frames := make([]*relay.Frame, min(round, b.N-sent))
		for i := range frames {
			f := next()
			// The timeline starts at 0 and only grows: publishing does not move these
			// timestamps, so bytes prepared now are the bytes of the published frame.
			if _, err := FrameBytes(f); err != nil {
				b.Fatal(err)
			}
			total += int64(f.Size())
			frames[i] = f
		}
		sent += len(frames)
		target.Store(int64(sent))
		runtime.ReadMemStats(&mem)
		mallocs -= mem.Mallocs
		b.StartTimer()
		for _, f := range frames {
			if err := tp.p.WriteFrame(f); err != nil {
				b.Fatal(err)
			}
		}
		for written.Load() < int64(sent) {
			select {
			case <-progress:
			case err := <-res:
				b.Fatalf("sender stopped: %v", err)
			}
		}
		b.StopTimer()
		runtime.ReadMemStats(&mem)
		mallocs += mem.Mallocs
	}
	b.SetBytes(total / int64(b.N))
	if r.Skipped() != 0 {
		b.Fatalf("reader skipped %d frames", r.Skipped())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
	// allocs/op rounds down to an integer; this is the fraction.
	b.ReportMetric(float64(mallocs)/float64(b.N), "allocs/frame")
}
