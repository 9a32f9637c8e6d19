package postgres_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// Times come back as they went in, to the nanosecond, in UTC, as from
// the SQLite store: a deploy read back is the deploy written.
func TestTimesToTheNanosecond(t *testing.T) {
	s := fresh(t)
	ctx := t.Context()
	zone := time.FixedZone("IST", 5*3600+1800)
	for i, tm := range []time.Time{
		t0,
		time.Date(2026, 3, 14, 9, 26, 53, 999999999, zone),
		time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC),
		time.Date(2199, 12, 31, 23, 59, 59, 999, time.UTC),
	} {
		d := newDeploy("web", "prod")
		d.CreatedAt, d.StartedAt, d.FinishedAt = tm, tm.Add(1), tm.Add(2)
		d.State, d.Waiting = queue.StateWaiting, &queue.Waiting{Rule: "checks", Reason: "pending", Until: tm.Add(3)}
		if err := s.CreateDeploy(ctx, d, queue.AuditEntry{Time: tm.Add(4), User: "alice", Action: "deploy"}); err != nil {
			t.Fatal(err)
		}
		want := *d
		want.CreatedAt, want.StartedAt, want.FinishedAt = tm.UTC(), tm.Add(1).UTC(), tm.Add(2).UTC()
		want.Waiting = &queue.Waiting{Rule: "checks", Reason: "pending", Until: tm.Add(3).UTC()}
		got, err := s.Deploy(ctx, d.ID)
		if err != nil || !reflect.DeepEqual(got, &want) {
			t.Fatalf("time %d: got %+v %+v (%v)\nwant %+v %+v", i, got, got.Waiting, err, &want, want.Waiting)
		}
		if es, err := s.AuditLog(ctx, 1); err != nil || es[0].Time != tm.Add(4).UTC() {
			t.Fatalf("time %d: the audit entry %+v (%v)", i, es, err)
		}
		line := queue.LogLine{DeployID: d.ID, Seq: 1, Time: tm.Add(5), Stream: queue.StreamStdout, Text: "x"}
		if err := s.AppendLog(ctx, []queue.LogLine{line}); err != nil {
			t.Fatal(err)
		}
		line.Time = line.Time.UTC()
		if lines, err := s.Log(ctx, d.ID, 0, 0); err != nil || len(lines) != 1 || lines[0] != line {
			t.Fatalf("time %d: the log %+v (%v)", i, lines, err)
		}
	}
	// the zero time, and the outbox's due time within a microsecond
	d := newDeploy("web", "qa")
	d.CreatedAt = time.Time{}
	if err := s.CreateDeploy(ctx, d, queue.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Deploy(ctx, d.ID); got.StartedAt != (time.Time{}) || got.CreatedAt != d.CreatedAt {
		t.Fatalf("zero times: %+v, created %s", got, d.CreatedAt)
	}
	if es, _ := s.AuditLog(ctx, 1); es[0].Time != (time.Time{}) {
		t.Fatalf("a zero time came back %s", es[0].Time)
	}
	if err := s.OutboxAdd(ctx, "k", "b"); err != nil {
		t.Fatal(err)
	}
	due, _ := s.OutboxDue(ctx, "", time.Now().Add(time.Hour), 1)
	next := t0.Add(500)
	if err := s.OutboxRetry(ctx, due[0].ID, next, "502"); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.OutboxDue(ctx, "", next.Add(-1), 1); len(due) != 0 {
		t.Fatalf("due a nanosecond early: %+v", due)
	}
	if at, ok, err := s.OutboxNext(ctx, ""); !ok || err != nil || at != next {
		t.Fatalf("next: %s %v %v", at, ok, err)
	}
	if due, _ := s.OutboxDue(ctx, "", next, 1); len(due) != 1 || due[0].NextAt != next {
		t.Fatalf("due at its time: %+v", due)
	}
}

// Output is bytes: lines that are not UTF-8, or hold NUL, come back as
// they were. Free text that a text column cannot hold is stored with
// U+FFFD in place of what does not fit, rather than fail the write.
func TestBytes(t *testing.T) {
	s := fresh(t)
	ctx := t.Context()
	d := newDeploy("web", "prod")
	if err := s.CreateDeploy(ctx, d, audit(d)); err != nil {
		t.Fatal(err)
	}
	lines := []queue.LogLine{
		{DeployID: d.ID, Seq: 1, Time: t0, Stream: queue.StreamStdout, Text: "nul \x00 here"},
		{DeployID: d.ID, Seq: 2, Time: t0, Stream: queue.StreamStderr, Host: "h1", Text: "latin-1 caf\xe9 \xff"},
		{DeployID: d.ID, Seq: 3, Time: t0, Stream: queue.StreamSystem, Text: ""},
	}
	end := *d
	end.State, end.Error, end.FinishedAt = queue.StateFailed, "exit \x00 caf\xe9", t0
	if err := s.UpdateDeploy(ctx, &end, queue.StateQueued, lines); err != nil {
		t.Fatal(err)
	}
	got, err := s.Log(ctx, d.ID, 0, 0)
	if err != nil || !reflect.DeepEqual(got, lines) {
		t.Fatalf("the log:\n got %+v (%v)\nwant %+v", got, err, lines)
	}
	if got, err := s.Deploy(ctx, d.ID); err != nil || got.Error != "exit \uFFFD caf\uFFFD" {
		t.Fatalf("the error: %q %v", got.Error, err)
	}
}
