package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// onceCases: keys of things done once, recorded by Once or with the
// first write of a context from queue.WithOnce.
var onceCases = append([]testCase{
	// Once reports a key new the first time only; Seen reports it
	// recorded from then on.
	{"OnceThenSeen", func(t *testing.T, s queue.Store) {
		ctx := t.Context()
		wantSeen(t, s, "delivery:1", false)
		for i, want := range []bool{true, false, false} {
			if first, err := s.Once(ctx, "delivery:1"); err != nil || first != want {
				t.Fatalf("Once, call %d: %v, %v; want %v", i+1, first, err, want)
			}
			wantSeen(t, s, "delivery:1", true)
		}
		wantSeen(t, s, "delivery:2", false)
		if first, err := s.Once(ctx, "delivery:2"); err != nil || !first {
			t.Fatalf("Once of another key: %v, %v; want new", first, err)
		}
	}},
	// Many deliveries of one key at once: Once says new to exactly one.
	{"OnceRacing", func(t *testing.T, s queue.Store) {
		const n = 16
		firsts := make([]bool, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				firsts[i], errs[i] = s.Once(t.Context(), "delivery:1")
			})
		}
		close(start)
		wg.Wait()
		news := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if firsts[i] {
				news++
			}
		}
		if news != 1 {
			t.Fatalf("%d of %d callers were told the key is new; want 1", news, n)
		}
	}},
	// The key of a context from WithOnce is recorded with the first write
	// made with it; later writes of the same context go on; a redelivery
	// (a new context with the key) is refused with EDuplicate and writes
	// nothing; Once then reports the key old.
	{"WithOnceRecordsWithTheFirstWrite", func(t *testing.T, s queue.Store) {
		bg := t.Context()
		ctx := queue.WithOnce(bg, "delivery:1")
		d := newDeploy("web", "prod", queue.StateQueued)
		if err := s.CreateDeploy(ctx, d, queue.AuditEntry{Time: t0, User: "alice", Action: "deploy"}); err != nil {
			t.Fatal(err)
		}
		wantSeen(t, s, "delivery:1", true)
		if err := s.SetMeta(ctx, d.ID, "k", "v"); err != nil {
			t.Fatalf("a later write of the same context: %v", err)
		}
		if err := s.AppendLog(ctx, logLines(d.ID, 1, 2)); err != nil {
			t.Fatalf("a later write of the same context: %v", err)
		}
		before := snapshot(t, s)
		again := queue.WithOnce(bg, "delivery:1")
		err := s.CreateDeploy(again, newDeploy("web", "prod", queue.StateQueued), queue.AuditEntry{Time: t0, User: "alice", Action: "deploy"})
		wantCode(t, err, queue.EDuplicate, "a redelivery")
		if after := snapshot(t, s); after != before {
			t.Fatalf("a redelivery changed the store:\nbefore\n%s\nafter\n%s", before, after)
		}
		if first, err := s.Once(bg, "delivery:1"); err != nil || first {
			t.Fatalf("Once of a key recorded with a write: %v, %v; want old", first, err)
		}
	}},
	// A write that fails records nothing: the delivery can be done again,
	// with the same context.
	{"FailedWriteRecordsNothing", func(t *testing.T, s queue.Store) {
		d := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		ctx := queue.WithOnce(t.Context(), "delivery:1")
		stale := *d
		stale.State = queue.StateCanceled
		err := s.UpdateDeploy(ctx, &stale, queue.StateRunning, nil)
		wantCode(t, err, queue.EConflict, "an update from the wrong state")
		wantSeen(t, s, "delivery:1", false)
		ghost := stale
		ghost.ID = d.ID + 1000
		err = s.UpdateDeploy(ctx, &ghost, queue.StateQueued, nil)
		wantCode(t, err, queue.ENotFound, "an update of an unknown deploy")
		wantSeen(t, s, "delivery:1", false)
		if err := s.UpdateDeploy(ctx, &stale, queue.StateQueued, nil); err != nil {
			t.Fatal(err)
		}
		wantSeen(t, s, "delivery:1", true)
	}},
	// Reads with the context record nothing.
	{"ReadsRecordNothing", func(t *testing.T, s queue.Store) {
		d := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		ctx := queue.WithOnce(t.Context(), "delivery:1")
		reads := []func() error{
			func() error { _, err := s.Deploy(ctx, d.ID); return err },
			func() error { _, err := s.Deploys(ctx, queue.DeployFilter{}); return err },
			func() error { _, _, err := s.NextQueued(ctx, "web", "prod"); return err },
			func() error { _, err := s.LastSucceeded(ctx, "web", "prod", 0); return err },
			func() error { _, err := s.Lanes(ctx); return err },
			func() error { _, err := s.Log(ctx, d.ID, 0, 10); return err },
			func() error { _, err := s.LastLogSeq(ctx, d.ID); return err },
			func() error { _, err := s.Locks(ctx); return err },
			func() error { _, err := s.Freezes(ctx); return err },
			func() error { _, err := s.Approvals(ctx, d.ID); return err },
			func() error { _, err := s.Meta(ctx, d.ID, "k"); return err },
			func() error { _, err := s.AuditLog(ctx, 10); return err },
			func() error { _, err := s.OutboxDue(ctx, "", farFuture, 10); return err },
			func() error { _, _, err := s.OutboxNext(ctx, ""); return err },
			func() error { _, err := s.Seen(ctx, "delivery:1"); return err },
			func() error { return s.Health(ctx) },
		}
		for i, read := range reads {
			if err := read(); err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
		}
		wantSeen(t, s, "delivery:1", false)
	}},
	// Deliveries of one key at once, each with its context: exactly one
	// write goes in, the others are refused with EDuplicate.
	{"WithOnceRacing", func(t *testing.T, s queue.Store) {
		const n = 16
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				ctx := queue.WithOnce(t.Context(), "push:web:abc")
				<-start
				errs[i] = s.CreateDeploy(ctx, newDeploy("web", "prod", queue.StateQueued), queue.AuditEntry{Time: t0, User: "github", Action: "deploy"})
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch queue.ErrorCode(err) {
			case "":
				ok++
			case queue.EDuplicate:
			default:
				t.Fatalf("a delivery: %v; want success or EDuplicate", err)
			}
		}
		ds, err := s.Deploys(t.Context(), queue.DeployFilter{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		if ok != 1 || len(ds) != 1 {
			t.Fatalf("%d deliveries succeeded, %d deploys stored; want 1 and 1", ok, len(ds))
		}
	}},
}, onceWriteCases()...)

