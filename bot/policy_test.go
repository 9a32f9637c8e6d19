package bot_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// The release policies in chat: freeze, unfreeze, deploy!!, approve,
// reject, promote, unlock all, each answered in one short line.
func TestPolicyCommands(t *testing.T) {
	staging := queuetest.Shell("staging", "true")
	prod := queuetest.Shell("production", "true")
	prod.Approvals = queue.Approvals{Required: 1, From: []string{"bob"}}
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{staging, prod}}}, func(o *queue.Options) { o.Admins = []string{"root"} })
	b := bot.New(q.Svc, "")
	say := func(user, text string) bot.Reply {
		t.Helper()
		return b.Handle(q.Ctx, bot.Message{User: user, Text: text})
	}
	sha := strings.Repeat("1", 40)

	if r := say("carol", "freeze staging for 2h: incident 7"); r.Err != nil || r.Text != "froze staging for 2h: incident 7\ndeploys are refused (an admin's deploy!! goes through); automatic ones wait" {
		t.Fatalf("freeze: %q %v", r.Text, r.Err)
	}
	if r := say("alice", "deploy! web@"+sha+" to staging"); queue.ErrorCode(r.Err) != queue.EFrozen || !strings.Contains(r.Text, "staging is frozen until") || !strings.Contains(r.Text, "incident 7 (frozen by carol)") {
		t.Fatalf("deploy! while frozen: %q", r.Text)
	}
	if r := say("alice", "deploy!! web@"+sha+" to staging"); queue.ErrorCode(r.Err) != queue.EForbidden || r.Text != "alice may not override a freeze in staging (admins: root)" {
		t.Fatalf("deploy!! by alice: %q", r.Text)
	}
	r := say("root", "deploy!! web@"+sha+" to staging")
	if r.Err != nil || r.Deploy == nil {
		t.Fatalf("deploy!! by root: %q %v", r.Text, r.Err)
	}
	if d := q.Wait(t, r.Deploy.ID); d.State != queue.StateSucceeded {
		t.Fatalf("%s", d.State)
	}
	if r := say("carol", "unfreeze staging"); r.Err != nil || !strings.HasPrefix(r.Text, "unfroze staging (frozen by carol for ") {
		t.Fatalf("unfreeze: %q %v", r.Text, r.Err)
	}

	// promote what runs in staging; production needs an approval
	r = say("alice", "promote web from staging to production")
	if r.Err != nil || r.Deploy == nil || !strings.Contains(r.Text, "waiting for approval: 0 of 1 from bob") {
		t.Fatalf("promote: %q %v", r.Text, r.Err)
	}
	if r.Deploy.SHA != sha || r.Deploy.Source != queue.SourcePromotion {
		t.Fatalf("%+v", r.Deploy)
	}
	id := r.Deploy.ID
	if r := say("alice", "approve #"+itoa(id)); queue.ErrorCode(r.Err) != queue.EForbidden || !strings.Contains(r.Text, "someone else must approve it") {
		t.Fatalf("self-approval: %q", r.Text)
	}
	if r := say("bob", "approve #"+itoa(id)); r.Err != nil {
		t.Fatalf("approve: %q %v", r.Text, r.Err)
	}
	if d := q.Wait(t, id); d.State != queue.StateSucceeded {
		t.Fatalf("%s %s", d.State, d.Error)
	}
	r = say("alice", "deploy web@"+sha+" to production")
	if r := say("bob", "reject #"+itoa(r.Deploy.ID)+": not today"); r.Err != nil || r.Text != "#"+itoa(r.Deploy.ID)+" rejected: rejected by bob: not today" {
		t.Fatalf("reject: %q %v", r.Text, r.Err)
	}

	say("alice", "lock staging")
	if r := say("alice", "unlock all"); queue.ErrorCode(r.Err) != queue.EForbidden {
		t.Fatalf("unlock all by alice: %q", r.Text)
	}
	if r := say("root", "unlock all"); r.Err != nil || r.Text != "unlocked staging (held by alice)" {
		t.Fatalf("unlock all: %q %v", r.Text, r.Err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// fakeTarget is a runner that can operate an app and tell what runs.
type fakeTarget struct{}

func (fakeTarget) Run(context.Context, queue.Job, queue.Output) (queue.Result, error) {
	return queue.Result{OK: true}, nil
}

func (fakeTarget) Operate(_ context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	w := out.Stream(queue.StreamStdout, "")
	defer w.Close()
	fmt.Fprintf(w, "did %s %d\n", job.Op, job.Instances)
	return queue.Result{OK: true}, nil
}

func (fakeTarget) Live(context.Context, *queue.App, *queue.Environment) (string, error) {
	return "deployment/web: web=registry.example.com/web:v7", nil
}

// Operations from chat are queued like deploys; `where` says what the
// runner sees running.
func TestOperationsAndWhere(t *testing.T) {
	prod := &queue.Environment{Name: "production", Runner: "fake"}
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "production",
		Environments: []*queue.Environment{prod}}}, func(o *queue.Options) { o.Runners["fake"] = fakeTarget{} })
	b := bot.New(q.Svc, "")
	r := b.Handle(q.Ctx, bot.Message{User: "alice", Text: "scale web in production to 4"})
	if r.Err != nil || r.Deploy == nil || r.Deploy.Op != "scale" || !strings.HasPrefix(r.Text, "#1 queued: scale web in production to 4 by alice") {
		t.Fatalf("%q %v", r.Text, r.Err)
	}
	if d := q.Wait(t, r.Deploy.ID); d.State != queue.StateSucceeded {
		t.Fatalf("%s", d.State)
	}
	r = b.Handle(q.Ctx, bot.Message{User: "alice", Text: "history web"})
	if !strings.Contains(r.Text, "#1 production succeeded: scale web in production to 4 by alice") {
		t.Errorf("history: %q", r.Text)
	}
	r = b.Handle(q.Ctx, bot.Message{User: "alice", Text: "where web"})
	if !strings.Contains(r.Text, "running now: deployment/web: web=registry.example.com/web:v7") {
		t.Errorf("where: %q", r.Text)
	}
}
