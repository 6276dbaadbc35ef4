// Package guardtest holds what the ingest servers' tests share to drive guard's limiter: a
// clock they move by hand, so that a block of 10 s ends without waiting 10 s.
package guardtest

import (
	"sync"
	"time"
)

// Clock is a fake clock, safe for concurrent use; its Now goes in guard.Limits.Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at a fixed time.
func NewClock() *Clock {
	return &Clock{now: time.Date(2025, 6, 21, 20, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
