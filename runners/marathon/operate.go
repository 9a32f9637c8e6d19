package marathon

import (
	"context"
	"fmt"
	"strconv"

	"github.com/deployq/deployq/queue"
)

// Operate scales, stops, starts or restarts the environment's apps (not
// the canary), following each deployment until the app is healthy.
// stop remembers the instance count in a label, for start.
func (r *Runner) Operate(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	x, stop, err := r.start(ctx, job, out)
	if err != nil {
		return queue.Result{}, err
	}
	defer stop()
	var failure error
	for _, id := range x.st.AppID {
		if failure = x.operate(ctx, id, job.Op, job.Instances); failure != nil {
			break
		}
	}
	if failure == nil {
		x.table()
		return queue.Result{OK: true}, nil
	}
	if ctx.Err() != nil {
		// a cancel: Marathon's rollback of the running deployment
		x.rollback(context.WithoutCancel(ctx), context.Cause(ctx).Error())
		x.table()
		return queue.Result{}, ctx.Err()
	}
	x.table()
	return queue.Result{Message: failure.Error()}, nil
}

func (x *run) operate(ctx context.Context, id, op string, n int) error {
	def, _, err := x.c.GetApp(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %v", id, notFound(err, id))
	}
	prev := def.Clone()
	next := def.Clone()
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	cur := instancesOf(def)
	var res DeploymentResult
	switch op {
	case "scale":
		x.logf("%s: scale %d -> %d", id, cur, n)
		next.Instances = &n
		delete(next.Labels, LabelStoppedInstances)
	case "stop":
		if cur == 0 {
			x.logf("%s: already stopped", id)
			return nil
		}
		x.logf("%s: stop (scale %d -> 0, remembered for start)", id, cur)
		zero := 0
		next.Instances = &zero
		next.Labels[LabelStoppedInstances] = strconv.Itoa(cur)
	case "start":
		v, ok := def.Labels[LabelStoppedInstances]
		was, err := strconv.Atoi(v)
		if !ok || err != nil || was <= 0 {
			if cur > 0 {
				x.logf("%s: already running %d instance(s)", id, cur)
				return nil
			}
			return fmt.Errorf("%s was not stopped by deployq: no instance count to start with (use scale)", id)
		}
		x.logf("%s: start (scale 0 -> %d)", id, was)
		next.Instances = &was
		delete(next.Labels, LabelStoppedInstances)
	case "restart":
		x.logf("%s: restart %d task(s)", id, cur)
		res, err = x.c.Restart(ctx, id)
		if err != nil {
			return fmt.Errorf("%s: %v", id, err)
		}
	default:
		return fmt.Errorf("unknown operation %q", op)
	}
	if op != "restart" {
		if res, err = x.put(ctx, next, false); err != nil {
			return fmt.Errorf("%s: %v", id, err)
		}
	}
	ch := &change{id: id, prev: prev, deployment: res.DeploymentID, version: res.Version,
		instances: instancesOf(next), checks: len(next.HealthChecks), state: op}
	x.changed = append(x.changed, ch)
	x.logf("%s: deployment %s", id, res.DeploymentID)
	if err := x.follow(ctx, ch, x.st.timeout(), op); err != nil {
		ch.state = op + " failed"
		return err
	}
	ch.state = op + " done"
	return nil
}
