package rtmpwire

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beffroi/beffroi/relay"
)

// Conn wraps the network connection of an RTMP session. gortmplib writes its own small
// messages (acknowledgements, ping responses) through Write while a Sender writes media
// through WriteBuffers; the lock keeps each write whole. RTMP allows messages of other chunk
// streams between the messages of a stream, so the interleaving is valid.
type Conn struct {
	net.Conn
	mu          sync.Mutex
	deadline    time.Time // the write deadline in force
	interrupted atomic.Bool
	quickAck    atomic.Bool // see QuickAck
}

// NewConn wraps c.
func NewConn(c net.Conn) *Conn { return &Conn{Conn: c} }

// Write writes p whole.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}

// WriteBuffers writes every buffer with one vectored write where the connection allows it
// (plain TCP). A write that makes no progress for about timeout (between 3/4 of it and all of
// it: the deadline is moved only when a quarter of it is used up, as setting it on every write
// costs more than the write's own bookkeeping) fails, and so does every write after Interrupt.
func (c *Conn) WriteBuffers(b *net.Buffers, timeout time.Duration) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); c.deadline.Sub(now) < timeout-timeout/4 {
		c.deadline = now.Add(timeout)
		if err := c.SetWriteDeadline(c.deadline); err != nil {
			return 0, err
		}
	}
	// Checked after setting the deadline: an Interrupt that this check misses sets its own
	// past deadline after ours.
	if c.interrupted.Load() {
		return 0, ErrInterrupted
	}
	return b.WriteTo(c.Conn)
}

// ErrInterrupted is returned by WriteBuffers after Interrupt.
var ErrInterrupted = errors.New("write interrupted")

// Interrupt makes a write in progress, and the writes after it, fail at once: how a writer
// stuck on a peer that stopped reading is told to stop. Resume undoes it.
func (c *Conn) Interrupt() {
	c.interrupted.Store(true)
	_ = c.SetWriteDeadline(time.Unix(1, 0))
}

// Resume lets writes through again after Interrupt (to say goodbye, with a short timeout).
func (c *Conn) Resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.interrupted.Store(false)
	c.deadline = time.Time{} // the next write sets a fresh one
}

// batchMax bounds how many prepared messages one vectored write carries.
const batchMax = 64

// Sender writes a stream read from a relay.Reader to an RTMP connection whose publish or play
// session is already set up: metadata, sequence headers (again whenever the track parameters
// change), then the prepared bytes of each frame.
type Sender struct {
	// Conn is the session's connection.
	Conn *Conn
	// WriteTimeout bounds every write; a peer that accepts nothing for that long is cut off.
	WriteTimeout time.Duration
	// OnWrite, when set, is told what each write sent.
	OnWrite func(bytes, frames int)
	// Accept, when set, vets every new track before it is sent: an error stops Run (a
	// destination that needs AAC must not be sent a publisher's Opus).
	Accept func(*relay.Track) error

	bytes  atomic.Uint64
	frames atomic.Uint64

	sent    [2]*relay.Track
	started bool
	arr     [batchMax * 2][]byte
	bufs    net.Buffers // reused: a local would escape to the heap on every write
}

// Bytes returns the bytes written so far.
func (s *Sender) Bytes() uint64 { return s.bytes.Load() }

// Frames returns the frames written so far.
func (s *Sender) Frames() uint64 { return s.frames.Load() }

// Run writes until ctx is cancelled, the stream ends (relay.ErrEnded) or a write fails.
func (s *Sender) Run(ctx context.Context, r *relay.Reader) error {
	timeout := s.WriteTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := r.Next(ctx)
		if err != nil {
			return err
		}
		bufs := net.Buffers(s.arr[:0])
		n := 0
		for {
			var sent bool
			bufs, sent, err = s.add(bufs, r.Stream(), f)
			if err != nil {
				return err
			}
			if sent {
				n++
			}
			if len(bufs) >= batchMax {
				break
			}
			var ok bool
			if f, ok = r.TryNext(); !ok {
				break
			}
		}
		if len(bufs) == 0 {
			continue
		}
		s.bufs = bufs
		w, err := s.Conn.WriteBuffers(&s.bufs, timeout)
		s.bytes.Add(uint64(w))
		if err == nil {
			s.frames.Add(uint64(n))
		} else {
			n = 0
		}
		if s.OnWrite != nil {
			s.OnWrite(int(w), n)
		}
		if err != nil {
			return err
		}
	}
}

// add appends what f needs written and reports whether f itself is in: on the first frame the
// metadata and every track's sequence header, afterwards a sequence header whenever a track
// changed, then the frame. Headers carry the frame's timestamp: a player joining mid-stream
// (gortmplib, FFmpeg) looks for the tracks around the first frames' timestamps.
func (s *Sender) add(bufs net.Buffers, st *relay.Stream, f *relay.Frame) (net.Buffers, bool, error) {
	k := f.Track.Kind()
	if !s.started {
		video := st.Track(relay.Video)
		if video != nil && (k != relay.Video || !f.Key) {
			return bufs, false, nil // start on a video keyframe
		}
		var fps float64
		for _, t := range st.Info().Tracks {
			if t.Kind == "video" {
				fps = t.FPS
			}
		}
		audio := st.Track(relay.Audio)
		md, err := Metadata(video, audio, fps)
		if err != nil {
			return bufs, false, err
		}
		if md, err = Restamp(md, f.DTS); err != nil {
			return bufs, false, err
		}
		bufs = append(bufs, md)
		for _, t := range []*relay.Track{video, audio} {
			if t == nil {
				continue
			}
			if s.Accept != nil {
				if err := s.Accept(t); err != nil {
					return bufs, false, err
				}
			}
			if bufs, err = s.header(bufs, t, f.DTS); err != nil {
				return bufs, false, err
			}
		}
		s.started = true
	}
	if s.sent[k] != f.Track {
		var err error
		if s.Accept != nil {
			if err = s.Accept(f.Track); err != nil {
				return bufs, false, err
			}
		}
		if bufs, err = s.header(bufs, f.Track, f.DTS); err != nil {
			return bufs, false, err
		}
	}
	b, err := FrameBytes(f)
	if err != nil {
		return bufs, false, err
	}
	return append(bufs, b), true, nil
}

func (s *Sender) header(bufs net.Buffers, t *relay.Track, ts time.Duration) (net.Buffers, error) {
	h, err := TrackHeader(t)
	if err != nil {
		return bufs, err
	}
	if h != nil {
		if h, err = Restamp(h, ts); err != nil {
			return bufs, err
		}
		bufs = append(bufs, h)
	}
	s.sent[t.Kind()] = t
	return bufs, nil
}
