package queue

import (
	"context"
	"strings"
	"testing"
	"time"
)

// gateStore holds every log write until the gate opens.
type gateStore struct {
	Store
	gate chan struct{}
}

func (g gateStore) LastLogSeq(context.Context, int64) (int64, error) { return 0, nil }

func (g gateStore) AppendLog(ctx context.Context, lines []LogLine) error {
	<-g.gate
	return nil
}

// A runner that writes faster than the store takes waits once a few
// megabytes are pending: memory per deploy's log is bounded in bytes,
// however long its lines.
func TestPendingLogIsBoundedInBytes(t *testing.T) {
	st := gateStore{gate: make(chan struct{})}
	h := newLogHub(context.Background(), st, realClock{}, discard, nil)
	l, err := h.acquire(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", maxLineBytes)
	wrote := make(chan int, 1)
	go func() {
		n := 0
		for ; n < 10000; n++ { // 160 MB, if nothing held it back
			l.appendLine(StreamStdout, "", line)
		}
		wrote <- n
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		l.mu.Lock()
		size, waiters := l.size, len(l.pending)
		l.mu.Unlock()
		if size >= maxPendingSize {
			if size > maxPendingSize+maxLineBytes {
				t.Fatalf("%d bytes pending, over the bound of %d", size, maxPendingSize)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d bytes (%d lines) pending after a minute", size, waiters)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case n := <-wrote:
		t.Fatalf("the writer went on past the bound: %d lines", n)
	default:
	}
	close(st.gate) // the store takes them: the writer goes on to the end
	if n := <-wrote; n != 10000 {
		t.Fatalf("%d lines written", n)
	}
	h.release(l)
}

// slowSeq holds the read of where deploy 1's log ends until release is
// closed (failing it with fail, unless nil); other deploys' logs read at
// once.
type slowSeq struct {
	Store
	reading chan struct{} // told once deploy 1's read began
	release chan struct{}
	fail    error
}

func (s *slowSeq) LastLogSeq(_ context.Context, id int64) (int64, error) {
	if id != 1 {
		return 7, nil
	}
	s.reading <- struct{}{}
	<-s.release
	return 3, s.fail
}

// Opening a deploy's log reads the store outside the hub's lock: while
// one read waits, another deploy's log opens, and a second opener of the
// same log waits for that read and shares its outcome.
func TestLogOpensDoNotWaitForEachOther(t *testing.T) {
	for _, fail := range []error{nil, context.DeadlineExceeded} {
		st := &slowSeq{reading: make(chan struct{}, 1), release: make(chan struct{}), fail: fail}
		h := newLogHub(context.Background(), st, realClock{}, discard, nil)
		type opened struct {
			l   *deployLog
			err error
		}
		first, second := make(chan opened, 1), make(chan opened, 1)
		go func() { l, err := h.acquire(context.Background(), 1); first <- opened{l, err} }()
		<-st.reading
		go func() { l, err := h.acquire(context.Background(), 1); second <- opened{l, err} }()
		third := make(chan opened, 1)
		go func() { l, err := h.acquire(context.Background(), 2); third <- opened{l, err} }()
		select { // not behind deploy 1's read
		case o := <-third:
			if o.err != nil || o.l.seq != 7 {
				t.Fatalf("another deploy's log: %+v", o)
			}
			h.release(o.l)
		case <-time.After(time.Minute):
			t.Fatal("waited a minute: another deploy's log waits for deploy 1's read")
		}
		close(st.release)
		a, b := <-first, <-second
		if fail != nil {
			if a.err == nil || b.err == nil {
				t.Fatalf("a failed read: the openers got %v and %v, want its error", a.err, b.err)
			}
			if h.acquireLive(1) != nil {
				t.Fatal("a log whose read failed stays live")
			}
			continue
		}
		if a.err != nil || b.err != nil || a.l != b.l || a.l.seq != 3 {
			t.Fatalf("two openers of one log: %+v, %+v", a, b)
		}
		h.release(a.l)
		h.release(b.l)
	}
}
