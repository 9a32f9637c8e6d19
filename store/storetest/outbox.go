package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
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
		sameItems(t, "due once a went, x and 3 taken", outboxDue(t, s, after.Add(time.Hour), 10), "deploy:1=b#0")
		sameItems(t, "due once the claims end", outboxDue(t, s, after.Add(time.Hour+claim), 10),
			"deploy:2=x#0", "deploy:1=b#0", `deploy:3={"state":"success","description":"✓"}#0`)
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
		a := outboxDue(t, s, now.Add(time.Hour), 1)[0]
		retry := now.Add(48 * time.Hour).Truncate(time.Microsecond)
		outboxRetry(t, s, a.ID, retry, "502 Bad Gateway")
		x := outboxDue(t, s, now.Add(time.Hour), 10)
		sameItems(t, "due while a waits", x, "deploy:2=x#0")
		outboxDone(t, s, x[0].ID)
		sameItems(t, "due a microsecond before a's time", outboxDue(t, s, retry.Add(-time.Microsecond), 10))
		due := outboxDue(t, s, retry, 10)
		sameItems(t, "due at a's time", due, "deploy:1=a#1")
		if !due[0].NextAt.Equal(retry) {
			t.Fatalf("a is due at %v, want %v", due[0].NextAt, retry)
		}
		outboxRetry(t, s, a.ID, retry.Add(time.Hour), "timeout")
		sameItems(t, "after a second failure", outboxDue(t, s, retry.Add(time.Hour), 10), "deploy:1=a#2")
		outboxDone(t, s, a.ID)
		sameItems(t, "once a went", outboxDue(t, s, retry.Add(time.Hour), 10), "deploy:1=b#0")
	}},
	// Due times compare as times, to the microsecond, within a second
	// too.
	{"DueWithinASecond", func(t *testing.T, s queue.Store) {
		outboxAdd(t, s, "deploy:1", "a")
		a := outboxDue(t, s, farFuture, 1)[0]
		second := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		for _, next := range []time.Time{second, second.Add(500 * time.Millisecond), second.Add(time.Microsecond)} {
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
				outboxRetry(t, s, a.ID, next, "502") // and end the last claim
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
		if next, ok, err := s.OutboxNext(t.Context(), ""); err != nil || ok {
			t.Fatalf("next of an empty outbox: %v, %v, %v; want none", next, ok, err)
		}
		before := time.Now()
		outboxAdd(t, s, "deploy:1", "a")
		after := time.Now()
		next, ok, err := s.OutboxNext(t.Context(), "")
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
		if next, ok, err := s.OutboxNext(t.Context(), ""); err != nil || !ok || next.After(after.Add(time.Hour)) {
			t.Fatalf("next once b can go: %v, %v, %v; want about now", next, ok, err)
		}
		b := outboxDue(t, s, farFuture, 10)
		sameItems(t, "left", b, "deploy:1=b#0")
		outboxDone(t, s, b[0].ID)
		if next, ok, err := s.OutboxNext(t.Context(), ""); err != nil || ok {
			t.Fatalf("next of an emptied outbox: %v, %v, %v; want none", next, ok, err)
		}
	}},
	// What OutboxDue hands out is claimed: nobody gets it again until
	// the claim ends, a minute after the now it was taken at; then it
	// comes again, due since the claim's end, no attempt counted.
	// OutboxNext says the claim's end.
	{"ClaimHoldsUntilItEnds", func(t *testing.T, s queue.Store) {
		outboxAdd(t, s, "deploy:1", "a")
		outboxAdd(t, s, "deploy:2", "x")
		now := time.Now().Add(time.Hour).Truncate(time.Microsecond)
		sameItems(t, "due", outboxDue(t, s, now, 10), "deploy:1=a#0", "deploy:2=x#0")
		sameItems(t, "due again at once", outboxDue(t, s, now, 10))
		wantNext(t, s, "while both are claimed", now.Add(claim))
		sameItems(t, "due a microsecond before the claim ends", outboxDue(t, s, now.Add(claim-time.Microsecond), 10))
		due := outboxDue(t, s, now.Add(claim), 10)
		sameItems(t, "due when the claim ends", due, "deploy:1=a#0", "deploy:2=x#0")
		for _, it := range due {
			if !it.NextAt.Equal(now.Add(claim)) {
				t.Fatalf("%s is due at %v, want the end of its claim, %v", it.Body, it.NextAt, now.Add(claim))
			}
		}
		wantNext(t, s, "once claimed again", now.Add(2*claim))
	}},
	// OutboxRetry ends a claim (at the next try it sets, however soon),
	// and OutboxDone too: the next message of the key comes at once.
	{"RetryAndDoneEndAClaim", func(t *testing.T, s queue.Store) {
		outboxAdd(t, s, "deploy:1", "a")
		outboxAdd(t, s, "deploy:2", "x")
		outboxAdd(t, s, "deploy:1", "b")
		now := time.Now().Add(time.Hour).Truncate(time.Microsecond)
		due := outboxDue(t, s, now, 10)
		sameItems(t, "due", due, "deploy:1=a#0", "deploy:2=x#0")
		a, x := due[0], due[1]
		outboxRetry(t, s, a.ID, now.Add(time.Second), "502")
		sameItems(t, "due at the retry", outboxDue(t, s, now.Add(time.Second), 10), "deploy:1=a#1")
		outboxDone(t, s, a.ID)
		sameItems(t, "due once a went", outboxDue(t, s, now.Add(time.Second), 10), "deploy:1=b#0")
		outboxDone(t, s, x.ID)
		wantNext(t, s, "with b claimed", now.Add(time.Second+claim))
	}},
	// A key whose oldest message is claimed hands out nothing else: its
	// next message waits for the claim to end, however many are asked
	// for; other keys go on.
	{"ClaimedHeadHoldsItsKey", func(t *testing.T, s queue.Store) {
		for _, m := range [][2]string{{"deploy:1", "a1"}, {"deploy:1", "a2"}, {"deploy:2", "x"}, {"deploy:1", "a3"}} {
			outboxAdd(t, s, m[0], m[1])
		}
		now := time.Now().Add(time.Hour).Truncate(time.Microsecond)
		a1 := outboxDue(t, s, now, 1)
		sameItems(t, "the oldest", a1, "deploy:1=a1#0")
		sameItems(t, "due with a1 claimed", outboxDue(t, s, now, 10), "deploy:2=x#0")
		sameItems(t, "due with a1 and x claimed", outboxDue(t, s, now, 10))
		outboxDone(t, s, a1[0].ID)
		sameItems(t, "due once a1 went", outboxDue(t, s, now, 10), "deploy:1=a2#0")
		sameItems(t, "due with a2 claimed", outboxDue(t, s, now.Add(time.Second), 10))
	}},
	// Many claimers at once, each with its own calls, as the reporters of
	// several servers: every message goes to exactly one of them, each
	// key's in order, and never two of one key at a time.
	{"ClaimersAtOnce", func(t *testing.T, s queue.Store) {
		ClaimRace(t, s)
	}},
}

