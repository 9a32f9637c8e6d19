package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// outboxCases: messages to outside services, delivered in order per key.
var outboxCases = []testCase{
	// A new message is due from when it was added; OutboxDue gives each
	// key's oldest message only, oldest first.
	{"DueInOrderPerKey", func(t *testing.T, s queue.Store) {
		before := time.Now()
		for _, m := range [][2]string{{"deploy:1", "a"}, {"deploy:2", "x"}, {"deploy:1", "b"}, {"deploy:3", `{"state":"success","description":"✓"}`}} {
			outboxAdd(t, s, m[0], m[1])
		}
		after := time.Now()
		if due := outboxDue(t, s, before.Add(-time.Hour), 10); len(due) != 0 {
			t.Fatalf("due an hour before they were added: %s", items(due))
		}
		due := outboxDue(t, s, after.Add(time.Hour), 10)
		sameItems(t, "due", due, "deploy:1=a#0", "deploy:2=x#0", `deploy:3={"state":"success","description":"✓"}#0`)
		for _, it := range due {
			if it.NextAt.Before(before.Add(-time.Hour)) || it.NextAt.After(after.Add(time.Hour)) {
				t.Fatalf("%s is due at %v, not when it was added (%v to %v)", it.Body, it.NextAt, before, after)
			}
		}
		outboxDone(t, s, due[0].ID)
		sameItems(t, "due once a went", outboxDue(t, s, after.Add(time.Hour), 10), "deploy:2=x#0", "deploy:1=b#0", `deploy:3={"state":"success","description":"✓"}#0`)
	}},
	// At most limit messages, the oldest.
	{"Limit", func(t *testing.T, s queue.Store) {
		for i := range 5 {
			outboxAdd(t, s, fmt.Sprintf("k%d", i), fmt.Sprint(i))
		}
		sameItems(t, "due, 3 at most", outboxDue(t, s, farFuture, 3), "k0=0#0", "k1=1#0", "k2=2#0")
	}},
	// A failed message counts its attempt and comes back when it is due
	// again; the messages of its key wait behind it, others go on.
	{"RetryWaits", func(t *testing.T, s queue.Store) {
		outboxAdd(t, s, "deploy:1", "a")
		outboxAdd(t, s, "deploy:2", "x")
		outboxAdd(t, s, "deploy:1", "b")
		now := time.Now()
		a := outboxDue(t, s, now.Add(time.Hour), 10)[0]
		retry := now.Add(48 * time.Hour).Truncate(time.Microsecond)
		outboxRetry(t, s, a.ID, retry, "502 Bad Gateway")
		sameItems(t, "due while a waits", outboxDue(t, s, now.Add(time.Hour), 10), "deploy:2=x#0")
		sameItems(t, "due a microsecond before a's time", outboxDue(t, s, retry.Add(-time.Microsecond), 10), "deploy:2=x#0")
		due := outboxDue(t, s, retry, 10)
		sameItems(t, "due at a's time", due, "deploy:1=a#1", "deploy:2=x#0")
		if !due[0].NextAt.Equal(retry) {
			t.Fatalf("a is due at %v, want %v", due[0].NextAt, retry)
		}
		outboxRetry(t, s, a.ID, retry.Add(time.Hour), "timeout")
		sameItems(t, "after a second failure", outboxDue(t, s, retry.Add(time.Hour), 10), "deploy:1=a#2", "deploy:2=x#0")
		outboxDone(t, s, a.ID)
		sameItems(t, "once a went", outboxDue(t, s, now.Add(time.Hour), 10), "deploy:2=x#0", "deploy:1=b#0")
	}},
	// Due times compare as times, to the microsecond, within a second
	// too.
	{"DueWithinASecond", func(t *testing.T, s queue.Store) {
		outboxAdd(t, s, "deploy:1", "a")
		a := outboxDue(t, s, farFuture, 1)[0]
		second := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		for _, next := range []time.Time{second, second.Add(500 * time.Millisecond), second.Add(time.Microsecond)} {
			outboxRetry(t, s, a.ID, next, "502")
			for _, c := range []struct {
				now  time.Time
				want int
			}{
				{second.Add(-time.Microsecond), 0},
				{next.Add(-time.Microsecond), 0},
				{next, 1},
				{next.Add(time.Microsecond), 1},
				{second.Add(time.Second), 1},
			} {
				if got := outboxDue(t, s, c.now, 10); len(got) != c.want {
					t.Fatalf("a message due at %s, asked at %s: %d due, want %d",
						next.Format(time.RFC3339Nano), c.now.Format(time.RFC3339Nano), len(got), c.want)
				}
			}
		}
	}},
	// OutboxNext says when the first message that can go comes due: a
	// message waiting behind another of its key does not count.
	{"Next", func(t *testing.T, s queue.Store) {
		if next, ok, err := s.OutboxNext(t.Context()); err != nil || ok {
			t.Fatalf("next of an empty outbox: %v, %v, %v; want none", next, ok, err)
		}
		before := time.Now()
		outboxAdd(t, s, "deploy:1", "a")
		after := time.Now()
		next, ok, err := s.OutboxNext(t.Context())
		if err != nil || !ok || next.Before(before.Add(-time.Hour)) || next.After(after.Add(time.Hour)) {
			t.Fatalf("next after adding at %v: %v, %v, %v", before, next, ok, err)
		}
		outboxAdd(t, s, "deploy:2", "x")
		outboxAdd(t, s, "deploy:1", "b") // due now, but behind a
		due := outboxDue(t, s, after.Add(time.Hour), 10)
		a, x := due[0], due[1]
		later, sooner := after.Add(72*time.Hour).Truncate(time.Microsecond), after.Add(48*time.Hour).Truncate(time.Microsecond)
		outboxRetry(t, s, a.ID, later, "502")
		outboxRetry(t, s, x.ID, sooner, "502")
		wantNext(t, s, "with both retried", sooner)
		outboxDone(t, s, x.ID)
		wantNext(t, s, "with b behind a", later)
		outboxDone(t, s, a.ID)
		if next, ok, err := s.OutboxNext(t.Context()); err != nil || !ok || next.After(after.Add(time.Hour)) {
			t.Fatalf("next once b can go: %v, %v, %v; want about now", next, ok, err)
		}
		b := outboxDue(t, s, farFuture, 10)
		sameItems(t, "left", b, "deploy:1=b#0")
		outboxDone(t, s, b[0].ID)
		if next, ok, err := s.OutboxNext(t.Context()); err != nil || ok {
			t.Fatalf("next of an emptied outbox: %v, %v, %v; want none", next, ok, err)
		}
	}},
}

