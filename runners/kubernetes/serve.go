package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/deployq/deployq/queue"
)

// Backend is the runner deployq-kubernetes serves: runners/kubernetes/kube's,
// which talks to the cluster.
type Backend interface {
	queue.Runner
	queue.Inspector
	// Probe reaches the cluster of st without changing anything, as
	// Settings.Probe says.
	Probe(ctx context.Context, st *Settings, report func(what string, err error))
}

// Serve answers the one call deployq-kubernetes is started for: it reads
// the request and then the controls from in, hands the request to b, and
// writes b's output and, last, the end to out. When ctx ends (a signal to
// the process), a run ends as when deployq stops: the rollout is left to
// the cluster. So it does when in ends before the call does. An error is
// returned only when the request cannot be read or the end not written.
func Serve(ctx context.Context, in io.Reader, out io.Writer, b Backend) error {
	w := &eventWriter{enc: json.NewEncoder(out)}
	dec := json.NewDecoder(in)
	var req request
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	if req.V != protocolVersion {
		return w.end(end{Error: fmt.Sprintf("deployq-kubernetes speaks protocol %d, deployq %d: install deployq and deployq-kubernetes from one build", protocolVersion, req.V)})
	}
	callCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	defer context.AfterFunc(ctx, func() {
		cancel(fmt.Errorf("deployq-kubernetes was stopped (%v): %w", context.Cause(ctx), queue.ErrShutdown))
	})()
	continues := make(chan struct{}, 1)
	go readControls(dec, cancel, continues)

	var e end
	switch {
	case req.Run != nil && req.Run.Settings != nil:
		job := req.Run.Job
		job.Settings = req.Run.Settings
		res, err := b.Run(callCtx, job, &wireOutput{w: w, continues: continues})
		e = end{OK: res.OK, Message: res.Message}
		if err != nil {
			e.Error = err.Error()
		}
		if err != nil && callCtx.Err() != nil && errors.Is(err, callCtx.Err()) {
			e.Error, e.Canceled = context.Cause(callCtx).Error(), true
		}
	case req.Live != nil && req.Live.Settings != nil:
		env := &queue.Environment{Name: req.Live.Env, Runner: "kubernetes", Settings: req.Live.Settings}
		live, err := b.Live(callCtx, &queue.App{Name: req.Live.App}, env)
		e = end{Live: live}
		if err != nil {
			e.Error = err.Error()
		}
	case req.Probe != nil:
		b.Probe(callCtx, req.Probe, func(what string, err error) {
			r := report{What: what}
			if err != nil {
				r.Error = err.Error()
			}
			w.send(event{Report: &r})
		})
	default:
		e = end{Error: "the request asks for nothing deployq-kubernetes knows"}
	}
	return w.end(e)
}

// readControls reads what deployq writes after the request: a stop ends
// the call's context with its cause, a continue ends a pause. The end of
// in is a shutdown: deployq is gone.
func readControls(dec *json.Decoder, cancel context.CancelCauseFunc, continues chan<- struct{}) {
	for {
		var c control
		if err := dec.Decode(&c); err != nil {
			cancel(queue.ErrShutdown)
			return
		}
		switch {
		case c.Stop != nil && c.Stop.Shutdown:
			cancel(queue.ErrShutdown)
		case c.Stop != nil:
			cancel(errors.New(c.Stop.Why))
		case c.Continue:
			select {
			case continues <- struct{}{}:
			default:
			}
		}
	}
}

// eventWriter writes events, one a line, from any goroutine. Once a
// write failed (deployq is gone) the rest are dropped: the call goes on
// to its end, an undo to its end.
type eventWriter struct {
	mu     sync.Mutex
	enc    *json.Encoder
	err    error
	nextID int
}

func (w *eventWriter) send(e event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.enc.Encode(e)
	}
}

// end writes the end, and says whether everything was written.
func (w *eventWriter) end(e end) error {
	w.send(event{End: &e})
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// wireOutput is the queue.Output of a run in deployq-kubernetes: each
// call becomes an event, for the bridge to make the same call on the
// queue's Output in deployq.
type wireOutput struct {
	w         *eventWriter
	continues <-chan struct{}
}

// Stream implements queue.Output.
func (o *wireOutput) Stream(stream, host string) io.WriteCloser {
	o.w.mu.Lock()
	o.w.nextID++
	id := o.w.nextID
	o.w.mu.Unlock()
	o.w.send(event{Open: &streamOpen{ID: id, Stream: stream, Host: host}})
	return &wireStream{w: o.w, id: id}
}

// Progress implements queue.Output.
func (o *wireOutput) Progress(p queue.Progress) { o.w.send(event{Progress: &p}) }

// Pause implements queue.Output: it waits for deployq's continue.
func (o *wireOutput) Pause(ctx context.Context, reason string) error {
	o.w.send(event{Pause: &reason})
	select {
	case <-o.continues:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxPending is how much of a line without its end a stream keeps before
// it writes it anyway.
const maxPending = 64 << 10

// wireStream is a writer of a run in deployq-kubernetes. It writes whole
// lines, so that no character is cut in two between events; Close writes
// what is left.
type wireStream struct {
	w       *eventWriter
	id      int
	mu      sync.Mutex
	pending []byte
}

func (s *wireStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, p...)
	n := len(s.pending)
	if i := bytes.LastIndexByte(s.pending, '\n'); i >= 0 {
		n = i + 1
	} else if n < maxPending {
		return len(p), nil
	} else {
		n = wholeRunes(s.pending)
	}
	s.w.send(event{Write: &streamWrite{ID: s.id, Text: string(s.pending[:n])}})
	s.pending = append(s.pending[:0], s.pending[n:]...)
	return len(p), nil
}

func (s *wireStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) > 0 {
		s.w.send(event{Write: &streamWrite{ID: s.id, Text: string(s.pending)}})
		s.pending = s.pending[:0]
	}
	s.w.send(event{Close: &streamClose{ID: s.id}})
	return nil
}

// wholeRunes is the length of b without a character cut at its end.
func wholeRunes(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}
