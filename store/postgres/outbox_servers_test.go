package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/pgtest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store/storetest"
)

// The reporters of several servers claiming from one database at once:
// every message goes to exactly one of them, each key's in order, never
// two of one key at a time.
func TestOutboxClaimsAcrossServers(t *testing.T) {
	stores := openAll(t, pgtest.New(t))
	boxes := make([]queue.Outbox, len(stores))
	for i, s := range stores {
		boxes[i] = s
	}
	storetest.ClaimRace(t, boxes...)
}

// A claim in progress on another server (its transaction holds the head
// of a key) is skipped, not waited for: the other keys are handed out at
// once, and nothing of the held key, not even the message behind it.
func TestOutboxClaimSkipsAHeldHead(t *testing.T) {
	dsn := pgtest.New(t)
	s := open(t, dsn)
	for _, m := range [][2]string{{"deploy:1", "a1"}, {"deploy:2", "x"}, {"deploy:1", "a2"}} {
		if err := s.OutboxAdd(t.Context(), m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	_, tx := holdRows(t, dsn, `SELECT id FROM outbox WHERE body = 'a1' FOR UPDATE`)
	defer tx.Rollback(context.Background())

	now := time.Now().Add(time.Hour)
	type result struct {
		due []queue.OutboxItem
		err error
	}
	res := make(chan result, 1)
	go func() {
		due, err := s.OutboxDue(t.Context(), "", now, 10)
		res <- result{due, err}
	}()
	var r result
	select {
	case r = <-res:
	case <-time.After(30 * time.Second):
		t.Fatal("OutboxDue waited 30s for the head another transaction holds")
	}
	if r.err != nil || len(r.due) != 1 || r.due[0].Body != "x" {
		t.Fatalf("due with deploy:1's head held: %+v, %v; want x alone", r.due, r.err)
	}

	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	due, err := s.OutboxDue(t.Context(), "", now, 10)
	if err != nil || len(due) != 1 || due[0].Body != "a1" {
		t.Fatalf("due once the head is free: %+v, %v; want a1 alone", due, err)
	}
}
