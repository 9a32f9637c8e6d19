package storetest

import (
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// timeCases: times come back as the instants they were, to the
// microsecond, in every kind of record.
var timeCases = []testCase{
	// Times far apart, in any zone, come back Equal.
	{"InstantsRoundTrip", func(t *testing.T, s queue.Store) {
		west := time.FixedZone("PST", -8*3600)
		for _, tm := range []time.Time{
			time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
			time.Date(1999, 12, 31, 23, 59, 59, 999999000, west),
			time.Date(2026, 3, 29, 1, 30, 0, 1000, zone),
			time.Date(2199, 12, 31, 23, 59, 59, 999999000, time.UTC),
		} {
			t.Run(tm.Format(time.RFC3339Nano), func(t *testing.T) {
				sameTimes(t, s, tm, func(got, want time.Time) bool { return got.Equal(want) })
			})
		}
	}},
	// Fractions finer than a microsecond may be dropped or rounded: what
	// comes back is within a microsecond of what went in.
	{"FinerThanAMicrosecond", func(t *testing.T, s queue.Store) {
		for _, ns := range []int{1, 499, 500, 999, 589793123, 999999999} {
			tm := time.Date(2026, 3, 14, 9, 26, 53, ns, time.UTC)
			t.Run(tm.Format(time.RFC3339Nano), func(t *testing.T) {
				sameTimes(t, s, tm, func(got, want time.Time) bool {
					d := got.Sub(want)
					return d > -time.Microsecond && d < time.Microsecond
				})
			})
		}
	}},
}

// sameTimes writes tm into every kind of record that has a time the
// caller gives, reads each back and fails t unless ok says the time read
// is tm.
func sameTimes(t *testing.T, s queue.Store, tm time.Time, ok func(got, want time.Time) bool) {
	t.Helper()
	ctx := t.Context()
	check := func(what string, got time.Time) {
		t.Helper()
		if !ok(got, tm) {
			t.Errorf("%s: got %s, want %s", what, got.Format(time.RFC3339Nano), tm.Format(time.RFC3339Nano))
		}
	}

	d := newDeploy("web", tm.Format("t150405.000000000"), queue.StateWaiting)
	d.CreatedAt, d.StartedAt, d.FinishedAt = tm, tm, tm
	d.Waiting = &queue.Waiting{Rule: "checks", Reason: "pending", Until: tm}
	e := queue.AuditEntry{Time: tm, User: "alice", Action: "deploy"}
	if err := s.CreateDeploy(ctx, d, e); err != nil {
		t.Fatal(err)
	}
	got, err := s.Deploy(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("Deploy.CreatedAt", got.CreatedAt)
	check("Deploy.StartedAt", got.StartedAt)
	check("Deploy.FinishedAt", got.FinishedAt)
	if got.Waiting == nil {
		t.Fatal("the deploy came back without why it waits")
	}
	check("Deploy.Waiting.Until", got.Waiting.Until)

	if err := s.AppendLog(ctx, []queue.LogLine{{DeployID: d.ID, Seq: 1, Time: tm, Stream: queue.StreamStdout, Text: "x"}}); err != nil {
		t.Fatal(err)
	}
	lines, err := s.Log(ctx, d.ID, 0, 10)
	if err != nil || len(lines) != 1 {
		t.Fatalf("the log: %d lines, %v", len(lines), err)
	}
	check("LogLine.Time", lines[0].Time)

	if err := s.PutLock(ctx, &queue.Lock{Env: d.Env, Owner: "alice", CreatedAt: tm, ExpiresAt: tm}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFreeze(ctx, &queue.Freeze{Env: d.Env, Owner: "alice", CreatedAt: tm, EndsAt: tm}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddApproval(ctx, &queue.Approval{DeployID: d.ID, User: "bob", Approve: true, At: tm}); err != nil {
		t.Fatal(err)
	}
	for _, l := range listLocks(t, s) {
		if l.Env == d.Env {
			check("Lock.CreatedAt", l.CreatedAt)
			check("Lock.ExpiresAt", l.ExpiresAt)
		}
	}
	for _, f := range listFreezes(t, s) {
		if f.Env == d.Env {
			check("Freeze.CreatedAt", f.CreatedAt)
			check("Freeze.EndsAt", f.EndsAt)
		}
	}
	as := listApprovals(t, s, d.ID)
	if len(as) != 1 {
		t.Fatalf("%d approvals, want 1", len(as))
	}
	check("Approval.At", as[0].At)
	es := auditLog(t, s, 1)
	if len(es) != 1 {
		t.Fatalf("%d audit entries, want 1", len(es))
	}
	check("AuditEntry.Time", es[0].Time)

	key := "time:" + d.Env
	outboxAdd(t, s, key, "x")
	for _, it := range outboxDue(t, s, farFuture, 100) {
		if it.Key == key {
			outboxRetry(t, s, it.ID, tm, "502")
		}
	}
	found := false
	for _, it := range outboxDue(t, s, farFuture, 100) {
		if it.Key == key {
			found = true
			check("OutboxItem.NextAt", it.NextAt)
			outboxDone(t, s, it.ID) // or it holds its key, claimed, for the next tm
		}
	}
	if !found {
		t.Fatal("the outbox message is not due")
	}
}
