// Package ssh runs deploys as a batch rollout over SSH
// (golang.org/x/crypto/ssh): a canary first, then batches, with a brake
// that stops the rollout when too many fail and rolls back every host the
// deploy changed (those done, and those that failed after a step started
// there). Host keys are always verified against known_hosts unless
// insecure_ignore_host_key is set, which is logged loudly.
//
// The files follow the run: settings.go, inventory.go (hosts and their
// labels), connect.go (keys, agent, host keys), rollout.go (canary,
// batches, bake, pause, brake, rollback), step.go (a step on a host:
// session, environment, retries, ending its remote processes) and
// summary.go (the table that ends the log).
package ssh

import (
	"context"
	"fmt"

	"github.com/deployq/deployq/queue"
)

// Runner is the ssh runner.
type Runner struct {
	// Warn is told when a host key is not verified.
	Warn func(msg string)
}

// New returns an ssh runner that tells warn when host keys are not
// verified.
func New(warn func(string)) *Runner { return &Runner{Warn: warn} }

// Run implements queue.Runner: it rolls job out to the hosts of its
// settings. A rollout the brake stopped ran and failed; hosts that cannot
// be read, keys that cannot be loaded or a bad plan could not run.
func (r *Runner) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	st, ok := job.Settings.(*Settings)
	if !ok {
		return queue.Result{}, fmt.Errorf("ssh: settings are %T", job.Settings)
	}
	if steps := deploySteps(st.Steps); job.Op != queue.OpNoop && len(steps) != len(st.Steps) { // the noop step is the dry run's
		c := *st
		c.Steps = steps
		st = &c
	}
	hosts, err := st.hosts(ctx)
	if err != nil {
		return queue.Result{}, err
	}
	if st.CanaryLabel != "" {
		n, err := canaryFirst(hosts, st.CanaryLabel)
		if err != nil {
			return queue.Result{}, err
		}
		st = withCanary(st, n)
	}
	cfg, closeAuth, err := r.clientConfig(st)
	if err != nil {
		return queue.Result{}, err
	}
	defer closeAuth()
	plan, err := batches(st, len(hosts))
	if err != nil {
		return queue.Result{}, err
	}
	ro := &rollout{r: r, st: st, job: job, out: out, cfg: cfg, hosts: hosts, plan: plan,
		parallel: st.Parallel, states: make([]hostState, len(hosts))}
	if st.MaxFailures != "" {
		ro.maxFail, _ = amount(st.MaxFailures, len(hosts))
	}
	if ro.parallel <= 0 {
		ro.parallel = 10
	}
	for i := range ro.states {
		ro.states[i].state = "skipped"
	}
	sys := out.Stream(queue.StreamStdout, "")
	defer sys.Close()
	ro.sys = sys
	fmt.Fprintf(sys, "rollout to %d hosts in %d batches (canary %d), parallel %d, brake after %d failures\n",
		len(hosts), len(plan), plan[0], ro.parallel, ro.maxFail)

	braked := ro.run(ctx)
	if braked && st.Rollback != nil {
		ro.rollBack(ctx)
	}
	summary(sys, hosts, ro.states)
	return ro.result(ctx, braked)
}
