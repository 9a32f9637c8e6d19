package queue

import (
	"sync/atomic"
)

// follower is one reader of a live log: lines reach it through c, as
// they are written; one that lags too far is dropped and catches up
// from the store.
type follower struct {
	c       chan LogLine
	lag     atomic.Int64 // bytes sent through c and not read yet
	start   int64        // first seq that arrives through c
	dropped bool         // set under deployLog.mu before c is closed
}

// read counts a line the follower took from c.
func (f *follower) read(l LogLine) { f.lag.Add(-int64(len(l.Text))) }
