package runnertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// Line is one line a runner wrote.
type Line struct {
	Stream string // queue.StreamStdout or queue.StreamStderr
	Host   string // "" when the runner has no hosts
	Text   string // without its newline
}

// Recorder is a queue.Output that keeps what a runner reports: its lines,
// split as the queue splits them (a partial last line when its stream is
// closed), its progress and its pauses. It also keeps what a runner does
// wrong with it: a write to a closed stream, anything reported after Run
// returned (see Ended), a stream never closed (see Open).
//
// Tests wait on it with Wait and WaitLine, which wake at each change
// rather than poll.
type Recorder struct {
	mu        sync.Mutex
	changed   chan struct{} // closed, and replaced, at each change
	lines     []Line
	progress  []queue.Progress
	pauses    []string
	open      map[*stream]bool
	misuse    []string
	ended     bool
	continues chan struct{}
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{changed: make(chan struct{}), open: map[*stream]bool{}, continues: make(chan struct{})}
}

var _ queue.Output = (*Recorder)(nil)

// stream is one writer of a stream and host.
type stream struct {
	r            *Recorder
	stream, host string
	buf          []byte // a partial line
	closed       bool
}

// Stream implements queue.Output.
func (r *Recorder) Stream(name, host string) io.WriteCloser {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &stream{r: r, stream: name, host: host}
	r.open[s] = true
	if r.ended {
		r.misuse = append(r.misuse, fmt.Sprintf("stream %s of %q opened after Run returned", name, host))
	}
	return s
}

// Write keeps the complete lines of p.
func (s *stream) Write(p []byte) (int, error) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.closed || r.ended {
		r.misuse = append(r.misuse, fmt.Sprintf("%q written to stream %s of %q %s", p, s.stream, s.host, s.when()))
	}
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		s.add(s.buf[:i])
		s.buf = s.buf[i+1:]
	}
	return len(p), nil
}

// Close keeps a partial last line.
func (s *stream) Close() error {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.closed {
		return nil
	}
	if r.ended {
		r.misuse = append(r.misuse, fmt.Sprintf("stream %s of %q closed after Run returned", s.stream, s.host))
	}
	if len(s.buf) > 0 {
		s.add(s.buf)
		s.buf = nil
	}
	s.closed = true
	delete(r.open, s)
	r.change()
	return nil
}

func (s *stream) when() string {
	if s.closed {
		return "after it was closed"
	}
	return "after Run returned"
}

// add keeps one line; the caller holds the lock.
func (s *stream) add(b []byte) {
	s.r.lines = append(s.r.lines, Line{Stream: s.stream, Host: s.host, Text: string(bytes.TrimSuffix(b, []byte{'\r'}))})
	s.r.change()
}

// change wakes the waiters; the caller holds the lock.
func (r *Recorder) change() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Progress implements queue.Output.
func (r *Recorder) Progress(p queue.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		r.misuse = append(r.misuse, fmt.Sprintf("progress %+v reported after Run returned", p))
	}
	r.progress = append(r.progress, p)
	r.change()
}

// Pause implements queue.Output: it reports the phase paused, then waits
// for Continue or for ctx to end, as the queue does.
func (r *Recorder) Pause(ctx context.Context, reason string) error {
	r.mu.Lock()
	r.pauses = append(r.pauses, reason)
	r.progress = append(r.progress, queue.Progress{Phase: queue.PhasePaused, Message: reason})
	r.change()
	r.mu.Unlock()
	select {
	case <-r.continues:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Continue lets a pause go on, waiting (bounded) until the runner pauses.
func (r *Recorder) Continue(t testing.TB) {
	t.Helper()
	select {
	case r.continues <- struct{}{}:
	case <-time.After(queuetest.Patience):
		t.Fatalf("waited %s: the run never paused; the log:\n%s", queuetest.Patience, r.Text())
	}
}

// Ended marks the run as returned: from now on, anything the runner
// reports is a misuse, and waits for what has not happened give up.
func (r *Recorder) Ended() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = true
	r.change()
}

// Lines returns the lines so far.
func (r *Recorder) Lines() []Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Line(nil), r.lines...)
}

// Text returns the lines so far, one a line, "[host] " before the lines
// of a host: the log as deployq shows it.
func (r *Recorder) Text() string {
	var b strings.Builder
	for _, l := range r.Lines() {
		if l.Host != "" {
			b.WriteString("[" + l.Host + "] ")
		}
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

// Reported returns the progress reported so far.
func (r *Recorder) Reported() []queue.Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]queue.Progress(nil), r.progress...)
}

// Pauses returns the reasons of the pauses so far.
func (r *Recorder) Pauses() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.pauses...)
}

// Open lists the streams not closed yet, as "stdout" or "stderr of host".
func (r *Recorder) Open() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for s := range r.open {
		name := s.stream
		if s.host != "" {
			name += " of " + s.host
		}
		out = append(out, name)
	}
	return out
}

// Misuse lists what the runner did wrong with its output: writes to a
// closed stream, anything after Run returned.
func (r *Recorder) Misuse() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.misuse...)
}

// Wait waits until cond holds, looking again at each change of the
// recorder, and fails the test saying what never happened, with the log,
// when queuetest.Patience runs out or the run ends first.
func (r *Recorder) Wait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(queuetest.Patience)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		changed, ended := r.changed, r.ended
		r.mu.Unlock()
		if cond() {
			return
		}
		if ended {
			t.Fatalf("the run ended before %s; its log:\n%s", what, r.Text())
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("waited %s: %s never happened; the log:\n%s", queuetest.Patience, what, r.Text())
		}
	}
}

// WaitLine waits until n lines contain s (one, when n is omitted).
func (r *Recorder) WaitLine(t testing.TB, s string, n ...int) {
	t.Helper()
	want := 1
	if len(n) > 0 {
		want = n[0]
	}
	r.Wait(t, fmt.Sprintf("%d line(s) with %q", want, s), func() bool {
		got := 0
		for _, l := range r.Lines() {
			if strings.Contains(l.Text, s) {
				got++
			}
		}
		return got >= want
	})
}
