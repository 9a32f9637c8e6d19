package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// deployCases: creating deploys, their conditional updates, one running
// deploy per lane, and reading them back.
var deployCases = []testCase{
	// Number counts from 1 in each app+env; IDs are distinct and grow in
	// the order deploys are created, across lanes.
	{"NumbersCountPerLane", func(t *testing.T, s queue.Store) {
		lanes := [][2]string{{"web", "prod"}, {"web", "qa"}, {"web", "prod"}, {"api", "prod"}, {"web", "prod"}, {"web", "qa"}}
		want := []int64{1, 1, 2, 1, 3, 2}
		var last int64
		for i, l := range lanes {
			d := create(t, s, newDeploy(l[0], l[1], queue.StateQueued))
			if d.Number != want[i] {
				t.Fatalf("deploy %d (%s/%s): number %d, want %d", i, l[0], l[1], d.Number, want[i])
			}
			if d.ID <= last {
				t.Fatalf("deploy %d: id %d after id %d: ids grow as deploys are created", i, d.ID, last)
			}
			last = d.ID
			got, err := s.Deploy(t.Context(), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Number != want[i] {
				t.Fatalf("deploy %d read back with number %d, want %d", i, got.Number, want[i])
			}
		}
	}},
	// Every field of a deploy comes back as it was created, whatever the
	// state and kind.
	{"CreateRoundTrips", func(t *testing.T, s queue.Store) {
		for _, c := range []struct {
			name string
			d    *queue.Deploy
		}{
			{"waiting", &queue.Deploy{App: "web", Env: "prod", Ref: "v1.2.3", SHA: sha(2), PreviousSHA: sha(1),
				State: queue.StateWaiting, User: "bob", Source: queue.SourceGitHub, Force: true, CreatedAt: t0.In(zone),
				GitHubDeploymentID: 123456789012, ChatThread: "C024BE91L/1712345678.000100", Error: "",
				Waiting: &queue.Waiting{Rule: "checks", Reason: "ci/build is pending", Until: at(10 * time.Minute).In(zone)}}},
			{"waiting on an event only", &queue.Deploy{App: "web", Env: "prod", Ref: "main", SHA: sha(3),
				State: queue.StateWaiting, User: "carol", Source: queue.SourceAPI, CreatedAt: at(time.Second),
				Waiting: &queue.Waiting{Rule: "approvals", Reason: "1 of 2 approvals"}}},
			{"an operation", &queue.Deploy{App: "web", Env: "prod", Ref: "main", SHA: sha(4), State: queue.StateQueued,
				User: "dave", Source: queue.SourceChat, CreatedAt: at(2 * time.Second), Op: "scale", Instances: 5}},
			{"refused as it came", &queue.Deploy{App: "api", Env: "staging", Ref: "feature/ü", SHA: sha(5),
				State: queue.StateFailed, User: "Zoë", Source: queue.SourceAuto, CreatedAt: at(3 * time.Second),
				FinishedAt: at(3 * time.Second), Error: "checks failed: ci/test — 2 errors"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				want := *c.d
				d := create(t, s, c.d)
				want.ID, want.Number = d.ID, d.Number
				got, err := s.Deploy(t.Context(), d.ID)
				if err != nil {
					t.Fatal(err)
				}
				sameDeploy(t, "the deploy read back", got, &want)
			})
		}
	}},
	// An update saves the fields that change in a deploy's life.
	{"UpdateSavesFields", func(t *testing.T, s queue.Store) {
		d := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		steps := []func(*queue.Deploy){
			func(d *queue.Deploy) {
				d.State, d.StartedAt, d.PreviousSHA = queue.StateRunning, at(time.Minute).In(zone), sha(9)
				d.GitHubDeploymentID, d.ChatThread = 42, "thread-1"
			},
			func(d *queue.Deploy) {
				d.State, d.FinishedAt, d.Error = queue.StateFailed, at(2*time.Minute), "exit status 1"
			},
		}
		for _, step := range steps {
			next := *d
			step(&next)
			if err := s.UpdateDeploy(t.Context(), &next, d.State, nil); err != nil {
				t.Fatalf("%s to %s: %v", d.State, next.State, err)
			}
			got, err := s.Deploy(t.Context(), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameDeploy(t, "after moving to "+string(next.State), got, &next)
			d = &next
		}
	}},
	// A deploy that stays waiting is updated in place (why it waits
	// changes); leaving waiting clears why.
	{"UpdateInPlace", func(t *testing.T, s queue.Store) {
		d := newDeploy("web", "prod", queue.StateWaiting)
		d.Waiting = &queue.Waiting{Rule: "freeze", Reason: "prod is frozen", Until: at(time.Hour)}
		create(t, s, d)
		d = move(t, s, d, queue.StateWaiting, func(d *queue.Deploy) {
			d.Waiting = &queue.Waiting{Rule: "checks", Reason: "ci/build is pending"}
		})
		got, err := s.Deploy(t.Context(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameDeploy(t, "waiting for another reason", got, d)
		d = move(t, s, d, queue.StateQueued, func(d *queue.Deploy) { d.Waiting = nil })
		if got, err = s.Deploy(t.Context(), d.ID); err != nil {
			t.Fatal(err)
		}
		sameDeploy(t, "queued", got, d)
	}},
	// An update that expects another state than the stored one is refused
	// with EConflict, and nothing of it is kept: not its fields, not its
	// lines.
	{"UpdateFromAnotherState", func(t *testing.T, s queue.Store) {
		for _, from := range []queue.State{queue.StateWaiting, queue.StateRunning, queue.StateSucceeded, queue.StateCanceled} {
			t.Run(string(from), func(t *testing.T) {
				d := create(t, s, newDeploy("web", "prod", queue.StateQueued))
				next := *d
				next.State, next.Error, next.FinishedAt = queue.StateCanceled, "canceled by bob", at(time.Minute)
				err := s.UpdateDeploy(t.Context(), &next, from, logLines(d.ID, 1, 3))
				wantCode(t, err, queue.EConflict, "an update from "+string(from)+" of a queued deploy")
				got, err := s.Deploy(t.Context(), d.ID)
				if err != nil {
					t.Fatal(err)
				}
				sameDeploy(t, "after the refused update", got, d)
				if lines := readLog(t, s, d.ID, 0); len(lines) != 0 {
					t.Fatalf("the refused update kept %d lines", len(lines))
				}
			})
		}
	}},
	// Unknown ids: ENotFound.
	{"UnknownID", func(t *testing.T, s queue.Store) {
		d := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		unknown := d.ID + 1000
		_, err := s.Deploy(t.Context(), unknown)
		wantCode(t, err, queue.ENotFound, "Deploy of an unknown id")
		ghost := *d
		ghost.ID, ghost.State = unknown, queue.StateRunning
		err = s.UpdateDeploy(t.Context(), &ghost, queue.StateQueued, nil)
		wantCode(t, err, queue.ENotFound, "UpdateDeploy of an unknown id")
	}},
	// At most one deploy per app+env runs: a second is refused with
	// EConflict until the first ends; other lanes run meanwhile.
	{"OneRunningPerLane", func(t *testing.T, s queue.Store) {
		a := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		b := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		otherEnv := create(t, s, newDeploy("web", "qa", queue.StateQueued))
		otherApp := create(t, s, newDeploy("api", "prod", queue.StateQueued))
		a = move(t, s, a, queue.StateRunning, nil)
		next := *b
		next.State = queue.StateRunning
		err := s.UpdateDeploy(t.Context(), &next, queue.StateQueued, logLines(b.ID, 1, 2))
		wantCode(t, err, queue.EConflict, "a second running deploy in web/prod")
		if got, err := s.Deploy(t.Context(), b.ID); err != nil || got.State != queue.StateQueued {
			t.Fatalf("the refused deploy: %s, %v; want it queued", show(got), err)
		}
		if lines := readLog(t, s, b.ID, 0); len(lines) != 0 {
			t.Fatalf("the refused update kept %d lines", len(lines))
		}
		move(t, s, otherEnv, queue.StateRunning, nil)
		move(t, s, otherApp, queue.StateRunning, nil)
		move(t, s, a, queue.StateSucceeded, nil)
		move(t, s, b, queue.StateRunning, nil)
	}},
	// A verifying deploy holds its lane as a running one does: no other
	// starts there until it ends.
	{"VerifyingHoldsTheLane", func(t *testing.T, s queue.Store) {
		a := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		b := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		a = move(t, s, a, queue.StateRunning, nil)
		a = move(t, s, a, queue.StateVerifying, nil)
		next := *b
		next.State = queue.StateRunning
		err := s.UpdateDeploy(t.Context(), &next, queue.StateQueued, nil)
		wantCode(t, err, queue.EConflict, "a running deploy in web/prod while another verifies")
		move(t, s, a, queue.StateSucceeded, nil)
		move(t, s, b, queue.StateRunning, nil)
	}},
	// Many goroutines race to start different queued deploys of one lane:
	// exactly one wins, the others get EConflict, and only the winner
	// runs, with its lines.
	{"RaceToRunOneLane", func(t *testing.T, s queue.Store) {
		const n = 16
		ds := make([]*queue.Deploy, n)
		for i := range ds {
			ds[i] = create(t, s, newDeploy("web", "prod", queue.StateQueued))
		}
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, d := range ds {
			wg.Go(func() {
				next := *d
				next.State, next.StartedAt = queue.StateRunning, at(time.Minute)
				<-start
				errs[i] = s.UpdateDeploy(t.Context(), &next, queue.StateQueued, logLines(d.ID, 1, 2))
			})
		}
		close(start)
		wg.Wait()
		var won []*queue.Deploy
		for i, err := range errs {
			switch queue.ErrorCode(err) {
			case "":
				won = append(won, ds[i])
			case queue.EConflict:
			default:
				t.Fatalf("#%d: %v; want success or EConflict", ds[i].ID, err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d deploys of one lane started (%v); want exactly 1", len(won), ids(won))
		}
		run, err := s.Deploys(t.Context(), queue.DeployFilter{States: []queue.State{queue.StateRunning}, Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		sameIDs(t, "running", run, won[0])
		for _, d := range ds {
			want := 0
			if d == won[0] {
				want = 2
			}
			if lines := readLog(t, s, d.ID, 0); len(lines) != want {
				t.Fatalf("#%d has %d lines, want %d", d.ID, len(lines), want)
			}
		}
	}},
	// Many goroutines race to move one deploy out of queued: the update is
	// conditional, so exactly one wins and the deploy is as it wrote it.
	{"RaceOnOneDeploy", func(t *testing.T, s queue.Store) {
		const n = 16
		d := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		errs := make([]error, n)
		nexts := make([]queue.Deploy, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			nexts[i] = *d
			nexts[i].State, nexts[i].Error, nexts[i].FinishedAt = queue.StateCanceled, "canceled by user "+string(rune('a'+i)), at(time.Minute)
			wg.Go(func() {
				<-start
				errs[i] = s.UpdateDeploy(t.Context(), &nexts[i], queue.StateQueued, nil)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("updates %d and %d both moved the deploy from queued", winner, i)
			case err == nil:
				winner = i
			default:
				wantCode(t, err, queue.EConflict, "a losing update")
			}
		}
		if winner < 0 {
			t.Fatal("no update won")
		}
		got, err := s.Deploy(t.Context(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameDeploy(t, "the deploy", got, &nexts[winner])
	}},
	// NextQueued is the oldest queued deploy of its lane (the oldest
	// rollback, when one is queued), or nil, with the sha of the lane's
	// newest succeeded deploy that is no operation.
	{"NextQueued", func(t *testing.T, s queue.Store) {
		ctx := t.Context()
		create(t, s, newDeploy("web", "prod", queue.StateWaiting))
		r := running(t, s, "web", "prod")
		a := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		b := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		qa := create(t, s, newDeploy("web", "qa", queue.StateQueued))
		for _, c := range []struct {
			app, env string
			want     *queue.Deploy
		}{{"web", "prod", a}, {"web", "qa", qa}, {"api", "prod", nil}} {
			got, current, err := s.NextQueued(ctx, c.app, c.env)
			if err != nil {
				t.Fatal(err)
			}
			sameDeploy(t, "next queued in "+c.app+"/"+c.env, got, c.want)
			if current != "" {
				t.Fatalf("%s/%s has no succeeded deploy; NextQueued says it runs %q", c.app, c.env, current)
			}
		}
		move(t, s, a, queue.StateCanceled, nil)
		if got, _, err := s.NextQueued(ctx, "web", "prod"); err != nil || got == nil || got.ID != b.ID {
			t.Fatalf("next queued once the oldest left: %s, %v; want #%d", show(got), err, b.ID)
		}
		// what runs there: the newest succeeded deploy, not a failed one,
		// an operation or another lane's
		move(t, s, r, queue.StateInterrupted, nil)
		for i, c := range []struct {
			app, env string
			state    queue.State
			op       string
		}{{"web", "prod", queue.StateSucceeded, ""}, {"web", "prod", queue.StateFailed, ""},
			{"web", "prod", queue.StateSucceeded, "restart"}, {"web", "qa", queue.StateSucceeded, ""}} {
			d := newDeploy(c.app, c.env, queue.StateQueued)
			d.SHA, d.Op = sha(10+i), c.op
			end(t, s, create(t, s, d), c.state, at(time.Duration(i+1)*time.Hour))
		}
		got, current, err := s.NextQueued(ctx, "web", "prod")
		if err != nil || got == nil || got.ID != b.ID || current != sha(10) {
			t.Fatalf("next queued after deploys ended: %s, %q, %v; want #%d, %q", show(got), current, err, b.ID, sha(10))
		}
		// a rollback goes first, the oldest rollback first
		rb := newDeploy("web", "prod", queue.StateQueued)
		rb.Source = queue.SourceRollback
		rb = create(t, s, rb)
		rb2 := newDeploy("web", "prod", queue.StateQueued)
		rb2.Source = queue.SourceRollback
		create(t, s, rb2)
		if got, _, err := s.NextQueued(ctx, "web", "prod"); err != nil || got == nil || got.ID != rb.ID {
			t.Fatalf("next queued with rollbacks queued: %s, %v; want the first rollback, #%d", show(got), err, rb.ID)
		}
		move(t, s, rb, queue.StateCanceled, nil)
		move(t, s, rb2, queue.StateCanceled, nil)
		move(t, s, b, queue.StateSuperseded, nil)
		if got, _, err := s.NextQueued(ctx, "web", "prod"); err != nil || got != nil {
			t.Fatalf("next queued with none queued: %s, %v; want nil", show(got), err)
		}
	}},
	// LastSucceeded is the newest succeeded deploy of a lane (never an
	// operation) below an id, or nil.
	{"LastSucceeded", func(t *testing.T, s queue.Store) {
		s1 := ended(t, s, "web", "prod", queue.StateSucceeded, at(time.Hour))
		f := ended(t, s, "web", "prod", queue.StateFailed, at(2*time.Hour))
		s2 := ended(t, s, "web", "prod", queue.StateSucceeded, at(3*time.Hour))
		op := newDeploy("web", "prod", queue.StateQueued)
		op.Op = "restart"
		end(t, s, create(t, s, op), queue.StateSucceeded, at(4*time.Hour))
		create(t, s, newDeploy("web", "prod", queue.StateQueued))
		qa := ended(t, s, "web", "qa", queue.StateSucceeded, at(5*time.Hour))
		for _, c := range []struct {
			name     string
			app, env string
			before   int64
			want     *queue.Deploy
		}{
			{"any", "web", "prod", 0, s2},
			{"below the newest", "web", "prod", s2.ID, s1},
			{"below a failed one", "web", "prod", f.ID, s1},
			{"below the first", "web", "prod", s1.ID, nil},
			{"below an id past all", "web", "prod", op.ID + 1000, s2},
			{"another env", "web", "qa", 0, qa},
			{"a lane without deploys", "api", "prod", 0, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.LastSucceeded(t.Context(), c.app, c.env, c.before)
				if err != nil {
					t.Fatal(err)
				}
				sameDeploy(t, "last succeeded", got, c.want)
			})
		}
	}},
	// Newest and oldest mean the last and first created, whatever
	// CreatedAt says.
	{"CreationOrderNotCreatedAt", func(t *testing.T, s queue.Store) {
		ctx := t.Context()
		first := newDeploy("web", "prod", queue.StateQueued)
		first.CreatedAt = at(time.Hour)
		create(t, s, first)
		second := newDeploy("web", "prod", queue.StateQueued)
		second.CreatedAt = at(-time.Hour) // the clock stepped back
		create(t, s, second)
		if got, _, err := s.NextQueued(ctx, "web", "prod"); err != nil || got == nil || got.ID != first.ID {
			t.Fatalf("next queued: %s, %v; want the first created, #%d", show(got), err, first.ID)
		}
		ds, err := s.Deploys(ctx, queue.DeployFilter{})
		if err != nil {
			t.Fatal(err)
		}
		sameIDs(t, "deploys, newest first", ds, second, first)
		first = end(t, s, first, queue.StateSucceeded, at(2*time.Hour))
		second = end(t, s, second, queue.StateSucceeded, at(3*time.Hour))
		if got, err := s.LastSucceeded(ctx, "web", "prod", 0); err != nil || got == nil || got.ID != second.ID {
			t.Fatalf("last succeeded: %s, %v; want the last created, #%d", show(got), err, second.ID)
		}
	}},
	// Deploys filters by app, env and states, newest first.
	{"DeploysFilter", func(t *testing.T, s queue.Store) {
		d := []*queue.Deploy{
			ended(t, s, "web", "prod", queue.StateSucceeded, at(time.Hour)),
			ended(t, s, "web", "qa", queue.StateFailed, at(time.Hour)),
			ended(t, s, "api", "prod", queue.StateSucceeded, at(time.Hour)),
			running(t, s, "web", "prod"),
			create(t, s, newDeploy("web", "prod", queue.StateQueued)),
			create(t, s, newDeploy("api", "prod", queue.StateWaiting)),
			create(t, s, newDeploy("web", "qa", queue.StateQueued)),
		}
		for _, c := range []struct {
			name string
			f    queue.DeployFilter
			want []int // indexes into d
		}{
			{"all", queue.DeployFilter{}, []int{6, 5, 4, 3, 2, 1, 0}},
			{"app", queue.DeployFilter{App: "web"}, []int{6, 4, 3, 1, 0}},
			{"env", queue.DeployFilter{Env: "prod"}, []int{5, 4, 3, 2, 0}},
			{"app and env", queue.DeployFilter{App: "web", Env: "prod"}, []int{4, 3, 0}},
			{"a state", queue.DeployFilter{States: []queue.State{queue.StateQueued}}, []int{6, 4}},
			{"states", queue.DeployFilter{States: []queue.State{queue.StateWaiting, queue.StateQueued, queue.StateRunning}}, []int{6, 5, 4, 3}},
			{"app and states", queue.DeployFilter{App: "web", States: []queue.State{queue.StateSucceeded, queue.StateFailed}}, []int{1, 0}},
			{"everything", queue.DeployFilter{App: "web", Env: "qa", States: []queue.State{queue.StateFailed}}, []int{1}},
			{"no such lane", queue.DeployFilter{App: "api", Env: "qa"}, nil},
			{"no such state", queue.DeployFilter{States: []queue.State{queue.StateCanceled}}, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.Deploys(t.Context(), c.f)
				if err != nil {
					t.Fatal(err)
				}
				var want []*queue.Deploy
				for _, i := range c.want {
					want = append(want, d[i])
				}
				sameIDs(t, "deploys", got, want...)
				for i, g := range got {
					sameDeploy(t, "a deploy listed", g, want[i])
				}
			})
		}
	}},
	// Limit takes the newest: 50 when zero, all when negative.
	{"DeploysLimit", func(t *testing.T, s queue.Store) {
		var all []*queue.Deploy
		for i := range 55 {
			st := queue.StateQueued
			if i%2 == 1 {
				st = queue.StateWaiting
			}
			all = append(all, create(t, s, newDeploy("web", "prod", st)))
		}
		slices.Reverse(all) // newest first
		var waiting []*queue.Deploy
		for _, d := range all {
			if d.State == queue.StateWaiting {
				waiting = append(waiting, d)
			}
		}
		for _, c := range []struct {
			name string
			f    queue.DeployFilter
			want []*queue.Deploy
		}{
			{"default", queue.DeployFilter{}, all[:50]},
			{"a few", queue.DeployFilter{Limit: 7}, all[:7]},
			{"one", queue.DeployFilter{Limit: 1}, all[:1]},
			{"more than there are", queue.DeployFilter{Limit: 100}, all},
			{"no limit", queue.DeployFilter{Limit: -1}, all},
			{"filtered", queue.DeployFilter{States: []queue.State{queue.StateWaiting}, Limit: 3}, waiting[:3]},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.Deploys(t.Context(), c.f)
				if err != nil {
					t.Fatal(err)
				}
				sameIDs(t, "deploys", got, c.want...)
			})
		}
	}},
}
