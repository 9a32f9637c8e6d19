package queue

import (
	"errors"
	"fmt"
	"time"
)

// ErrShutdown is the cause of a running deploy's context when deployq
// stops. Runners whose work goes on by itself outside deployq (a rollout
// in a cluster) leave it alone then, rather than undo it.
var ErrShutdown = errors.New("deployq stopped while it ran")

// canceledBy is the cause of a deploy's context when someone cancels it.
type canceledBy struct{ user string }

func (c *canceledBy) Error() string { return "canceled by " + c.user }

// timeoutError is the cause when a timeout ends a deploy.
type timeoutError struct {
	idle bool
	d    time.Duration
}

func (t *timeoutError) Error() string {
	if t.idle {
		return fmt.Sprintf("no output for %s", t.d)
	}
	return fmt.Sprintf("timed out after %s", t.d)
}

// leaseLost is the cause when a server stops a deploy it no longer
// holds: another server ended it, or its lease ended before a renewal
// landed.
type leaseLost struct{ server, why string }

func (l *leaseLost) Error() string { return "server " + l.server + " " + l.why }
