package queue

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	followerBuffer = 8192  // lines a follower may lag before it is dropped
	maxPending     = 65536 // lines waiting for the store before writers wait
	maxLineBytes   = 16384 // longer lines are split
	flushBatch     = 4096  // lines per store transaction
)

// logHub sequences, persists and fans out the log lines of live deploys.
// A follower that cannot keep up is dropped (it catches up from the store);
// a runner never waits for a follower.
type logHub struct {
	store Store
	mask  *strings.Replacer
	mu    sync.Mutex
	live  map[int64]*deployLog
	onErr func(error)
}

type deployLog struct {
	hub  *logHub
	id   int64
	refs int // followers + open writers

	mu        sync.Mutex
	cond      *sync.Cond // pending drained / persisted moved / ended
	seq       int64
	pending   []LogLine
	persisted int64
	flushing  bool
	ending    bool // end has begun (it runs once)
	ended     bool
	subs      map[*follower]struct{}
	wake      chan struct{}
	done      chan struct{}
}

type follower struct {
	c       chan LogLine
	start   int64 // first seq that arrives through c
	dropped bool  // set under deployLog.mu before c is closed
}

func newLogHub(store Store, secrets []string, onErr func(error)) *logHub {
	h := &logHub{store: store, live: map[int64]*deployLog{}, onErr: onErr}
	var pairs []string
	sorted := append([]string(nil), secrets...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, s := range sorted {
		if s != "" {
			pairs = append(pairs, s, "********")
		}
	}
	if len(pairs) > 0 {
		h.mask = strings.NewReplacer(pairs...)
	}
	return h
}

// acquire returns the live log of a deploy, creating it, and takes a ref.
func (h *logHub) acquire(ctx context.Context, id int64) (*deployLog, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if l := h.live[id]; l != nil {
		l.refs++
		return l, nil
	}
	seq, err := h.store.LastLogSeq(ctx, id)
	if err != nil {
		return nil, err
	}
	l := &deployLog{hub: h, id: id, refs: 1, seq: seq, persisted: seq,
		subs: map[*follower]struct{}{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	h.live[id] = l
	go l.flusher()
	return l, nil
}

// release drops a ref; the last one flushes and retires the log.
func (h *logHub) release(l *deployLog) {
	h.mu.Lock()
	l.refs--
	last := l.refs == 0
	if last && h.live[l.id] == l {
		delete(h.live, l.id)
	}
	h.mu.Unlock()
	if last {
		l.end()
	}
}

// end flushes a deploy's log and closes its followers; called when the
// deploy reaches a terminal state.
func (h *logHub) end(id int64) {
	h.mu.Lock()
	l := h.live[id]
	if l != nil {
		delete(h.live, id)
	}
	h.mu.Unlock()
	if l != nil {
		l.end()
	}
}

// appendLine adds one line (masking secrets) and returns its seq.
func (l *deployLog) appendLine(stream, host, text string) {
	if m := l.hub.mask; m != nil {
		text = m.Replace(text)
	}
	l.mu.Lock()
	for len(l.pending) >= maxPending && !l.ended {
		l.cond.Wait()
	}
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.seq++
	line := LogLine{DeployID: l.id, Seq: l.seq, Time: time.Now().UTC(), Stream: stream, Host: host, Text: text}
	l.pending = append(l.pending, line)
	l.fanOut(line)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// flusher writes pending lines to the store in batches.
func (l *deployLog) flusher() {
	for {
		select {
		case <-l.wake:
		case <-l.done:
			l.flush()
			return
		}
		l.flush()
	}
}

func (l *deployLog) flush() {
	for {
		l.mu.Lock()
		for l.flushing {
			l.cond.Wait()
		}
		if len(l.pending) == 0 {
			l.mu.Unlock()
			return
		}
		n := min(len(l.pending), flushBatch)
		batch := l.pending[:n:n]
		l.flushing = true
		l.mu.Unlock()

		err := l.hub.store.AppendLog(context.Background(), batch)
		if err != nil && l.hub.onErr != nil {
			l.hub.onErr(err)
		}
		l.mu.Lock()
		l.pending = l.pending[n:]
		if len(l.pending) == 0 {
			l.pending = nil
		}
		l.persisted = batch[n-1].Seq
		l.flushing = false
		l.cond.Broadcast()
		l.mu.Unlock()
	}
}

// prepare gives a line the next seq without storing or sending it; the
// caller stores it (with a state change), then publishes it. Only for
// deploys no runner writes to.
func (l *deployLog) prepare(stream, text string) LogLine {
	if m := l.hub.mask; m != nil {
		text = m.Replace(text)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	return LogLine{DeployID: l.id, Seq: l.seq, Time: time.Now().UTC(), Stream: stream, Text: text}
}

// publish sends a stored line to the followers.
func (l *deployLog) publish(line LogLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.persisted = max(l.persisted, line.Seq)
	l.fanOut(line)
	l.cond.Broadcast()
}

// fanOut gives a line to every follower; one whose buffer is full is
// dropped (it catches up from the store). Call with l.mu held.
func (l *deployLog) fanOut(line LogLine) {
	for f := range l.subs {
		select {
		case f.c <- line:
		default:
			f.dropped = true
			close(f.c)
			delete(l.subs, f)
		}
	}
}

// takePending hands the pending lines to a caller who stores them itself
// (with the deploy's end state) and then calls stored. No flush runs in
// between.
func (l *deployLog) takePending() []LogLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.flushing {
		l.cond.Wait()
	}
	lines := l.pending
	l.pending = nil
	l.flushing = true
	return lines
}

// stored ends a takePending.
func (l *deployLog) stored(lines []LogLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(lines) > 0 {
		l.persisted = lines[len(lines)-1].Seq
	}
	l.flushing = false
	l.cond.Broadcast()
}

func (l *deployLog) end() {
	l.mu.Lock()
	if l.ending {
		l.mu.Unlock()
		return
	}
	l.ending = true
	l.mu.Unlock()
	l.flush()
	l.mu.Lock()
	l.ended = true
	for f := range l.subs {
		close(f.c)
		delete(l.subs, f)
	}
	l.cond.Broadcast()
	l.mu.Unlock()
	close(l.done)
}

func (l *deployLog) subscribe() *follower {
	f := &follower{c: make(chan LogLine, followerBuffer)}
	l.mu.Lock()
	defer l.mu.Unlock()
	f.start = l.seq + 1
	if l.ended {
		close(f.c)
		return f
	}
	l.subs[f] = struct{}{}
	return f
}

func (l *deployLog) unsubscribe(f *follower) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.subs[f]; ok {
		delete(l.subs, f)
		close(f.c)
	}
}

// waitPersisted blocks until lines up to seq are in the store.
func (l *deployLog) waitPersisted(seq int64) {
	l.mu.Lock()
	for l.persisted < seq && !(l.ended && len(l.pending) == 0) {
		l.cond.Wait()
	}
	l.mu.Unlock()
}

// lineWriter splits a stream into lines for a deployLog.
type lineWriter struct {
	log          *deployLog
	stream, host string
	touch        func()
	mu           sync.Mutex
	buf          []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.touch != nil {
		w.touch()
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			for len(w.buf) >= maxLineBytes {
				w.emit(w.buf[:maxLineBytes])
				w.buf = append(w.buf[:0], w.buf[maxLineBytes:]...)
			}
			break
		}
		if len(w.buf) > 0 {
			w.buf = append(w.buf, p[:i]...)
			w.emit(w.buf)
			w.buf = w.buf[:0]
		} else {
			w.emit(p[:i])
		}
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) emit(b []byte) {
	b = bytes.TrimSuffix(b, []byte{'\r'})
	w.log.appendLine(w.stream, w.host, string(b))
}

// Close writes a partial last line.
func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
	return nil
}
