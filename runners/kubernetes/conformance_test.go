package kubernetes_test

import (
	"os"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/runnertest"
	"github.com/deployq/deployq/queue"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
)

func job(st *kuberunner.Settings) queue.Job {
	if err := st.Validate(); err != nil {
		panic(err)
	}
	return queue.Job{DeployID: 1, Number: 1, App: "web", Env: "production", Ref: "main", SHA: sha1, User: "alice", Settings: st}
}

// good is the image the workloads run before a deploy.
const good = "registry.example.com/web:good"

// The conformance suite, through the bridge: each case runs in a
// deployq-kubernetes process, gone when Run returns.
func TestConformance(t *testing.T) {
	web := func(tmpl string) kuberunner.Target {
		return kuberunner.Target{Workload: "deployment/web", Containers: map[string]string{"web": tmpl}}
	}
	runnertest.Run(t, runnertest.Harness{
		Runner: newRunner(t),
		Left:   func(t *testing.T) []string { return children(kuberunner.Executable) },
		Succeeds: func(t *testing.T) queue.Job {
			ctx, ns := needCluster(t)
			createDeployment(t, ctx, ns, "web", good, 2, 600)
			return job(settings(ns, web("registry.example.com/web:{sha}")))
		},
		// the image policy refuses its pods: past the progress deadline,
		// undone, failed
		Fails: func(t *testing.T) queue.Job {
			ctx, ns := needCluster(t)
			createDeployment(t, ctx, ns, "web", good, 2, 2)
			return job(settings(ns, web("registry.example.com/"+denied+"/web:{sha}")))
		},
		// no kubeconfig to reach a cluster with
		// the kubeconfig is gone since the config was checked
		CannotRun: func(t *testing.T) queue.Job {
			st := &kuberunner.Settings{Kubeconfig: kubeconfig(t, "https://127.0.0.1:6443", caPEM(t)), Targets: []kuberunner.Target{web("x:{sha}")}}
			j := job(st)
			if err := os.Remove(st.Kubeconfig); err != nil {
				t.Fatal(err)
			}
			return j
		},
		// refused pods, a deadline far away: the rollout is stuck half way
		Long: func(t *testing.T) runnertest.Long {
			ctx, ns := needCluster(t)
			createDeployment(t, ctx, ns, "web", good, 2, 600)
			st := settings(ns, web("registry.example.com/"+denied+"/web:{sha}"))
			st.Timeout = 10 * time.Minute
			return runnertest.Long{
				Job:     job(st),
				Started: func(t *testing.T, out *runnertest.Recorder) { out.WaitLine(t, "image not allowed by policy") },
				// the undo is over when Run returns: the template is back,
				// and its rollout completes
				Ended: func(t *testing.T) {
					if img := image(t, ctx, ns, "web"); img != good {
						t.Fatalf("deployment/web runs %q: want it undone to %q", img, good)
					}
					waitRolledOut(t, ctx, ns, "web")
				},
				GoesOn: func(t *testing.T) {
					if img := image(t, ctx, ns, "web"); img != "registry.example.com/"+denied+"/web:"+sha1 {
						t.Errorf("deployment/web runs %q: the rollout was not left to the cluster", img)
					}
				},
			}
		},
		Outlives:   true,
		StopWithin: time.Minute,
	})
}
