package marathon_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/marathontest"
	"github.com/deployq/deployq/internal/runnertest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/marathon"
)

func job(s *marathon.Settings) queue.Job {
	return queue.Job{DeployID: 1, Number: 1, App: "web", Env: "production", Ref: "main", SHA: sha1, User: "alice", Settings: s}
}

// good is the image the apps run before a deploy.
const good = "registry.example.com/web:good"

func TestConformance(t *testing.T) {
	runnertest.Run(t, runnertest.Harness{
		Runner: marathon.New(),
		Succeeds: func(t *testing.T) queue.Job {
			m := simulator(t)
			seed(t, m, "/web", good, 2)
			return job(settings(m, nil))
		},
		// its tasks fail their health checks: rolled back, failed
		Fails: func(t *testing.T) queue.Job {
			m := simulator(t)
			seed(t, m, "/web", good, 2)
			return job(settings(m, func(s *marathon.Settings) { s.Image = "registry.example.com/web-unhealthy:{sha}" }))
		},
		// Marathon's certificate cannot be verified without the CA file
		// the CA file is gone since the config was checked
		CannotRun: func(t *testing.T) queue.Job {
			s := settings(simulator(t), nil)
			s.CAFile = filepath.Join(t.TempDir(), "missing.pem")
			return job(s)
		},
		Long: func(t *testing.T) runnertest.Long {
			m := simulator(t)
			m.Behaviour = stuck
			seed(t, m, "/web", good, 2)
			st := settings(m, func(s *marathon.Settings) {
				s.Image = "registry.example.com/web-stuck:{sha}"
				s.Timeout = 10 * time.Minute
			})
			return runnertest.Long{
				Job:     job(st),
				Started: func(t *testing.T, out *runnertest.Recorder) { out.WaitLine(t, "/web: tasks healthy 0/2") },
				Ended: func(t *testing.T) {
					if img, _ := m.Image("/web"); img != good || !m.Healthy("/web") {
						t.Errorf("/web runs %q, healthy %v: want it rolled back to %q", img, m.Healthy("/web"), good)
					}
				},
				GoesOn: func(t *testing.T) {
					if img, _ := m.Image("/web"); img != "registry.example.com/web-stuck:"+sha1 {
						t.Errorf("/web runs %q: the deployment was not left to Marathon", img)
					}
				},
			}
		},
		Outlives: true,
	})
}

// stuck is the simulator's behaviour, but for images named "stuck",
// whose tasks stay staged: their deployment never ends by itself.
func stuck(image string) marathontest.Behaviour {
	if strings.Contains(image, "stuck") {
		return marathontest.Behaviour{StartTicks: math.MaxInt32}
	}
	return marathontest.DefaultBehaviour(image)
}
