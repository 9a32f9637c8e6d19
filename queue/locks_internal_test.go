package queue

import (
	"context"
	"sync/atomic"
	"testing"
)

// countingLocks counts the reads of the stored locks, and runs during
// (unless nil) inside each.
type countingLocks struct {
	Store
	reads  atomic.Int32
	during func()
}

func (c *countingLocks) Locks(context.Context) ([]*Lock, error) {
	c.reads.Add(1)
	if c.during != nil {
		c.during()
	}
	return nil, nil
}

// When several servers share the store, the locks are read before a
// decision unless the watch hears every change: after its rescan, only
// once per change it heard; after its connection was lost, every time.
func TestSharedLocksAreReadWhenNotHeard(t *testing.T) {
	st := &countingLocks{}
	tb := newLockTable(context.Background(), st, realClock{}, discard, &catalog{})
	tb.shared = true
	ctx := context.Background()
	steps := []struct {
		what  string
		heard func()
		syncs int
		reads int32
	}{
		{"before the watch listens", nil, 2, 2},
		{"once it listens", func() { tb.listen(true) }, 3, 1},
		{"once another server changed a lock", func() { tb.changedElsewhere() }, 3, 1},
		{"once its connection was lost", func() { tb.listen(false) }, 3, 3},
		{"once it listens again", func() { tb.listen(true) }, 3, 1},
	}
	for _, s := range steps {
		if s.heard != nil {
			s.heard()
		}
		before := st.reads.Load()
		for range s.syncs {
			if err := tb.sync(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := st.reads.Load() - before; got != s.reads {
			t.Errorf("%s: %d decisions read the locks %d times, want %d", s.what, s.syncs, got, s.reads)
		}
	}
}

// A change heard while the locks are being read is read again: the read
// in flight may have begun before it was stored.
func TestLockChangeHeardDuringAReadIsReadAgain(t *testing.T) {
	st := &countingLocks{}
	tb := newLockTable(context.Background(), st, realClock{}, discard, &catalog{})
	tb.shared = true
	tb.listen(true)
	st.during = func() { tb.changedElsewhere() }
	if err := tb.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.during = nil
	before := st.reads.Load()
	if err := tb.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.reads.Load() == before {
		t.Fatal("a change heard during a read was taken as read")
	}
}
