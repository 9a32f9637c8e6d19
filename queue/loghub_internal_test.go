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
