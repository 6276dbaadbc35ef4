package transcode

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// pipeQueueLimit bounds what a pipeWriter holds for ffmpeg: about 16 s of 4 Mbit/s video.
const pipeQueueLimit = 8 << 20

// errFFmpegStalled: ffmpeg stopped reading one of its inputs for too long.
var errFFmpegStalled = errors.New("ffmpeg stopped reading its input")

// pipeWriter writes to one of ffmpeg's input pipes from a goroutine of its own, queueing up
// to pipeQueueLimit bytes. With two inputs (IVF video, MPEG-TS audio) ffmpeg reads them one
// at a time while it opens them (it probes the second while the first waits): one goroutine
// writing both pipes would block on the full one, and ffmpeg would wait for the other forever.
type pipeWriter struct {
	w      io.WriteCloser
	ch     chan []byte
	queued atomic.Int64
	failed atomic.Pointer[error]
	once   sync.Once
	done   chan struct{}
}

func newPipeWriter(w io.WriteCloser) *pipeWriter {
	p := &pipeWriter{w: w, ch: make(chan []byte, 4096), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *pipeWriter) run() {
	defer close(p.done)
	defer p.w.Close()
	for b := range p.ch {
		if p.failed.Load() == nil {
			if _, err := p.w.Write(b); err != nil {
				p.failed.Store(&err)
			}
		}
		p.queued.Add(-int64(len(b)))
	}
}

// Write queues a copy of b. It fails once a write to the pipe failed, or when the queue is
// full.
func (p *pipeWriter) Write(b []byte) (int, error) {
	if err := p.failed.Load(); err != nil {
		return 0, *err
	}
	if p.queued.Load()+int64(len(b)) > pipeQueueLimit {
		return 0, errFFmpegStalled
	}
	p.queued.Add(int64(len(b)))
	select {
	case p.ch <- append([]byte(nil), b...):
		return len(b), nil
	default:
		p.queued.Add(-int64(len(b)))
		return 0, errFFmpegStalled
	}
}

// Close lets the goroutine write what is queued, then close the pipe. It does not wait: see
// Wait.
func (p *pipeWriter) Close() error {
	p.once.Do(func() { close(p.ch) })
	return nil
}

// Wait returns once the goroutine has returned (after Close, once ffmpeg read everything or
// exited).
func (p *pipeWriter) Wait() { <-p.done }
