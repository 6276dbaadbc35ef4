package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// fakeConn reads from a buffer and keeps what is written.
type fakeConn struct {
	net.Conn
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *fakeConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// stampedVideo returns an H.264 video message carrying stamp, with an access unit delimiter
// in front of the stamped NAL unit when aud is set.
func stampedVideo(t *testing.T, stamp int64, size int, dts time.Duration, aud bool) *message.Video {
	nal := make([]byte, size)
	nal[0] = 0x41
	copy(nal[stampOffset:], stampMagic)
	binary.BigEndian.PutUint64(nal[stampOffset+4:], uint64(stamp))
	au := [][]byte{nal}
	if aud {
		au = [][]byte{{0x09, 0xf0}, nal}
	}
	avcc, err := h264.AVCC(au).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return &message.Video{
		ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecH264, Type: message.VideoTypeAU, AU: avcc, DTS: dts,
	}
}

func audioMsg(dts time.Duration) *message.Audio {
	return &message.Audio{
		ChunkStreamID: message.AudioChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecMPEG4Audio, Rate: message.AudioRate44100, Depth: message.AudioDepth16,
		IsStereo: true, AACType: message.AudioAACTypeAU, AU: make([]byte, 400), DTS: dts,
	}
}

// serialize chunks msgs as gortmplib does, starting at the default chunk size of 128.
func serialize(t *testing.T, msgs ...message.Message) []byte {
	var buf bytes.Buffer
	w := message.NewWriter(&buf, bytecounter.NewWriter(io.Discard), false)
	for _, m := range msgs {
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// splitChunks cuts one message serialised alone at chunk size 128 (type 0 header) into chunks.
func splitChunks(b []byte) [][]byte {
	first := min(len(b), 12+128)
	out := [][]byte{b[:first]}
	for b = b[first:]; len(b) > 0; b = b[min(len(b), 129):] {
		out = append(out, b[:min(len(b), 129)])
	}
	return out
}

func parse(t *testing.T, stream []byte, win *window) (*recv, *fakeConn) {
	t.Helper()
	conn := &fakeConn{in: bytes.NewReader(stream)}
	out := newRecv(16)
	cr := newChunkReader(conn, nil, win, out)
	if err := cr.run(); !errors.Is(err, io.EOF) {
		t.Fatalf("run: %v, want EOF", err)
	}
	return out, conn
}

func TestChunkReader(t *testing.T) {
	now := time.Now().UnixNano()
	win := newWindow()
	win.start.Store(now - int64(time.Second))
	win.end.Store(now + int64(time.Second))
	stream := serialize(t,
		&message.SetWindowAckSize{Value: 10000},
		stampedVideo(t, now, 1000, 0, false), // 128-byte chunks
		audioMsg(0),
		&message.UserControlPingRequest{ServerTime: 0x01020304},
		&message.SetChunkSize{Value: 4096},
		stampedVideo(t, now-2*int64(time.Second), 15000, 33*time.Millisecond, false), // outside the window
		stampedVideo(t, now, 15000, 5*time.Hour, true),                               // extended timestamps, AUD first
		audioMsg(5*time.Hour),
	)
	out, conn := parse(t, stream, win)
	if out.video != 3 || out.audio != 2 {
		t.Errorf("video %d audio %d, want 3 and 2", out.video, out.audio)
	}
	if out.inWindow != 2 || len(out.lat) != 2 {
		t.Errorf("in window %d, latencies %d, want 2 and 2", out.inWindow, len(out.lat))
	}
	if got := out.bytes.Load(); got != uint64(len(stream)) {
		t.Errorf("bytes %d, want %d", got, len(stream))
	}
	// The reader answered the ping and acknowledged the window (about 33 KB received).
	w := conn.out.Bytes()
	pong := []byte{0x02, 0, 0, 0, 0, 0, 6, msgUserControl, 0, 0, 0, 0, 0, 7, 1, 2, 3, 4}
	if !bytes.Contains(w, pong) {
		t.Errorf("no ping response in % x", w)
	}
	if !bytes.Contains(w, []byte{0x02, 0, 0, 0, 0, 0, 4, msgAcknowledge}) {
		t.Errorf("no acknowledgement in % x", w)
	}
}

func TestChunkReaderInterleaved(t *testing.T) {
	now := time.Now().UnixNano()
	win := newWindow()
	win.start.Store(now - int64(time.Second))
	win.end.Store(now + int64(time.Second))
	v := splitChunks(serialize(t, stampedVideo(t, now, 700, 0, false)))
	a := splitChunks(serialize(t, audioMsg(0)))
	var stream []byte
	for i := range max(len(v), len(a)) {
		if i < len(v) {
			stream = append(stream, v[i]...)
		}
		if i < len(a) {
			stream = append(stream, a[i]...)
		}
	}
	out, _ := parse(t, stream, win)
	if out.video != 1 || out.audio != 1 || out.inWindow != 1 {
		t.Errorf("video %d audio %d in window %d, want 1, 1, 1", out.video, out.audio, out.inWindow)
	}
}

func TestChunkReaderTakeOver(t *testing.T) {
	// Bytes gortmplib read ahead are parsed first, then the socket.
	now := time.Now().UnixNano()
	win := newWindow()
	win.start.Store(now - int64(time.Second))
	win.end.Store(now + int64(time.Second))
	stream := serialize(t, stampedVideo(t, now, 3000, 0, false), stampedVideo(t, now, 3000, 0, false))
	conn := &fakeConn{in: bytes.NewReader(stream[1000:])}
	out := newRecv(16)
	if err := newChunkReader(conn, stream[:1000], win, out).run(); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if out.inWindow != 2 {
		t.Errorf("in window %d, want 2", out.inWindow)
	}
}

func TestPercentile(t *testing.T) {
	s := make([]int32, 100)
	for i := range s {
		s[i] = int32(i + 1)
	}
	if p := percentile(s, 50); p != 50 {
		t.Errorf("p50 %d", p)
	}
	if p := percentile(s, 99); p != 99 {
		t.Errorf("p99 %d", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Errorf("empty: %d", p)
	}
}

func TestPSize(t *testing.T) {
	// One GOP (2 s) of video and audio makes the bitrate, within a percent.
	p := pSize(4_000_000)
	bytes := idrSize + (gop-1)*p + audioSize*audioRate/audioFrameLen*gop/fps
	if got := bytes * 8 * fps / gop; got < 3_960_000 || got > 4_040_000 {
		t.Errorf("stream of %d bit/s with P frames of %d bytes", got, p)
	}
}
