package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// RTMP message types the readers look at.
const (
	msgSetChunkSize   = 1
	msgAcknowledge    = 3
	msgUserControl    = 4
	msgWindowAckSize  = 5
	msgAudio          = 8
	msgVideo          = 9
	userControlPing   = 6
	userControlPong   = 7
	handshakeReceived = 1 + 1536 + 1536 // C0/S0 + C1/S1 + C2/S2: what either side reads
	headSize          = 48              // body bytes kept per message: enough to find the stamp
	readBufSize       = 64 << 10
)

// stampMagic precedes the publisher's wall-clock stamp in each video NAL unit.
const stampMagic = "BFRT"

// stampOffset is where, in a video NAL unit (NAL header byte included), the magic starts;
// the 8-byte big-endian UnixNano stamp follows it.
const stampOffset = 1

// window is the measurement window, shared by the publisher and every reader: a frame counts
// when the stamp it carries falls in [start, end).
type window struct {
	start, end atomic.Int64
}

func newWindow() *window {
	w := &window{}
	w.start.Store(1<<63 - 1)
	w.end.Store(1<<63 - 1)
	return w
}

func (w *window) contains(stamp int64) bool {
	return stamp >= w.start.Load() && stamp < w.end.Load()
}

// recv is what one reader (player or push sink session) measured. The reader goroutine owns
// every field but bytes and media, which other goroutines read while it runs.
type recv struct {
	bytes atomic.Uint64 // bytes received from the socket
	media atomic.Bool   // a stamped video frame arrived
	// lat holds the latency of each stamped video frame inside the window, in microseconds;
	// preallocated, never grown.
	lat      []int32
	inWindow int    // stamped video frames inside the window
	video    uint64 // video messages
	audio    uint64 // audio messages
	err      error  // why the reader stopped
}

func newRecv(capacity int) *recv {
	return &recv{lat: make([]int32, 0, capacity)}
}

// chunkStream is the parser's state for one RTMP chunk stream id.
type chunkStream struct {
	length    uint32 // current message length
	typ       uint8  // current message type
	extended  bool   // the last header carried an extended timestamp
	remaining uint32 // bytes of the current message still to come
	headLen   int
	head      [headSize]byte
}

// chunkReader reads an RTMP chunk stream from a connection while copying as little as it can:
// it keeps only the first bytes of each message (enough to find the stamp of a video frame
// and to honour SetChunkSize, window acknowledgements and pings) and discards the rest
// straight out of one reusable buffer. No allocation per message or per read.
//
// gortmplib's own Reader allocates and copies every chunk and every message, which for
// hundreds of players at 4 Mbit/s would make the load tool costlier than the server it
// measures.
type chunkReader struct {
	conn      net.Conn
	win       *window
	out       *recv
	buf       []byte
	r, w      int
	chunkSize uint32
	ackWindow uint32
	total     uint64 // bytes received, handshake included (acknowledgement sequence numbers)
	lastAck   uint64
	low       [64]*chunkStream
	high      map[uint32]*chunkStream
	ctl       [18]byte // outgoing control message
}

// newChunkReader returns a reader of conn whose first bytes (already read from the socket by
// gortmplib while it set the session up) are pending; handshake is how many bytes the
// handshake took before them.
func newChunkReader(conn net.Conn, pending []byte, win *window, out *recv) *chunkReader {
	c := &chunkReader{
		conn: conn, win: win, out: out,
		buf:       make([]byte, max(readBufSize, len(pending))),
		chunkSize: 128,
	}
	c.w = copy(c.buf, pending)
	c.total = handshakeReceived + uint64(len(pending))
	return c
}

