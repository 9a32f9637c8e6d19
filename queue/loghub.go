package queue

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
)

const (
	followerBuffer = 2048    // lines a follower may lag before it is dropped
	followerBytes  = 4 << 20 // bytes a follower may lag before it is dropped
	maxPending     = 65536   // lines waiting for the store before writers wait
	maxPendingSize = 8 << 20 // bytes waiting for the store before writers wait
	maxLineBytes   = 16384   // longer lines are split
	flushBatch     = 4096    // lines per store transaction

	// DefaultLogCap is how much output of a deploy is kept when its
	// environment does not say (Environment.LogCap).
	DefaultLogCap = 100 << 20
)

// logHub sequences, persists and fans out the log lines of live deploys.
// A follower that cannot keep up is dropped (it catches up from the store);
// a runner never waits for a follower. When the store cannot be written,
// lines wait and are retried; past maxPending they are counted and the
// count is written when the store comes back, so a runner never waits
// for a full disk either.
type logHub struct {
	ctx   context.Context // for writes: values only, never canceled
	store Store
	clock Clock
	log   *slog.Logger
	mask  *strings.Replacer

	mu   sync.Mutex
	live map[int64]*deployLog
}

type deployLog struct {
	hub  *logHub
	id   int64
	refs int // followers + open writers
	// ready is closed once seq is known (read from the store); loadErr
	// says that read failed. Neither changes after.
	ready   chan struct{}
	loadErr error

	mu        sync.Mutex
	cond      *sync.Cond // pending drained / persisted moved / ended / failing
	seq       int64
	pending   []LogLine
	size      int // bytes of text pending
	persisted int64
	cap       logCap
	flushing  bool
	failing   bool   // the last write failed: lines over maxPending are counted, not kept
	lost      int    // lines not kept while failing
	holder    string // the server whose run writes it, when several share the store
	disowned  bool   // the holder lost the deploy: what it adds goes nowhere
	ending    bool   // end has begun (it runs once)
	ended     bool
	subs      map[*follower]struct{}
	wake      chan struct{}
	done      chan struct{}
}

