package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// t0 is the suite's base time: whole microseconds, as every time the
// suite writes.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)

// zone is a zone other than UTC: times given in it must come back as the
// same instants.
var zone = time.FixedZone("IST", 5*3600+1800)

// at is t0 moved by d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// sha returns a well-formed full sha for n.
func sha(n int) string { return fmt.Sprintf("%040x", n) }

// newDeploy returns a deploy of app to env in state st, as the queue
// asks for one.
func newDeploy(app, env string, st queue.State) *queue.Deploy {
	return &queue.Deploy{App: app, Env: env, Ref: "main", SHA: sha(1), State: st, User: "alice",
		Source: queue.SourceChat, CreatedAt: t0}
}

// create stores d, with an audit entry, and returns it with its ID and
// Number.
func create(t *testing.T, s queue.Store, d *queue.Deploy) *queue.Deploy {
	t.Helper()
	e := queue.AuditEntry{Time: d.CreatedAt, User: d.User, Action: "deploy"}
	if err := s.CreateDeploy(t.Context(), d, e); err != nil {
		t.Fatalf("creating a deploy of %s to %s: %v", d.App, d.Env, err)
	}
	return d
}

// move stores d in state to, changed by mutate (nil: nothing more), from
// the state d is in, and returns it as stored.
func move(t *testing.T, s queue.Store, d *queue.Deploy, to queue.State, mutate func(*queue.Deploy)) *queue.Deploy {
	t.Helper()
	next := *d
	next.State = to
	if mutate != nil {
		mutate(&next)
	}
	if err := s.UpdateDeploy(t.Context(), &next, d.State, nil); err != nil {
		t.Fatalf("moving #%d from %s to %s: %v", d.ID, d.State, to, err)
	}
	return &next
}

// ended returns a deploy of app to env that ran (unless st is superseded)
// and ended in st at finished.
func ended(t *testing.T, s queue.Store, app, env string, st queue.State, finished time.Time) *queue.Deploy {
	t.Helper()
	return end(t, s, create(t, s, newDeploy(app, env, queue.StateQueued)), st, finished)
}

// end takes a queued deploy to st (running it first unless st is
// superseded), ending it at finished.
func end(t *testing.T, s queue.Store, d *queue.Deploy, st queue.State, finished time.Time) *queue.Deploy {
	t.Helper()
	if st != queue.StateSuperseded {
		d = move(t, s, d, queue.StateRunning, func(d *queue.Deploy) { d.StartedAt = finished.Add(-time.Minute) })
	}
	return move(t, s, d, st, func(d *queue.Deploy) { d.FinishedAt = finished })
}

// running returns a deploy of app to env that runs.
func running(t *testing.T, s queue.Store, app, env string) *queue.Deploy {
	t.Helper()
	d := create(t, s, newDeploy(app, env, queue.StateQueued))
	return move(t, s, d, queue.StateRunning, func(d *queue.Deploy) { d.StartedAt = at(time.Minute) })
}