// onceFixture is what the writes of onceWrites work on.
type onceFixture struct {
	d      *queue.Deploy // queued, in web/prod
	outbox int64         // a message, not due yet
}

// onceWrites are the store's writes, each one that succeeds on a fresh
// onceFixture.
var onceWrites = []struct {
	name  string
	write func(ctx context.Context, s queue.Store, f onceFixture) error
}{
	{"CreateDeploy", func(ctx context.Context, s queue.Store, f onceFixture) error {
		return s.CreateDeploy(ctx, newDeploy("web", "qa", queue.StateQueued), queue.AuditEntry{Time: t0, User: "bob", Action: "deploy"})
	}},
	{"UpdateDeploy", func(ctx context.Context, s queue.Store, f onceFixture) error {
		next := *f.d
		next.State = queue.StateRunning
		return s.UpdateDeploy(ctx, &next, queue.StateQueued, logLines(f.d.ID, 1, 1))
	}},
	{"AppendLog", func(ctx context.Context, s queue.Store, f onceFixture) error {
		return s.AppendLog(ctx, logLines(f.d.ID, 1, 3))
	}},
	{"PutLock", func(ctx context.Context, s queue.Store, f onceFixture) error {
		return s.PutLock(ctx, &queue.Lock{Env: "qa", Owner: "bob", CreatedAt: t0})
	}},
	{"DeleteLock", func(ctx context.Context, s queue.Store, f onceFixture) error {
		return s.DeleteLock(ctx, "prod", "")
	}},
	{"PutFreeze", func(ctx context.Context, s queue.Store, f onceFixture) error {
		return s.PutFreeze(ctx, &queue.Freeze{Env: "qa", Owner: "bob", CreatedAt: t0})
	}},
	{"DeleteFreeze", func(ctx context.Context, s queue.Store, f onceFixture) error {
		return s.DeleteFreeze(ctx, "prod")
	}},
	{"AddApproval", func(ctx context.Context, s queue.Store, f onceFixture) error {
		return s.AddApproval(ctx, &queue.Approval{DeployID: f.d.ID, User: "bob", Approve: true, At: t0})
	}},
	{"SetMeta", func(ctx context.Context, s queue.Store, f onceFixture) error {
		return s.SetMeta(ctx, f.d.ID, "k", "v")
	}},
	{"Audit", func(ctx context.Context, s queue.Store, f onceFixture) error {
		return s.Audit(ctx, queue.AuditEntry{Time: t0, User: "bob", Action: "lock", Target: "qa"})
	}},
	{"OutboxAdd", func(ctx context.Context, s queue.Store, f onceFixture) error {
		return s.OutboxAdd(ctx, "deploy:2", "x")
	}},
	{"OutboxRetry", func(ctx context.Context, s queue.Store, f onceFixture) error {
		return s.OutboxRetry(ctx, f.outbox, farFuture.Add(-time.Hour), "502")
	}},
	{"OutboxDone", func(ctx context.Context, s queue.Store, f onceFixture) error {
		return s.OutboxDone(ctx, f.outbox)
	}},
}