func newLogHub(ctx context.Context, store Store, clock Clock, log *slog.Logger, secrets []string) *logHub {
	h := &logHub{ctx: context.WithoutCancel(ctx), store: store, clock: clock, log: log, live: map[int64]*deployLog{}}
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
// The store is read (where its log ends) outside the hub's lock: the
// logs of many deploys that start at once load side by side, and those
// who ask for one that is loading wait for it alone.
func (h *logHub) acquire(ctx context.Context, id int64) (*deployLog, error) {
	h.mu.Lock()
	if l := h.live[id]; l != nil {
		l.refs++
		h.mu.Unlock()
		if err := l.loaded(); err != nil {
			return nil, err
		}
		return l, nil
	}
	l := &deployLog{hub: h, id: id, refs: 1, ready: make(chan struct{}),
		subs: map[*follower]struct{}{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	h.live[id] = l
	h.mu.Unlock()
	seq, err := h.store.LastLogSeq(ctx, id)
	if err != nil {
		h.mu.Lock()
		if h.live[id] == l {
			delete(h.live, id)
		}
		h.mu.Unlock()
		l.loadErr = err
		close(l.ready)
		return nil, err
	}
	l.seq, l.persisted = seq, seq
	close(l.ready)
	go l.flusher()
	return l, nil
}

// loaded waits until the log knows where it ends in the store, and says
// whether that read failed (the log is then no one's).
func (l *deployLog) loaded() error {
	<-l.ready
	return l.loadErr
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
	if l != nil && l.loaded() == nil {
		l.end()
	}
}

// line writes one system line to a deploy's log and tries to store it at
// once.
func (h *logHub) line(ctx context.Context, id int64, text string) {
	l, err := h.acquire(ctx, id)
	if err != nil {
		h.log.Error("writing a log line", "id", id, "err", err)
		return
	}
	l.appendLine(StreamSystem, "", text)
	l.flush()
	h.release(l)
}

func (h *logHub) masked(text string) string {
	if h.mask != nil {
		return h.mask.Replace(text)
	}
	return text
}

// appendLine adds one line, masking secrets. Output past the log's cap
// is counted, not kept; system lines are always kept.
func (l *deployLog) appendLine(stream, host, text string) {
	text = l.hub.masked(text)
	l.mu.Lock()
	for l.full() && !l.ended && !l.failing {
		l.cond.Wait()
	}
	if l.ended || l.disowned {
		l.mu.Unlock()
		return
	}
	if l.full() { // and the store is failing
		l.lost++
		l.mu.Unlock()
		return
	}
	if stream != StreamSystem && l.cap.limit > 0 && l.cap.kept+int64(len(text)) > l.cap.limit {
		if !l.cap.over {
			l.cap.over = true
			l.add(StreamSystem, "", fmt.Sprintf("the log reached its cap of %s: further output is counted, not kept", bytesText(l.cap.limit)))
		}
		l.cap.lines++
		l.cap.bytes += int64(len(text))
		l.mu.Unlock()
		return
	}
	if stream != StreamSystem {
		l.cap.kept += int64(len(text))
	}
	l.add(stream, host, text)
	l.mu.Unlock()
	l.poke()
}

// hold makes the log's writes conditional on server holding the deploy
// (see WithHolder).
func (l *deployLog) hold(server string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holder = server
}

// full reports whether writers must wait for the store. Call with l.mu
// held.
func (l *deployLog) full() bool { return len(l.pending) >= maxPending || l.size >= maxPendingSize }

// add sequences a line, queues it for the store and fans it out. Call
// with l.mu held.
func (l *deployLog) add(stream, host, text string) {
	l.seq++
	line := LogLine{DeployID: l.id, Seq: l.seq, Time: l.hub.clock.Now().UTC(), Stream: stream, Host: host, Text: text}
	l.pending = append(l.pending, line)
	l.size += len(text)
	l.fanOut(line)
}

func (l *deployLog) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// flusher writes pending lines to the store in batches; after a failed
// write it waits (backing off) before it tries again.
func (l *deployLog) flusher() {
	failures := 0
	for {
		select {
		case <-l.wake:
		case <-l.done:
			return
		}
		if err := l.flush(); err == nil {
			failures = 0
			continue
		}
		failures++
		again := make(chan struct{})
		t := l.hub.clock.AfterFunc(backoff(failures), func() { close(again) })
		select {
		case <-l.done:
			t.Stop()
			return
		case <-again: // new lines meanwhile wait for it too
			l.poke()
		}
	}
}

// flush writes what is pending, in batches; it stops at the first failed
// write, whose lines stay pending, and returns its error.
func (l *deployLog) flush() error {
	for {
		l.mu.Lock()
		for l.flushing {
			l.cond.Wait()
		}
		if len(l.pending) == 0 {
			l.mu.Unlock()
			return nil
		}
		n := min(len(l.pending), flushBatch)
		batch := l.pending[:n:n]
		l.flushing = true
		ctx := l.hub.ctx
		if l.holder != "" {
			ctx = WithHolder(ctx, Holder{Server: l.holder, Now: l.hub.clock.Now()})
		}
		l.mu.Unlock()

		err := l.hub.store.AppendLog(ctx, batch)
		l.mu.Lock()
		l.flushing = false
		if err != nil && l.holder != "" && ErrorCode(err) == EConflict {
			// This server no longer holds the deploy: what it would add
			// to the log goes nowhere, now and later.
			l.hub.log.Warn("log lines of a deploy this server no longer holds are dropped", "id", l.id, "lines", len(l.pending))
			l.disowned, l.pending, l.size = true, nil, 0
			l.cond.Broadcast()
			l.mu.Unlock()
			return nil
		}
		if err != nil {
			if !l.failing {
				l.hub.log.Error("saving log lines; they wait in memory", "id", l.id, "lines", len(l.pending), "err", err)
			}
			l.failing = true
			l.cond.Broadcast()
			l.mu.Unlock()
			return err
		}
		l.pending = l.pending[n:]
		if len(l.pending) == 0 {
			l.pending = nil
		}
		l.size -= textSize(batch)
		l.persisted = batch[n-1].Seq
		l.recovered()
		l.cond.Broadcast()
		l.mu.Unlock()
	}
}

// recovered clears the failing mark after a write that went through and
// says in the log how many lines could not be kept meanwhile. Call with
// l.mu held.
func (l *deployLog) recovered() {
	if !l.failing {
		return
	}
	l.failing = false
	if l.lost > 0 {
		l.add(StreamSystem, "", fmt.Sprintf("%d lines of output were not kept: the database could not be written", l.lost))
		l.lost = 0
		l.poke()
	}
}

// take hands the pending lines, and a new system line (text, if not "")
// after them, to a caller who stores them with a change of the deploy's
// state and then calls settle. No flush runs in between.
func (l *deployLog) take(text string) (lines []LogLine, fresh bool) {
	text = l.hub.masked(text)
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.flushing {
		l.cond.Wait()
	}
	lines, l.pending, l.size = l.pending, nil, 0
	if text != "" {
		l.seq++
		lines = append(lines, LogLine{DeployID: l.id, Seq: l.seq, Time: l.hub.clock.Now().UTC(), Stream: StreamSystem, Text: text})
	}
	l.flushing = true
	return lines, text != ""
}

// settle ends a take. Stored: the lines are persisted and the new line
// goes to the followers. Not stored: the lines wait again for the
// flusher, and the new line is withdrawn (it said what did not happen).
func (l *deployLog) settle(lines []LogLine, fresh, stored bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushing = false
	defer l.cond.Broadcast()
	if stored {
		if len(lines) > 0 {
			l.persisted = max(l.persisted, lines[len(lines)-1].Seq)
			l.recovered()
		}
		if fresh {
			l.fanOut(lines[len(lines)-1])
		}
		return
	}
	if fresh && l.seq == lines[len(lines)-1].Seq {
		l.seq--
		lines = lines[:len(lines)-1]
	} else if fresh { // lines came after it: keep it rather than leave a hole
		l.fanOut(lines[len(lines)-1])
	}
	l.pending = append(lines[:len(lines):len(lines)], l.pending...)
	l.size += textSize(lines)
	if len(l.pending) > 0 {
		l.poke()
	}
}

func textSize(lines []LogLine) int {
	n := 0
	for _, l := range lines {
		n += len(l.Text)
	}
	return n
}

func (l *deployLog) end() {
	l.mu.Lock()
	if l.ending {
		l.mu.Unlock()
		return
	}
	l.ending = true
	l.mu.Unlock()
	if err := l.flush(); err != nil {
		l.mu.Lock()
		n := len(l.pending) + l.lost
		l.mu.Unlock()
		l.hub.log.Error("log lines lost: the database could not be written", "id", l.id, "lines", n, "err", err)
	}
	l.mu.Lock()
	l.ended = true
	for f := range l.subs {
		f.close(false)
		delete(l.subs, f)
	}
	l.cond.Broadcast()
	l.mu.Unlock()
	close(l.done)
}

// acquireLive takes a ref on the live log of a deploy, nil if it has none.
func (h *logHub) acquireLive(id int64) *deployLog {
	h.mu.Lock()
	l := h.live[id]
	if l != nil {
		l.refs++
	}
	h.mu.Unlock()
	if l == nil || l.loaded() != nil {
		return nil
	}
	return l
}

// fanOut gives a line to every follower; one whose buffer is full (in
// lines or bytes) is dropped: it catches up from the store. Call with
// l.mu held.
func (l *deployLog) fanOut(line LogLine) {
	for f := range l.subs {
		if !f.push(line) {
			f.close(true)
			delete(l.subs, f)
		}
	}
}

func (l *deployLog) subscribe() *follower {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := newFollower(l.seq + 1)
	if l.ended {
		f.close(false)
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
		f.close(false)
	}
}

// waitPersisted blocks until lines up to seq are in the store (or the
// store is failing: the caller reads what is there).
func (l *deployLog) waitPersisted(seq int64) {
	l.mu.Lock()
	for l.persisted < seq && !l.failing && !(l.ended && len(l.pending) == 0) {
		l.cond.Wait()
	}
	l.mu.Unlock()
}

// setCap bounds how much output of the deploy is kept.
func (l *deployLog) setCap(limit int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cap.limit = limit
}

// capSummary says how much output the cap kept out, "" if none.
func (l *deployLog) capSummary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cap.lines == 0 {
		return ""
	}
	return fmt.Sprintf("%d lines (%s) of output were not kept: the log's cap is %s", l.cap.lines, bytesText(l.cap.bytes), bytesText(l.cap.limit))
}
