package client_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/client"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// pauser is a runner that pauses once, as a rollout in manual mode does
// after its canary, and succeeds when continued.
type pauser struct{}

func (pauser) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	if err := out.Pause(ctx, "canary done"); err != nil {
		return queue.Result{}, err
	}
	return queue.Result{OK: true}, nil
}

// serve runs a real queue behind the real API on a test HTTP server:
// web deploys to staging (shell) and to production (a rollout that
// pauses, after an approval). alice is an admin. It returns a client for
// each of alice and bob.
func serve(t *testing.T) (q *queuetest.Env, alice, bob *client.Client) {
	production := &queue.Environment{Name: "production", Runner: "pauser", Approvals: queue.Approvals{Required: 1}}
	apps := []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{queuetest.Shell("staging", "echo deployed {sha}"), production}}}
	q = queuetest.Start(t, apps, func(o *queue.Options) {
		o.Runners["pauser"] = pauser{}
		o.Admins = []string{"alice"}
	})
	ts := httptest.NewServer(api.New(api.Options{Service: q.Svc,
		Tokens: map[string]string{"alice-token": "alice", "bob-token": "bob"}}))
	t.Cleanup(ts.Close)
	return q, &client.Client{Base: ts.URL, Token: "alice-token"}, &client.Client{Base: ts.URL, Token: "bob-token"}
}

const sha1 = "1111111111111111111111111111111111111111"

func mustCode(t *testing.T, what string, err error, want queue.Code) {
	t.Helper()
	if queue.ErrorCode(err) != want {
		t.Fatalf("%s: want %s, got %v", what, want, err)
	}
}

// A promotion waits for an approval, which its asker cannot give; the
// approved rollout pauses and goes on when continued. Another deploy is
// rejected with a reason.
func TestPromoteApproveContinueReject(t *testing.T) {
	ctx := t.Context()
	q, alice, bob := serve(t)
	d, err := alice.Deploy(ctx, "web", "staging", sha1, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Wait(t, d.ID); got.State != queue.StateSucceeded {
		t.Fatalf("staging: %s %s", got.State, got.Error)
	}

	p, err := bob.Promote(ctx, "web", "staging", "production")
	if err != nil || p.State != queue.StateWaiting || !p.NeedsApproval || p.SHA != sha1 {
		t.Fatalf("promote: %+v, %v", p, err)
	}
	_, err = bob.Approve(ctx, p.ID)
	mustCode(t, "bob approves his own", err, queue.EForbidden)
	if _, err := alice.Approve(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	queuetest.Eventually(t, "the rollout pauses", func() bool {
		got, err := alice.Get(ctx, p.ID)
		return err == nil && got.Progress != nil && got.Progress.Phase == queue.PhasePaused
	})
	if c, err := alice.Continue(ctx, p.ID); err != nil || c.ID != p.ID {
		t.Fatalf("continue: %+v, %v", c, err)
	}
	if got := q.Wait(t, p.ID); got.State != queue.StateSucceeded {
		t.Fatalf("production: %s %s", got.State, got.Error)
	}
	_, err = alice.Continue(ctx, p.ID)
	mustCode(t, "continue a finished deploy", err, queue.EConflict)

	w, err := bob.Deploy(ctx, "web", "production", sha1, false, false, nil)
	if err != nil || w.State != queue.StateWaiting {
		t.Fatalf("deploy: %+v, %v", w, err)
	}
	r, err := alice.Reject(ctx, w.ID, "not on a Friday")
	if err != nil || r.State != queue.StateCanceled || !strings.Contains(r.Error, "not on a Friday") {
		t.Fatalf("reject: %+v, %v", r, err)
	}
}

// A freeze refuses deploys until it is lifted; unlock all removes every
// lock, for admins only; the audit log tells all of it, newest first.
func TestFreezeUnlockAllAudit(t *testing.T) {
	ctx := t.Context()
	_, alice, bob := serve(t)
	f, err := alice.Freeze(ctx, "staging", "release", "1h")
	if err != nil || f.Env != "staging" || f.Owner != "alice" || f.EndsAt == nil {
		t.Fatalf("freeze: %+v, %v", f, err)
	}
	fs, err := bob.Freezes(ctx)
	if err != nil || len(fs.Frozen) != 1 || fs.Frozen[0].Env != "staging" || len(fs.OneOff) != 1 {
		t.Fatalf("freezes: %+v, %v", fs, err)
	}
	_, err = bob.Deploy(ctx, "web", "staging", sha1, false, false, nil)
	mustCode(t, "deploy to a frozen environment", err, queue.EFrozen)
	if u, err := alice.Unfreeze(ctx, "staging"); err != nil || u.Owner != "alice" || u.Reason != "release" {
		t.Fatalf("unfreeze: %+v, %v", u, err)
	}
	if fs, err := bob.Freezes(ctx); err != nil || len(fs.Frozen) != 0 || len(fs.OneOff) != 0 {
		t.Fatalf("freezes after unfreeze: %+v, %v", fs, err)
	}

	for _, env := range []string{"staging", "production"} {
		if _, err := bob.Lock(ctx, env, "", "testing", "", false); err != nil {
			t.Fatal(err)
		}
	}
	_, err = bob.UnlockAll(ctx)
	mustCode(t, "bob unlocks all", err, queue.EForbidden)
	ls, err := alice.UnlockAll(ctx)
	if err != nil || len(ls) != 2 || ls[0].Owner != "bob" {
		t.Fatalf("unlock all: %+v, %v", ls, err)
	}

	es, err := bob.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.User+" "+e.Action+" "+e.Target)
	}
	want := []string{"alice unlock staging", "alice unlock production", "bob lock production", "bob lock staging",
		"alice unfreeze staging", "alice freeze staging"}
	if !slices.Equal(got[:min(len(got), len(want))], want) {
		t.Fatalf("audit, newest first:\n%s", strings.Join(got, "\n"))
	}
}