// claim is how long what OutboxDue hands out stays claimed, as
// queue.Store says.
const claim = time.Minute

// ClaimRace adds 200 messages over 20 keys to boxes[0], then has 12
// claimers take them at once, claimer i from boxes[i%len(boxes)] (the
// stores of several servers on one database, or one store), each taking
// a few at a time with OutboxDue and delivering them with OutboxDone. It
// fails t unless every message is handed out exactly once, each key's in
// the order they were added, never two of one key at a time, and the
// outbox ends empty.
func ClaimRace(t *testing.T, boxes ...queue.Outbox) {
	t.Helper()
	const keys, each, claimers = 20, 10, 12
	for j := range each {
		for k := range keys {
			if err := boxes[0].OutboxAdd(t.Context(), fmt.Sprintf("deploy:%d", k), fmt.Sprint(j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	now := time.Now().Add(time.Hour) // one now for all: no claim ends during the race
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	var (
		mu       sync.Mutex
		went     = make(chan struct{}) // closed, and replaced, when a message goes
		taken    = map[int64]int{}     // times each message was handed out
		inFlight = map[string]int64{}  // per key, the message being delivered
		order    = map[string][]string{}
		left     = keys * each
	)
	// take records that a claimer got it; false: it must not have.
	take := func(it queue.OutboxItem) error {
		mu.Lock()
		defer mu.Unlock()
		taken[it.ID]++
		if taken[it.ID] > 1 {
			return fmt.Errorf("message %d (%s=%s) handed out %d times", it.ID, it.Key, it.Body, taken[it.ID])
		}
		if other, ok := inFlight[it.Key]; ok {
			return fmt.Errorf("message %d of %s handed out while %d of it is claimed", it.ID, it.Key, other)
		}
		inFlight[it.Key] = it.ID
		order[it.Key] = append(order[it.Key], it.Body)
		return nil
	}
	// sent ends the delivery of it; its OutboxDone follows.
	sent := func(it queue.OutboxItem) {
		mu.Lock()
		defer mu.Unlock()
		delete(inFlight, it.Key)
	}
	// done counts it gone and wakes the claimers that found nothing.
	done := func() {
		mu.Lock()
		defer mu.Unlock()
		left--
		close(went)
		went = make(chan struct{})
	}
	claimer := func(box queue.Outbox) error {
		for {
			mu.Lock()
			wake, finished := went, left == 0
			mu.Unlock()
			if finished {
				return nil
			}
			due, err := box.OutboxDue(ctx, "", now, 3)
			if err != nil {
				return err
			}
			if len(due) == 0 { // all claimed by others: wait for one to go
				select {
				case <-wake:
				case <-ctx.Done():
					return fmt.Errorf("waited a minute for messages to go: %w", ctx.Err())
				}
				continue
			}
			for _, it := range due {
				if err := take(it); err != nil {
					return err
				}
				sent(it)
				if err := box.OutboxDone(ctx, it.ID); err != nil {
					return err
				}
				done()
			}
		}
	}

	errs := make(chan error, claimers)
	var wg sync.WaitGroup
	for i := range claimers {
		wg.Go(func() {
			if err := claimer(boxes[i%len(boxes)]); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(taken) != keys*each {
		t.Fatalf("%d messages handed out, want %d", len(taken), keys*each)
	}
	want := make([]string, each)
	for j := range want {
		want[j] = fmt.Sprint(j)
	}
	for k, got := range order {
		if !slices.Equal(got, want) {
			t.Fatalf("%s handed out in the order %v, want %v", k, got, want)
		}
	}
	if next, ok, err := boxes[0].OutboxNext(t.Context(), ""); err != nil || ok {
		t.Fatalf("next once all went: %v, %v, %v; want none", next, ok, err)
	}
}

func outboxAdd(t *testing.T, s queue.Store, key, body string) {
	t.Helper()
	if err := s.OutboxAdd(t.Context(), key, body); err != nil {
		t.Fatalf("adding %s: %v", key, err)
	}
}

func outboxDue(t *testing.T, s queue.Store, now time.Time, limit int) []queue.OutboxItem {
	t.Helper()
	due, err := s.OutboxDue(t.Context(), "", now, limit)
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
	next, ok, err := s.OutboxNext(t.Context(), "")
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
