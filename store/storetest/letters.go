package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// letterCases: messages a deploy's change owes (queue.WithLetters) go
// into the outbox with the change, or not at all; each deliverer takes
// the keys of its own prefix.
var letterCases = []testCase{
	// Created and moved with letters: they are in the outbox, named after
	// the deploy as stored (its ID known), in order.
	{"WithTheChange", func(t *testing.T, s queue.Store) {
		mail := func(d *queue.Deploy) []queue.Letter {
			return []queue.Letter{{Key: fmt.Sprintf("github:%d", d.ID), Body: string(d.State)},
				{Key: fmt.Sprintf("slack:%d", d.ID), Body: string(d.State)}}
		}
		ctx := queue.WithLetters(t.Context(), mail)
		d := newDeploy("web", "prod", queue.StateQueued)
		if err := s.CreateDeploy(ctx, d, queue.AuditEntry{Time: t0, User: "alice", Action: "deploy"}); err != nil {
			t.Fatal(err)
		}
		next := *d
		next.State, next.StartedAt = queue.StateRunning, at(time.Minute)
		if err := s.UpdateDeploy(ctx, &next, queue.StateQueued, []queue.LogLine{{DeployID: d.ID, Seq: 1, Time: at(time.Minute), Text: "started"}}); err != nil {
			t.Fatal(err)
		}
		gh, sl := fmt.Sprintf("github:%d", d.ID), fmt.Sprintf("slack:%d", d.ID)
		sameItems(t, "due", outboxDue(t, s, farFuture, 10), gh+"=queued#0", sl+"=queued#0")
		sameItems(t, "due once the claims end", outboxDue(t, s, farFuture.Add(claim), 10), gh+"=queued#0", sl+"=queued#0")
	}},
	// A change that does not land (the deploy moved meanwhile) owes
	// nothing; nor does a creation refused.
	{"NotWithoutTheChange", func(t *testing.T, s queue.Store) {
		mail := func(d *queue.Deploy) []queue.Letter {
			return []queue.Letter{{Key: fmt.Sprintf("github:%d", d.ID), Body: string(d.State)}}
		}
		ctx := queue.WithLetters(t.Context(), mail)
		d := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		move(t, s, d, queue.StateCanceled, nil)
		late := *d
		late.State = queue.StateRunning
		wantCode(t, s.UpdateDeploy(ctx, &late, queue.StateQueued, nil), queue.EConflict, "running a canceled deploy")
		running(t, s, "api", "prod")
		second := newDeploy("api", "prod", queue.StateRunning)
		wantCode(t, s.CreateDeploy(ctx, second, queue.AuditEntry{Time: t0, User: "alice", Action: "deploy"}), queue.EConflict, "a second running deploy")
		sameItems(t, "due", outboxDue(t, s, farFuture, 10))
	}},
	// OutboxDue and OutboxNext see only the keys of their prefix.
	{"ByPrefix", func(t *testing.T, s queue.Store) {
		outboxAdd(t, s, "slack:1", "a")
		outboxAdd(t, s, "github:1", "b")
		outboxAdd(t, s, "github_x:1", "c") // not "github:"
		due, err := s.OutboxDue(t.Context(), "github:", farFuture, 10)
		if err != nil {
			t.Fatal(err)
		}
		sameItems(t, "github: due", due, "github:1=b#0")
		if next, ok, err := s.OutboxNext(t.Context(), "github:"); err != nil || !ok || !next.After(farFuture) {
			t.Fatalf("next github: %v, %v, %v; want when its claim ends, after %v", next, ok, err, farFuture)
		}
		next, ok, err := s.OutboxNext(t.Context(), "slack:")
		if err != nil || !ok || next.After(time.Now()) {
			t.Fatalf("next slack: %v, %v, %v; want due now", next, ok, err)
		}
		sameItems(t, "all due", outboxDue(t, s, farFuture, 10), "slack:1=a#0", "github_x:1=c#0")
	}},
}
