package ssh_test

import (
	"strings"
	"testing"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	sshrunner "github.com/deployq/deployq/runners/ssh"
)

// A dry run says the plan (batches, hosts, steps) and runs the step
// named noop alone on every host; a deploy never runs that step, and the
// dry run installs nothing.
func TestNoopSaysThePlanAndRunsTheNoopStep(t *testing.T) {
	f := newFleet(t, 5)
	s := settings(f, func(s *sshrunner.Settings) {
		s.Steps = append(s.Steps, sshrunner.Step{Name: "noop", Command: `echo "would install {sha} over $(cat "$HOSTDIR/version" 2>/dev/null || echo nothing)" | tee "$HOSTDIR/noop"`})
	})
	env := &queue.Environment{Name: "production", Runner: "ssh", Settings: s}
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "production", Environments: []*queue.Environment{env}}},
		func(o *queue.Options) { o.Runners["ssh"] = sshrunner.New(nil) })
	d, err := q.Svc.Submit(q.Ctx, queue.Request{App: "web", Ref: sha1, User: "alice", Noop: true})
	if err != nil {
		t.Fatal(err)
	}
	d, log := q.Follow(t, d.ID)
	if d.State != queue.StateSucceeded || d.Op != queue.OpNoop {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	for _, want := range []string{"would roll out to 5 hosts in 3 batches", "batch 1 (canary): " + f.Hosts[0].Name,
		"step install: echo " + sha1, "would install " + sha1 + " over nothing"} {
		if !strings.Contains(log, want) {
			t.Fatalf("the dry run's log lacks %q:\n%s", want, log)
		}
	}
	for _, h := range f.Hosts {
		if h.File("version") != "" || !strings.Contains(h.File("noop"), "would install") {
			t.Fatalf("%s after the dry run: version %q, noop %q", h.Name, h.File("version"), h.File("noop"))
		}
	}
	d, err = q.Svc.Submit(q.Ctx, queue.Request{App: "web", Ref: sha1, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if d, log = q.Follow(t, d.ID); d.State != queue.StateSucceeded || strings.Contains(log, "would install") {
		t.Fatalf("the deploy ran the noop step, or failed: %s\n%s", d.State, log)
	}
}