// onceWriteCases: every write honours a context from WithOnce. With a
// key recorded already (by Once: one set of keys), it is refused with
// EDuplicate and changes nothing; with a new key, it goes in and records
// the key.
func onceWriteCases() []testCase {
	var cases []testCase
	for _, w := range onceWrites {
		cases = append(cases, testCase{"WithOnce" + w.name, func(t *testing.T, s queue.Store) {
			ctx := t.Context()
			f := onceFixture{d: create(t, s, newDeploy("web", "prod", queue.StateQueued))}
			putLock(t, s, &queue.Lock{Env: "prod", Owner: "alice", CreatedAt: t0})
			putFreeze(t, s, &queue.Freeze{Env: "prod", Owner: "alice", CreatedAt: t0})
			outboxAdd(t, s, "deploy:1", "a")
			f.outbox = outboxDue(t, s, farFuture, 1)[0].ID
			outboxRetry(t, s, f.outbox, farFuture.Add(-2*time.Hour), "502")

			if first, err := s.Once(ctx, "delivery:1"); err != nil || !first {
				t.Fatalf("Once: %v, %v", first, err)
			}
			before := snapshot(t, s)
			err := w.write(queue.WithOnce(ctx, "delivery:1"), s, f)
			wantCode(t, err, queue.EDuplicate, w.name+" with a key recorded already")
			if after := snapshot(t, s); after != before {
				t.Fatalf("%s refused as a duplicate changed the store:\nbefore\n%s\nafter\n%s", w.name, before, after)
			}

			if err := w.write(queue.WithOnce(ctx, "delivery:2"), s, f); err != nil {
				t.Fatalf("%s with a new key: %v", w.name, err)
			}
			wantSeen(t, s, "delivery:2", true)
			if after := snapshot(t, s); after == before {
				t.Fatalf("%s with a new key changed nothing", w.name)
			}
		}})
	}
	return cases
}

// wantSeen fails t unless Seen says want of key.
func wantSeen(t *testing.T, s queue.Store, key string, want bool) {
	t.Helper()
	if seen, err := s.Seen(t.Context(), key); err != nil || seen != want {
		t.Fatalf("Seen(%q): %v, %v; want %v", key, seen, err, want)
	}
}
