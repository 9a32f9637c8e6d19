package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// held returns a deploy of app to env running on server, its lease
// ending at until.
func held(t *testing.T, s queue.Store, app, env, server string, until time.Time) *queue.Deploy {
	t.Helper()
	d := create(t, s, newDeploy(app, env, queue.StateQueued))
	return move(t, s, d, queue.StateRunning, func(d *queue.Deploy) {
		d.StartedAt, d.Server, d.LeaseUntil = t0, server, until
	})
}

// leaseOf reads the stored lease of deploy id.
func leaseOf(t *testing.T, s queue.Store, id int64) time.Time {
	t.Helper()
	d, err := s.Deploy(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d.LeaseUntil
}

// leaseCases: several servers on one store. The server that runs a
// deploy holds a lease on it that it renews; a lease that ended is never
// renewed, and only then may another server end the deploy.
var leaseCases = []testCase{
	// The server and the lease are kept with the deploy.
	{"KeptWithTheDeploy", func(t *testing.T, s queue.Store) {
		d := held(t, s, "web", "prod", "deployq-2", at(15*time.Second))
		got, err := s.Deploy(t.Context(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Server != "deployq-2" || !got.LeaseUntil.Equal(at(15*time.Second)) {
			t.Fatalf("server %q, lease until %v; want deployq-2 until %v", got.Server, got.LeaseUntil, at(15*time.Second))
		}
		ended := move(t, s, got, queue.StateSucceeded, func(d *queue.Deploy) { d.FinishedAt = at(time.Minute) })
		if got, _ := s.Deploy(t.Context(), ended.ID); got.Server != "deployq-2" {
			t.Fatalf("an ended deploy forgot its server: %q", got.Server)
		}
	}},
	// A verifying deploy keeps its server and lease, which renewals move
	// as a running one's.
	{"VerifyingKeepsItsLease", func(t *testing.T, s queue.Store) {
		d := held(t, s, "web", "prod", "a", at(15*time.Second))
		d = move(t, s, d, queue.StateVerifying, func(d *queue.Deploy) { d.Server, d.LeaseUntil = "b", at(time.Hour) })
		if got, _ := s.Deploy(t.Context(), d.ID); got.Server != "a" || !got.LeaseUntil.Equal(at(15*time.Second)) {
			t.Fatalf("verifying: server %q, lease until %v; want a's, until %v", got.Server, got.LeaseUntil, at(15*time.Second))
		}
		ids, err := s.RenewLeases(t.Context(), "a", at(5*time.Second), at(20*time.Second))
		if err != nil || !slices.Equal(ids, []int64{d.ID}) {
			t.Fatalf("renewed %v, %v; want [%d]", ids, err, d.ID)
		}
		if got := leaseOf(t, s, d.ID); !got.Equal(at(20 * time.Second)) {
			t.Fatalf("lease until %v, want %v", got, at(20*time.Second))
		}
	}},
	// A renewal moves the leases of the server's running deploys, and of
	// no other server's, in one call, and says which it moved.
	{"RenewOwnLeases", func(t *testing.T, s queue.Store) {
		a1 := held(t, s, "web", "prod", "a", at(15*time.Second))
		b := held(t, s, "web", "qa", "b", at(15*time.Second))
		a2 := held(t, s, "api", "prod", "a", at(12*time.Second))
		done := held(t, s, "api", "qa", "a", at(15*time.Second))
		move(t, s, done, queue.StateFailed, func(d *queue.Deploy) { d.FinishedAt = at(time.Second) })
		ids, err := s.RenewLeases(t.Context(), "a", at(5*time.Second), at(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		want := []int64{a1.ID, a2.ID}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Fatalf("renewed %v, want %v", ids, want)
		}
		for _, id := range want {
			if got := leaseOf(t, s, id); !got.Equal(at(20 * time.Second)) {
				t.Fatalf("#%d: lease until %v, want %v", id, got, at(20*time.Second))
			}
		}
		if got := leaseOf(t, s, b.ID); !got.Equal(at(15 * time.Second)) {
			t.Fatalf("another server's lease moved: %v", got)
		}
		if ids, err := s.RenewLeases(t.Context(), "nobody", at(5*time.Second), at(20*time.Second)); err != nil || len(ids) != 0 {
			t.Fatalf("a server with nothing running renewed %v (%v)", ids, err)
		}
	}},
	// A lease that ended is never renewed: the server learns it lost the
	// deploy, even though the deploy still shows running.
	{"EndedLeaseNotRenewed", func(t *testing.T, s queue.Store) {
		d := held(t, s, "web", "prod", "a", at(15*time.Second))
		ids, err := s.RenewLeases(t.Context(), "a", at(15*time.Second+time.Microsecond), at(30*time.Second))
		if err != nil || len(ids) != 0 {
			t.Fatalf("an ended lease renewed: %v (%v)", ids, err)
		}
		if got := leaseOf(t, s, d.ID); !got.Equal(at(15 * time.Second)) {
			t.Fatalf("lease until %v, want it unchanged", got)
		}
		// at its very end, it is not over yet
		if ids, err := s.RenewLeases(t.Context(), "a", at(15*time.Second), at(30*time.Second)); err != nil || !slices.Equal(ids, []int64{d.ID}) {
			t.Fatalf("a lease at its end: renewed %v (%v)", ids, err)
		}
	}},
	// Another server may end a deploy only once its lease ended before
	// the time it gives (WithLapsed); a renewal in between wins. The
	// server that holds it ends it without that condition.
	{"LapsedOnlyAfterTheLease", func(t *testing.T, s queue.Store) {
		d := held(t, s, "web", "prod", "a", at(15*time.Second))
		interrupt := func(now time.Time) error {
			next := *d
			next.State, next.FinishedAt, next.Error = queue.StateInterrupted, now, "server a stopped renewing"
			return s.UpdateDeploy(queue.WithLapsed(t.Context(), now), &next, queue.StateRunning, nil)
		}
		if err := interrupt(at(10 * time.Second)); queue.ErrorCode(err) != queue.EConflict {
			t.Fatalf("ended within its lease: %v, want EConflict", err)
		}
		if _, err := s.RenewLeases(t.Context(), "a", at(14*time.Second), at(29*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := interrupt(at(20 * time.Second)); queue.ErrorCode(err) != queue.EConflict {
			t.Fatalf("ended after a renewal, within the new lease: %v, want EConflict", err)
		}
		if got, _ := s.Deploy(t.Context(), d.ID); got.State != queue.StateRunning {
			t.Fatalf("a refused end left it %s", got.State)
		}
		if err := interrupt(at(30 * time.Second)); err != nil {
			t.Fatalf("ended after its lease: %v", err)
		}
		if got, _ := s.Deploy(t.Context(), d.ID); got.State != queue.StateInterrupted {
			t.Fatalf("state %s, want interrupted", got.State)
		}
	}},
	// The holder's own writes do not depend on the lease it read at
	// start, and never move it back: an update in place keeps the
	// renewed lease, and the end too.
	{"HolderWritesKeepTheLease", func(t *testing.T, s queue.Store) {
		d := held(t, s, "web", "prod", "a", at(15*time.Second))
		if _, err := s.RenewLeases(t.Context(), "a", at(5*time.Second), at(20*time.Second)); err != nil {
			t.Fatal(err)
		}
		d = move(t, s, d, queue.StateRunning, func(d *queue.Deploy) { d.GitHubDeploymentID, d.Server = 42, "b" })
		if got, _ := s.Deploy(t.Context(), d.ID); !got.LeaseUntil.Equal(at(20*time.Second)) || got.Server != "a" || got.GitHubDeploymentID != 42 {
			t.Fatalf("after an update in place: lease until %v, server %q, github id %d", got.LeaseUntil, got.Server, got.GitHubDeploymentID)
		}
		move(t, s, d, queue.StateSucceeded, func(d *queue.Deploy) { d.FinishedAt = at(18 * time.Second) })
		if got, _ := s.Deploy(t.Context(), d.ID); !got.LeaseUntil.Equal(at(20*time.Second)) || got.Server != "a" {
			t.Fatalf("after its end: lease until %v, server %q", got.LeaseUntil, got.Server)
		}
	}},
	// Lines written for the server that holds a deploy are kept only
	// while it holds it: another server's, and any after its end, are
	// refused whole.
	{"LinesOnlyFromTheHolder", func(t *testing.T, s queue.Store) {
		d := held(t, s, "web", "prod", "a", at(15*time.Second))
		line := func(seq int64) []queue.LogLine {
			return []queue.LogLine{{DeployID: d.ID, Seq: seq, Time: at(time.Second), Stream: queue.StreamStdout, Text: "step"}}
		}
		if err := s.AppendLog(queue.WithHolder(t.Context(), queue.Holder{Server: "a", Now: at(time.Second)}), line(1)); err != nil {
			t.Fatalf("the holder's line: %v", err)
		}
		if err := s.AppendLog(queue.WithHolder(t.Context(), queue.Holder{Server: "b", Now: at(time.Second)}), line(2)); queue.ErrorCode(err) != queue.EConflict {
			t.Fatalf("another server's line: %v, want EConflict", err)
		}
		if err := s.AppendLog(queue.WithHolder(t.Context(), queue.Holder{Server: "a", Now: at(16 * time.Second)}), line(2)); queue.ErrorCode(err) != queue.EConflict {
			t.Fatalf("the holder's line after its lease: %v, want EConflict", err)
		}
		move(t, s, d, queue.StateInterrupted, func(d *queue.Deploy) { d.FinishedAt = at(20 * time.Second) })
		if err := s.AppendLog(queue.WithHolder(t.Context(), queue.Holder{Server: "a", Now: at(time.Second)}), line(3)); queue.ErrorCode(err) != queue.EConflict {
			t.Fatalf("the holder's line after the end: %v, want EConflict", err)
		}
		if err := s.AppendLog(t.Context(), line(4)); err != nil {
			t.Fatalf("a line written without a holder: %v", err)
		}
		got, err := s.Log(t.Context(), d.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, l := range got {
			seqs = append(seqs, l.Seq)
		}
		if !slices.Equal(seqs, []int64{1, 4}) {
			t.Fatalf("lines %v, want [1 4]", seqs)
		}
	}},
	// The holder's change of a running deploy lands only while it holds
	// it: not once its lease ended (even before anyone ended it), nor as
	// another server; nor do the lines written with it.
	{"HolderChangesOnlyUnderItsLease", func(t *testing.T, s queue.Store) {
		d := held(t, s, "web", "prod", "a", at(15*time.Second))
		tries := 0
		end := func(h queue.Holder) error {
			tries++
			next := *d
			next.State, next.FinishedAt = queue.StateSucceeded, h.Now
			lines := []queue.LogLine{{DeployID: d.ID, Seq: 1, Time: h.Now, Text: fmt.Sprintf("end %d by %s", tries, h.Server)}}
			return s.UpdateDeploy(queue.WithHolder(t.Context(), h), &next, queue.StateRunning, lines)
		}
		if err := end(queue.Holder{Server: "a", Now: at(16 * time.Second)}); queue.ErrorCode(err) != queue.EConflict {
			t.Fatalf("the holder's end after its lease: %v, want EConflict", err)
		}
		if err := end(queue.Holder{Server: "b", Now: at(10 * time.Second)}); queue.ErrorCode(err) != queue.EConflict {
			t.Fatalf("another server's end as holder: %v, want EConflict", err)
		}
		if got, _ := s.Deploy(t.Context(), d.ID); got.State != queue.StateRunning {
			t.Fatalf("refused ends left it %s", got.State)
		}
		if err := end(queue.Holder{Server: "a", Now: at(15 * time.Second)}); err != nil {
			t.Fatalf("the holder's end at its lease's last instant: %v", err)
		}
		if got := readLog(t, s, d.ID, 0); len(got) != 1 || got[0].Text != "end 3 by a" {
			t.Fatalf("lines %+v, want the one of the end that landed", got)
		}
	}},
}
