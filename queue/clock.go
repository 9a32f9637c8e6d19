package queue

import (
	"context"
	"time"
)

// Clock is the queue's one time: timestamps (started, finished, locks,
// freezes, audit, log lines), timers (lock expiry, timeouts, soaks,
// schedules, waits, retries). The real one unless Options.Clock says
// otherwise, as tests do.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// sleep waits d on the clock, or until ctx ends (then its error).
func sleep(ctx context.Context, c Clock, d time.Duration) error {
	done := make(chan struct{})
	t := c.AfterFunc(d, func() { close(done) })
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is the wait before retry n (from 0) of a write that failed:
// 100ms doubling up to 5s.
func backoff(n int) time.Duration {
	d := 100 * time.Millisecond
	for range min(n, 6) {
		d *= 2
	}
	return min(d, 5*time.Second)
}