func outboxAdd(t *testing.T, s queue.Store, key, body string) {
	t.Helper()
	if err := s.OutboxAdd(t.Context(), key, body); err != nil {
		t.Fatalf("adding %s: %v", key, err)
	}
}

func outboxDue(t *testing.T, s queue.Store, now time.Time, limit int) []queue.OutboxItem {
	t.Helper()
	due, err := s.OutboxDue(t.Context(), now, limit)
	if err != nil {
		t.Fatal(err)
	}
	return due
}

func outboxRetry(t *testing.T, s queue.Store, id int64, next time.Time, why string) {
	t.Helper()
	if err := s.OutboxRetry(t.Context(), id, next, why); err != nil {
		t.Fatalf("retrying %d: %v", id, err)
	}
}

func outboxDone(t *testing.T, s queue.Store, id int64) {
	t.Helper()
	if err := s.OutboxDone(t.Context(), id); err != nil {
		t.Fatalf("done with %d: %v", id, err)
	}
}

// wantNext fails t unless OutboxNext says want.
func wantNext(t *testing.T, s queue.Store, what string, want time.Time) {
	t.Helper()
	next, ok, err := s.OutboxNext(t.Context())
	if err != nil || !ok || !next.Equal(want) {
		t.Fatalf("next %s: %v, %v, %v; want %v", what, next, ok, err, want)
	}
}

// items says messages as key=body#attempts.
func items(its []queue.OutboxItem) []string {
	var out []string
	for _, it := range its {
		out = append(out, fmt.Sprintf("%s=%s#%d", it.Key, it.Body, it.Attempts))
	}
	return out
}

// sameItems fails t unless got are the messages want (key=body#attempts),
// in order.
func sameItems(t *testing.T, what string, got []queue.OutboxItem, want ...string) {
	t.Helper()
	if g := items(got); fmt.Sprint(g) != fmt.Sprint(want) || len(g) != len(want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, g, want)
	}
}