// fill reads more bytes from the socket, keeping the unread ones.
func (c *chunkReader) fill() error {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	if c.w == len(c.buf) {
		return errors.New("chunk reader: buffer full")
	}
	// Acknowledge what was received, as players do, before waiting for more.
	if c.ackWindow > 0 && c.total-c.lastAck >= uint64(c.ackWindow) {
		c.lastAck = c.total
		if err := c.control(msgAcknowledge, uint32(c.total), nil); err != nil {
			return err
		}
	}
	n, err := c.conn.Read(c.buf[c.w:])
	if n > 0 {
		c.w += n
		c.total += uint64(n)
		c.out.bytes.Add(uint64(n))
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// need makes n bytes available at c.buf[c.r:].
func (c *chunkReader) need(n int) error {
	for c.w-c.r < n {
		if err := c.fill(); err != nil {
			return err
		}
	}
	return nil
}

// skip discards n bytes.
func (c *chunkReader) skip(n int) error {
	for {
		k := min(n, c.w-c.r)
		c.r += k
		n -= k
		if n == 0 {
			return nil
		}
		c.r, c.w = 0, 0
		if err := c.fill(); err != nil {
			return err
		}
	}
}

func (c *chunkReader) stream(id uint32) *chunkStream {
	if id < uint32(len(c.low)) {
		if c.low[id] == nil {
			c.low[id] = &chunkStream{}
		}
		return c.low[id]
	}
	if c.high == nil {
		c.high = map[uint32]*chunkStream{}
	}
	s := c.high[id]
	if s == nil {
		s = &chunkStream{}
		c.high[id] = s
	}
	return s
}

// headerLen is the length of a chunk's message header of each format (0 to 3).
func headerLen(format uint8) int {
	return [4]int{11, 7, 3, 0}[format]
}

// run parses chunks until the connection fails or is closed.
func (c *chunkReader) run() error {
	for {
		if err := c.chunk(); err != nil {
			return err
		}
	}
}

// chunk parses one chunk.
func (c *chunkReader) chunk() error {
	if err := c.need(1); err != nil {
		return err
	}
	b0 := c.buf[c.r]
	c.r++
	format := b0 >> 6
	id := uint32(b0 & 0x3f)
	switch id {
	case 0:
		if err := c.need(1); err != nil {
			return err
		}
		id = 64 + uint32(c.buf[c.r])
		c.r++
	case 1:
		if err := c.need(2); err != nil {
			return err
		}
		id = 64 + uint32(c.buf[c.r]) + uint32(c.buf[c.r+1])<<8
		c.r += 2
	}
	s := c.stream(id)
	hl := headerLen(format)
	if err := c.need(hl); err != nil {
		return err
	}
	h := c.buf[c.r : c.r+hl]
	c.r += hl
	switch format {
	case 0, 1:
		// A header with a length starts a new message.
		s.length = be24(h[3:])
		s.typ = h[6]
		s.remaining = 0
		s.extended = be24(h) == 0xffffff
	case 2:
		s.extended = be24(h) == 0xffffff
	}
	if s.extended {
		if err := c.need(4); err != nil {
			return err
		}
		c.r += 4
	}
	if s.remaining == 0 {
		s.remaining = s.length
		s.headLen = 0
	}
	n := min(s.remaining, c.chunkSize)
	if k := min(int(n), headSize-s.headLen); k > 0 {
		if err := c.need(k); err != nil {
			return err
		}
		s.headLen += copy(s.head[s.headLen:], c.buf[c.r:c.r+k])
	}
	if err := c.skip(int(n)); err != nil {
		return err
	}
	s.remaining -= n
	if s.remaining == 0 {
		return c.message(s)
	}
	return nil
}

// message handles a complete message, of which s.head holds the first bytes.
func (c *chunkReader) message(s *chunkStream) error {
	head := s.head[:s.headLen]
	switch s.typ {
	case msgSetChunkSize:
		if len(head) >= 4 {
			if v := binary.BigEndian.Uint32(head) & 0x7fffffff; v > 0 {
				c.chunkSize = v
			}
		}
	case msgWindowAckSize:
		if len(head) >= 4 {
			c.ackWindow = binary.BigEndian.Uint32(head)
		}
	case msgUserControl:
		if len(head) >= 6 && binary.BigEndian.Uint16(head) == userControlPing {
			return c.control(msgUserControl, userControlPong<<16|uint32(binary.BigEndian.Uint16(head[2:])), head[4:6])
		}
	case msgAudio:
		c.out.audio++
	case msgVideo:
		c.out.video++
		if stamp, ok := findStamp(head); ok {
			c.out.media.Store(true)
			if c.win.contains(stamp) {
				c.out.inWindow++
				if len(c.out.lat) < cap(c.out.lat) {
					us := time.Since(time.Unix(0, stamp)).Microseconds()
					c.out.lat = append(c.out.lat, int32(min(us, 1<<31-1)))
				}
			}
		}
	}
	return nil
}

// findStamp finds the publisher's stamp in the first bytes of an RTMP video message: an
// H.264 access unit (legacy FLV video tag: frame type and codec 7, AVC packet type 1,
// composition time, then length-prefixed NAL units). NAL units too short to hold a stamp
// (an access unit delimiter a server may add) are stepped over.
func findStamp(body []byte) (int64, bool) {
	if len(body) < 5 || body[0]&0x0f != 7 || body[1] != 1 {
		return 0, false
	}
	p := 5
	for p+4 <= len(body) {
		size := int(binary.BigEndian.Uint32(body[p:]))
		nal := body[p+4:]
		if size >= stampOffset+12 && len(nal) >= stampOffset+12 &&
			string(nal[stampOffset:stampOffset+4]) == stampMagic {
			return int64(binary.BigEndian.Uint64(nal[stampOffset+4:])), true
		}
		p += 4 + size
	}
	return 0, false
}

// control writes a small control message on chunk stream 2: a 4-byte value, then extra.
func (c *chunkReader) control(typ uint8, value uint32, extra []byte) error {
	b := c.ctl[:0]
	size := 4 + len(extra)
	b = append(b, 0x02, 0, 0, 0, 0, 0, byte(size), typ, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, value)
	b = append(b, extra...)
	_ = c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("writing control message %d: %w", typ, err)
	}
	return nil
}

func be24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

// recordingConn keeps a copy of every byte read until stopped, so that a chunkReader can take
// over a session gortmplib set up, including what gortmplib's buffered reader read ahead.
type recordingConn struct {
	net.Conn
	recording bool
	log       []byte
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.recording {
		c.log = append(c.log, p[:n]...)
	}
	return n, err
}

// takeOver stops recording and returns what was read after the handshake.
func (c *recordingConn) takeOver() ([]byte, error) {
	c.recording = false
	if len(c.log) < handshakeReceived {
		return nil, fmt.Errorf("session set up with %d bytes, less than a handshake", len(c.log))
	}
	rest := c.log[handshakeReceived:]
	c.log = nil
	return rest, nil
}
