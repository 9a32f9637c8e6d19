package queue_test

import (
	"context"
	"testing"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// What runs where is kept in memory, current with every change: it says
// what the store says, lane by lane, through successes, failures, a lock
// that holds deploys back, a deploy that waits for approval, a cancel and
// a restart.
func TestEnvironmentsFromMemoryMatchTheStore(t *testing.T) {
	ok := shellEnv("staging", `test "$DEPLOY_SHA" != `+sha(9))
	prod := shellEnv("production", "true")
	prod.Approvals = queue.Approvals{Required: 1}
	dir := t.TempDir()
	apps := []*queue.App{app("web", ok, prod), app("api", shellEnv("staging", "touch "+dir+"/started; sleep 300"))}
	e := startIn(t, dir, apps, nil)
	ctx := context.Background()
	e.wait(e.submit(queue.Request{App: "web", Env: "staging", Ref: sha(1)}).ID)
	e.wait(e.submit(queue.Request{App: "web", Env: "staging", Ref: sha(9)}).ID) // fails
	e.submit(queue.Request{App: "web", Env: "production", Ref: sha(1)})         // waits for approval
	e.submit(queue.Request{App: "api", Env: "staging", Ref: sha(2)})            // runs on
	waitFile(t, dir+"/started")
	held := e.submit(queue.Request{App: "api", Env: "staging", Ref: sha(3)}) // waits its turn
	gone := e.submit(queue.Request{App: "api", Env: "staging", Ref: sha(4)})
	if _, err := e.svc.Cancel(ctx, gone.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	same := func(when string) {
		t.Helper()
		sums, err := e.store.Lanes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byLane := map[string]queue.LaneSummary{}
		for _, s := range sums {
			byLane[s.App+"/"+s.Env] = s
		}
		envs, err := e.svc.Environments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := func(d *queue.Deploy) int64 {
			if d == nil {
				return 0
			}
			return d.ID
		}
		for _, st := range envs {
			want := byLane[st.App+"/"+st.Env]
			if id(st.Current) != id(want.Current) || id(st.Running) != id(want.Running) || id(st.Last) != id(want.Last) ||
				st.Queued != want.Queued || st.Waiting != want.Waiting {
				t.Errorf("%s: %s/%s: memory current #%d running #%d last #%d queued %d waiting %d; the store #%d #%d #%d %d %d",
					when, st.App, st.Env, id(st.Current), id(st.Running), id(st.Last), st.Queued, st.Waiting,
					id(want.Current), id(want.Running), id(want.Last), want.Queued, want.Waiting)
			}
		}
	}
	same("running")
	if envs, _ := e.svc.Environments(ctx); envs[2].Queued != 1 || envs[1].Waiting != 1 || envs[0].Last.State != queue.StateFailed {
		t.Fatalf("%+v", envs)
	}
	e.svc.Stop()
	e2 := startIn(t, dir, apps, nil)
	queuetest.Eventually(t, "the held deploy is still queued after a restart", func() bool {
		d, _ := e2.svc.Deploy(ctx, held.ID)
		return d.State == queue.StateQueued
	})
	e = e2
	same("after a restart")
}
