package srt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	gosrt "github.com/datarhei/gosrt"
)

// retryInterval is how long a write waits before offering a packet again to a full queue.
const retryInterval = 5 * time.Millisecond

// errStalled is wrapped by the error of a write that waited for the whole write time-out.
var errStalled = errors.New("destination accepted no data")

// connWriter writes to a gosrt connection one SRT packet at a time. gosrt's Write never
// blocks: when its send queue (1024 packets) is full it returns io.EOF, having queued the
// packets before and dropped the one that did not fit. Writing one packet per call makes a
// failed write a write of nothing, which can be retried; connWriter retries until the
// connection takes the packet, for up to timeout in total.
type connWriter struct {
	conn    gosrt.Conn
	ctx     context.Context // cancelled when the push stops or the connection closes
	timeout time.Duration
	payload int // bytes per SRT packet, a multiple of 188
	n       int // bytes written since the last take
	err     error
}

// Write implements io.Writer.
func (c *connWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), c.payload)]
		if err := c.writePacket(chunk); err != nil {
			c.err = err
			return written, err
		}
		written += len(chunk)
		c.n += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

func (c *connWriter) writePacket(b []byte) error {
	var deadline time.Time
	var timer *time.Timer
	for {
		_, err := c.conn.Write(b)
		if err == nil {
			return nil
		}
		if !errors.Is(err, io.EOF) {
			return err
		}
		if c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(c.timeout)
		} else if now.After(deadline) {
			return fmt.Errorf("%w for %s", errStalled, c.timeout)
		}
		if timer == nil {
			timer = time.NewTimer(retryInterval)
			defer timer.Stop()
		} else {
			timer.Reset(retryInterval)
		}
		select {
		case <-c.ctx.Done():
			return c.ctx.Err()
		case <-timer.C:
		}
	}
}

// take returns the bytes written since the last call.
func (c *connWriter) take() int {
	n := c.n
	c.n = 0
	return n
}

// cause returns the connection's error behind err (which a buffer or a muxer may have
// passed on or wrapped), or err.
func (c *connWriter) cause(err error) error {
	if c.err != nil {
		return c.err
	}
	return err
}
