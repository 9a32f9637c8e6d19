package ssh

import (
	"context"
	"fmt"
	"strings"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
)

// noopStep is the name of the step that runs in a dry run only.
const noopStep = "noop"

// Noop implements queue.Rehearser: the plan of the rollout (its hosts,
// batch by batch, and the steps each would run), and, when the settings
// have a step named noop, that step alone on every host, rolled out as a
// deploy would be (it says what the deploy would change there).
func (r *Runner) Noop(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	st, ok := job.Settings.(*Settings)
	if !ok {
		return queue.Result{}, fmt.Errorf("ssh: settings are %T", job.Settings)
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
	plan, err := batches(st, len(hosts))
	if err != nil {
		return queue.Result{}, err
	}
	w := out.Stream(queue.StreamStdout, "")
	defer w.Close()
	fmt.Fprintf(w, "dry run: %s@%s (%s) to %s would roll out to %d hosts in %d batches\n", job.App, job.Ref, queue.ShortSHA(job.SHA), job.Env,
		len(hosts), len(plan))
	i := 0
	for b, n := range plan {
		var names []string
		for _, h := range hosts[i : i+n] {
			names = append(names, h.name)
		}
		i += n
		label := fmt.Sprintf("batch %d", b+1)
		if b == 0 {
			label += " (canary)"
		}
		fmt.Fprintf(w, "  %s: %s\n", label, strings.Join(names, " "))
	}
	var dry []Step
	for _, s := range st.Steps {
		if s.Name == noopStep {
			dry = append(dry, s)
			continue
		}
		cmd, _ := runners.ExpandShell(s.Command, runners.Placeholders(job))
		fmt.Fprintf(w, "  step %s: %s\n", s.Name, cmd)
	}
	if len(dry) == 0 {
		fmt.Fprintln(w, "no step is named noop: nothing runs on the hosts")
		return queue.Result{OK: true}, nil
	}
	fmt.Fprintln(w, "running the noop step on every host, as the rollout would")
	only := *st
	only.Steps, only.Rollback = dry, nil
	job.Settings = &only
	return r.Run(ctx, job, out)
}

// deploySteps are the steps of a deploy: all but the dry run's.
func deploySteps(steps []Step) []Step {
	var out []Step
	for _, s := range steps {
		if s.Name != noopStep {
			out = append(out, s)
		}
	}
	return out
}
