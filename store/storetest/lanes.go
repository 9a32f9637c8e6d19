package storetest

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// laneCases: the summary of every app+env.
var laneCases = []testCase{
	// A store without deploys has no lanes.
	{"Empty", func(t *testing.T, s queue.Store) {
		got, err := s.Lanes(t.Context())
		if err != nil || len(got) != 0 {
			t.Fatalf("lanes of an empty store: %+v, %v", got, err)
		}
	}},
	// Each lane that has deploys is summarized: what succeeded last (not an
	// operation), what runs, the newest of any state, how many are queued
	// and how many wait.
	{"Summaries", func(t *testing.T, s queue.Store) {
		// web/prod: all of it
		ended(t, s, "web", "prod", queue.StateSucceeded, at(time.Hour))
		current := ended(t, s, "web", "prod", queue.StateSucceeded, at(2*time.Hour))
		restart := newDeploy("web", "prod", queue.StateQueued)
		restart.Op = "restart"
		end(t, s, create(t, s, restart), queue.StateSucceeded, at(3*time.Hour))
		ended(t, s, "web", "prod", queue.StateFailed, at(4*time.Hour))
		run := running(t, s, "web", "prod")
		create(t, s, newDeploy("web", "prod", queue.StateQueued))
		create(t, s, newDeploy("web", "prod", queue.StateQueued))
		last := create(t, s, newDeploy("web", "prod", queue.StateWaiting))
		// web/qa: it failed, and never succeeded
		failed := ended(t, s, "web", "qa", queue.StateFailed, at(time.Hour))
		// api/prod: an operation came last
		apiCurrent := ended(t, s, "api", "prod", queue.StateSucceeded, at(time.Hour))
		scale := newDeploy("api", "prod", queue.StateQueued)
		scale.Op, scale.Instances = "scale", 3
		scale = end(t, s, create(t, s, scale), queue.StateSucceeded, at(2*time.Hour))
		// api/qa: one waits
		waits := create(t, s, newDeploy("api", "qa", queue.StateWaiting))

		want := []queue.LaneSummary{
			{App: "api", Env: "prod", Current: apiCurrent, Last: scale},
			{App: "api", Env: "qa", Last: waits, Waiting: 1},
			{App: "web", Env: "prod", Current: current, Running: run, Last: last, Queued: 2, Waiting: 1},
			{App: "web", Env: "qa", Last: failed},
		}
		got, err := s.Lanes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b queue.LaneSummary) int {
			return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Env, b.Env))
		})
		if len(got) != len(want) {
			t.Fatalf("got %d lanes, want %d: %+v", len(got), len(want), got)
		}
		for i, w := range want {
			g := got[i]
			lane := w.App + "/" + w.Env
			if g.App != w.App || g.Env != w.Env {
				t.Fatalf("lane %d is %s/%s, want %s", i, g.App, g.Env, lane)
			}
			if g.Queued != w.Queued || g.Waiting != w.Waiting {
				t.Fatalf("%s: %d queued, %d waiting; want %d, %d", lane, g.Queued, g.Waiting, w.Queued, w.Waiting)
			}
			sameDeploy(t, lane+": current", g.Current, w.Current)
			sameDeploy(t, lane+": running", g.Running, w.Running)
			sameDeploy(t, lane+": last", g.Last, w.Last)
		}
	}},
}
