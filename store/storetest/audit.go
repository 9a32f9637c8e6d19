package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// auditCases: the trail of who did what.
var auditCases = []testCase{
	// Entries come back newest first, every field as recorded; limit
	// takes the newest.
	{"NewestFirst", func(t *testing.T, s queue.Store) {
		entries := []queue.AuditEntry{
			{Time: t0.In(zone), User: "alice", Action: "lock", Target: "prod", Detail: "db migration"},
			{Time: at(time.Minute), User: "bob", Action: "steal", Target: "prod", Detail: "from alice — sorry ✋"},
			{Time: at(2 * time.Minute), User: "U024BE7LH", Action: "unlock", Target: "web/prod"},
			{Time: at(3 * time.Minute), User: "alice", Action: "prune", Target: "logs", Detail: "older than 90d: 3 deploys, 4900 lines"},
		}
		for _, e := range entries {
			audit(t, s, e)
		}
		for _, c := range []struct {
			limit int
			want  []queue.AuditEntry
		}{
			{10, []queue.AuditEntry{entries[3], entries[2], entries[1], entries[0]}},
			{4, []queue.AuditEntry{entries[3], entries[2], entries[1], entries[0]}},
			{2, []queue.AuditEntry{entries[3], entries[2]}},
			{1, []queue.AuditEntry{entries[3]}},
		} {
			sameAudit(t, fmt.Sprintf("limit %d", c.limit), auditLog(t, s, c.limit), c.want)
		}
	}},
	// Newest is the last recorded, whatever Time says (entries of one
	// moment, a clock that stepped back).
	{"RecordingOrder", func(t *testing.T, s queue.Store) {
		entries := []queue.AuditEntry{
			{Time: at(time.Minute), User: "alice", Action: "deploy", Target: "#1"},
			{Time: at(time.Minute), User: "bob", Action: "cancel", Target: "#1"},
			{Time: t0, User: "carol", Action: "deploy", Target: "#2"},
		}
		for _, e := range entries {
			audit(t, s, e)
		}
		sameAudit(t, "the trail", auditLog(t, s, 10), []queue.AuditEntry{entries[2], entries[1], entries[0]})
	}},
	// CreateDeploy records its entry with the deploy, its Target "#ID"
	// when empty; a given Target stays. Audit keeps an empty Target.
	{"CreateDeployRecords", func(t *testing.T, s queue.Store) {
		ctx := t.Context()
		audit(t, s, queue.AuditEntry{Time: t0, User: "alice", Action: "note"})
		a := newDeploy("web", "prod", queue.StateQueued)
		ea := queue.AuditEntry{Time: at(time.Minute), User: "alice", Action: "deploy", Detail: "web@main to prod"}
		if err := s.CreateDeploy(ctx, a, ea); err != nil {
			t.Fatal(err)
		}
		b := newDeploy("web", "prod", queue.StateQueued)
		eb := queue.AuditEntry{Time: at(2 * time.Minute), User: "bob", Action: "rollback", Target: "web/prod"}
		if err := s.CreateDeploy(ctx, b, eb); err != nil {
			t.Fatal(err)
		}
		ea.Target = fmt.Sprintf("#%d", a.ID)
		sameAudit(t, "the trail", auditLog(t, s, 10), []queue.AuditEntry{eb, ea, {Time: t0, User: "alice", Action: "note"}})
	}},
}

func audit(t *testing.T, s queue.Store, e queue.AuditEntry) {
	t.Helper()
	if err := s.Audit(t.Context(), e); err != nil {
		t.Fatal(err)
	}
}

func auditLog(t *testing.T, s queue.Store, limit int) []queue.AuditEntry {
	t.Helper()
	es, err := s.AuditLog(t.Context(), limit)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// sameAudit fails t unless got are want, in order, times as instants.
func sameAudit(t *testing.T, what string, got, want []queue.AuditEntry) {
	t.Helper()
	sameList(t, what, got, want, showEntry)
}