// wantCode fails t unless err has code.
func wantCode(t *testing.T, err error, code queue.Code, what string) {
	t.Helper()
	if got := queue.ErrorCode(err); got != code {
		t.Fatalf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
}

// utc is t in UTC, without its monotonic reading: instants that are Equal
// become ==, and reflect.DeepEqual, whatever their zones.
func utc(t time.Time) time.Time { return t.UTC() }

// plain is d with its times in UTC, for comparing.
func plain(d *queue.Deploy) *queue.Deploy {
	if d == nil {
		return nil
	}
	c := *d
	c.CreatedAt, c.StartedAt, c.FinishedAt = utc(c.CreatedAt), utc(c.StartedAt), utc(c.FinishedAt)
	if c.Waiting != nil {
		w := *c.Waiting
		w.Until = utc(w.Until)
		c.Waiting = &w
	}
	return &c
}

// show prints a deploy, with why it waits.
func show(d *queue.Deploy) string {
	if d == nil {
		return "<nil>"
	}
	d = plain(d)
	w := "<nil>"
	if d.Waiting != nil {
		w = fmt.Sprintf("%+v", *d.Waiting)
	}
	c := *d
	c.Waiting = nil
	return fmt.Sprintf("%+v Waiting:%s", c, w)
}

// sameDeploy fails t unless got is want, field by field, times as
// instants.
func sameDeploy(t *testing.T, what string, got, want *queue.Deploy) {
	t.Helper()
	if !reflect.DeepEqual(plain(got), plain(want)) {
		t.Fatalf("%s:\n got %s\nwant %s", what, show(got), show(want))
	}
}

// ids are the IDs of ds, in order.
func ids(ds []*queue.Deploy) []int64 {
	out := make([]int64, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// sameIDs fails t unless got are the deploys want, in order.
func sameIDs(t *testing.T, what string, got []*queue.Deploy, want ...*queue.Deploy) {
	t.Helper()
	if g, w := ids(got), ids(want); !slices.Equal(g, w) {
		t.Fatalf("%s: got deploys %v, want %v", what, g, w)
	}
}

// lineText is the text of line i of the suite's logs.
func lineText(i int) string { return fmt.Sprintf("step %d: %08x", i, uint32(i)*2654435761) }

// logLines returns lines from to to (inclusive) of deploy id: stdout,
// text lineText, a millisecond apart.
func logLines(id int64, from, to int) []queue.LogLine {
	var out []queue.LogLine
	for i := from; i <= to; i++ {
		out = append(out, queue.LogLine{DeployID: id, Seq: int64(i), Time: at(time.Duration(i) * time.Millisecond),
			Stream: queue.StreamStdout, Text: lineText(i)})
	}
	return out
}

// appendLog stores lines.
func appendLog(t *testing.T, s queue.Store, lines []queue.LogLine) {
	t.Helper()
	if err := s.AppendLog(t.Context(), lines); err != nil {
		t.Fatalf("appending %d lines: %v", len(lines), err)
	}
}

// readLog returns all of deploy id's log after seq after, read in pages
// of 1000 lines.
func readLog(t *testing.T, s queue.Store, id, after int64) []queue.LogLine {
	t.Helper()
	var out []queue.LogLine
	for {
		page, err := s.Log(t.Context(), id, after, 1000)
		if err != nil {
			t.Fatalf("reading the log of #%d after %d: %v", id, after, err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

// sameLines fails t unless got are want, field by field, times as
// instants.
func sameLines(t *testing.T, what string, got, want []queue.LogLine) {
	t.Helper()
	for i := 0; i < len(got) && i < len(want); i++ {
		g, w := got[i], want[i]
		g.Time, w.Time = utc(g.Time), utc(w.Time)
		if g != w {
			t.Fatalf("%s: line %d of %d:\n got %+v\nwant %+v", what, i, len(want), g, w)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %d lines, want %d", what, len(got), len(want))
	}
}

// textBytes is how many bytes of text lines hold.
func textBytes(lines []queue.LogLine) int64 {
	var n int64
	for _, l := range lines {
		n += int64(len(l.Text))
	}
	return n
}

// snapshot says what a store holds that the suite writes: deploys with
// their logs, approvals and meta key "k", locks, freezes, the audit
// trail and when the outbox's next message comes due. Two equal
// snapshots: nothing changed.
func snapshot(t *testing.T, s queue.Store) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("snapshot: %s: %v", what, err)
		}
	}
	ds, err := s.Deploys(ctx, queue.DeployFilter{Limit: -1})
	check("deploys", err)
	for _, d := range ds {
		fmt.Fprintf(&b, "deploy %s\n", show(d))
		lines, err := s.Log(ctx, d.ID, 0, -1)
		check("log", err)
		for _, l := range lines {
			l.Time = utc(l.Time)
			fmt.Fprintf(&b, "  line %+v\n", l)
		}
		as, err := s.Approvals(ctx, d.ID)
		check("approvals", err)
		for _, a := range as {
			fmt.Fprintf(&b, "  approval %s\n", showApproval(a))
		}
		v, err := s.Meta(ctx, d.ID, "k")
		check("meta", err)
		fmt.Fprintf(&b, "  meta k=%q\n", v)
	}
	locks, err := s.Locks(ctx)
	check("locks", err)
	for _, l := range locks {
		fmt.Fprintf(&b, "lock %s\n", showLock(l))
	}
	fs, err := s.Freezes(ctx)
	check("freezes", err)
	for _, f := range fs {
		fmt.Fprintf(&b, "freeze %s\n", showFreeze(f))
	}
	es, err := s.AuditLog(ctx, 1000)
	check("audit", err)
	for _, e := range es {
		fmt.Fprintf(&b, "audit %s\n", showEntry(e))
	}
	// the outbox by OutboxNext only: OutboxDue claims what it returns
	next, ok, err := s.OutboxNext(ctx, "")
	check("outbox next", err)
	fmt.Fprintf(&b, "outbox next %v %v\n", utc(next), ok)
	return b.String()
}

// sameList fails t unless got are want, in order, as show prints them.
func sameList[T any](t *testing.T, what string, got, want []T, show func(T) string) {
	t.Helper()
	str := func(xs []T) string {
		var b strings.Builder
		for _, x := range xs {
			b.WriteString("\n  " + show(x))
		}
		return b.String()
	}
	if g, w := str(got), str(want); g != w {
		t.Fatalf("%s:\n got%s\nwant%s", what, g, w)
	}
}

// The records' printers, times in UTC: instants that are Equal print
// the same.

func showLock(l *queue.Lock) string {
	c := *l
	c.CreatedAt, c.ExpiresAt = utc(c.CreatedAt), utc(c.ExpiresAt)
	return fmt.Sprintf("%+v", c)
}

func showFreeze(f *queue.Freeze) string {
	c := *f
	c.CreatedAt, c.EndsAt = utc(c.CreatedAt), utc(c.EndsAt)
	return fmt.Sprintf("%+v", c)
}

func showApproval(a *queue.Approval) string {
	c := *a
	c.At = utc(c.At)
	return fmt.Sprintf("%+v", c)
}

func showEntry(e queue.AuditEntry) string {
	e.Time = utc(e.Time)
	return fmt.Sprintf("%+v", e)
}

// farFuture is when every message of the outbox is due.
var farFuture = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
