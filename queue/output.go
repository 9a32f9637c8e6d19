package queue

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// runOutput is the Output a runner writes to: its lines go to the
// deploy's log, its progress to what this process knows of the run.
type runOutput struct {
	d      *Deploy
	log    *deployLog
	runs   *runs
	notify notifiers
	clock  Clock
	last   atomic.Int64 // clock nanoseconds of the last output
	paused atomic.Bool

	mu      sync.Mutex
	writers []*lineWriter
}

func (o *runOutput) touch() { o.last.Store(o.clock.Now().UnixNano()) }

// Stream implements Output.
func (o *runOutput) Stream(stream, host string) io.WriteCloser {
	if stream != StreamStderr {
		stream = StreamStdout
	}
	w := &lineWriter{log: o.log, stream: stream, host: host, touch: o.touch}
	o.mu.Lock()
	o.writers = append(o.writers, w)
	o.mu.Unlock()
	return w
}

// Progress implements Output.
func (o *runOutput) Progress(p Progress) {
	o.touch()
	o.runs.setProgress(o.d.ID, p)
	o.notify.deploy(o.d)
}

// Pause implements Output.
func (o *runOutput) Pause(ctx context.Context, reason string) error {
	var prev Progress
	if p := o.runs.progressOf(o.d.ID); p != nil {
		prev = *p
	}
	ch := o.runs.pause(o.d.ID)
	defer o.runs.unpause(o.d.ID)
	o.paused.Store(true)
	defer func() { o.paused.Store(false); o.touch() }()
	o.log.appendLine(StreamSystem, "", "paused: "+reason+fmt.Sprintf(" (continue #%d to go on)", o.d.ID))
	o.Progress(Progress{Phase: PhasePaused, Done: prev.Done, Total: prev.Total, Message: reason})
	select {
	case user := <-ch:
		o.log.appendLine(StreamSystem, "", "continued by "+user)
		o.Progress(prev)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *runOutput) closeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.writers {
		w.Close()
	}
}

// watch cancels the run when no output came for idle (a pause is not
// silence).
func (o *runOutput) watch(ctx context.Context, idle time.Duration, cancel context.CancelCauseFunc) {
	wait := idle
	for sleep(ctx, o.clock, wait) == nil {
		if o.paused.Load() {
			o.touch()
		}
		since := o.clock.Now().Sub(time.Unix(0, o.last.Load()))
		if since >= idle {
			cancel(&timeoutError{idle: true, d: idle})
			return
		}
		wait = idle - since
	}
}
