package queue

import "sync"

// follower is one reader of a live log: lines wait for it in a queue that
// grows with its lag only, up to followerBuffer lines and followerBytes
// bytes; one that lags further is dropped and catches up from the store.
type follower struct {
	start int64         // first seq that reaches it
	wake  chan struct{} // a line or the end came

	mu      sync.Mutex
	lines   []LogLine
	bytes   int
	closed  bool // no more lines come: the log ended, or it was dropped
	dropped bool
}

func newFollower(start int64) *follower {
	return &follower{start: start, wake: make(chan struct{}, 1)}
}

// push gives it a line; false when that would put it past its bounds.
func (f *follower) push(l LogLine) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.lines) >= followerBuffer || f.bytes+len(l.Text) > followerBytes {
		return false
	}
	f.lines = append(f.lines, l)
	f.bytes += len(l.Text)
	f.signal()
	return true
}

// close ends what reaches it; dropped says it fell too far behind.
func (f *follower) close(dropped bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed, f.dropped = true, dropped
	f.signal()
}

func (f *follower) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// take returns the lines that wait, and whether more may come after
// them.
func (f *follower) take() ([]LogLine, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lines := f.lines
	f.lines, f.bytes = nil, 0
	return lines, !f.closed
}

func (f *follower) wasDropped() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropped
}
