package marathon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
)

// followEvents reads /v2/events, logs task failures of the apps being
// followed and wakes the follower on anything about them. Without an
// event stream, following polls alone.
func (x *run) followEvents(ctx context.Context, attached chan<- bool) {
	once := sync.Once{}
	err := x.c.Events(ctx, func(e Event) {
		once.Do(func() { attached <- true })
		x.mu.Lock()
		v, ours := x.version[e.AppID]
		if ours && e.Type == "status_update_event" && failedState(e.TaskStatus) && (v == "" || e.Version == v) {
			x.failed[e.AppID] = append(x.failed[e.AppID], fmt.Sprintf("task %s on %s: %s: %s", e.TaskID, e.Host, e.TaskStatus, e.Message))
		}
		x.mu.Unlock()
		if ours || strings.HasPrefix(e.Type, "deployment_") {
			select {
			case x.wake <- struct{}{}:
			default:
			}
		}
	})
	once.Do(func() { attached <- false })
	_ = err
}

func failedState(s string) bool {
	switch s {
	case "TASK_FAILED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE", "TASK_UNREACHABLE":
		return true
	}
	return false
}

// sleep waits d, or less when an event about our apps arrives.
func (x *run) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-x.wake:
	}
	return nil
}

// follow waits until ch's deployment is gone and every task of its
// version runs and is healthy. New tasks that fail or fail health checks
// for longer than health_grace fail it, as does the timeout.
func (x *run) follow(ctx context.Context, ch *change, timeout time.Duration, phase string) error {
	x.mu.Lock()
	x.version[ch.id] = ch.version
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		delete(x.version, ch.id)
		x.mu.Unlock()
	}()
	deadline := time.Now().Add(timeout)
	var unhealthySince time.Time
	lastMsg, lastFailure := "", ""
	failures := 0
	for {
		ds, err := x.c.Deployments(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			x.logf("%s: reading deployments: %v", ch.id, err)
		}
		_, st, err := x.c.GetApp(ctx, ch.id)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			x.logf("%s: reading the app: %v", ch.id, err)
		}
		if err == nil {
			healthy, running, unhealthy := 0, 0, 0
			for i := range st.Tasks {
				t := &st.Tasks[i]
				if (phase == "deploy" || phase == "restart") && t.Version != ch.version {
					continue
				}
				if t.Running() {
					running++
				}
				if t.Healthy(ch.checks) {
					healthy++
				}
				if t.Unhealthy() {
					unhealthy++
				}
			}
			msg := fmt.Sprintf("tasks healthy %d/%d", healthy, ch.instances)
			if unhealthy > 0 {
				msg += fmt.Sprintf(", %d failing health checks", unhealthy)
			}
			if msg != lastMsg {
				lastMsg = msg
				x.logf("%s: %s", ch.id, msg)
				x.out.Progress(queue.Progress{Phase: phase, Done: healthy, Total: ch.instances, Message: ch.id + ": " + msg})
			}
			// task failures: from the event stream, or the app's last one
			x.mu.Lock()
			fs := x.failed[ch.id]
			delete(x.failed, ch.id)
			x.mu.Unlock()
			if !x.events && st.LastTaskFailure != nil && st.LastTaskFailure.TaskID != lastFailure &&
				(phase != "deploy" || st.LastTaskFailure.Version == ch.version) {
				f := st.LastTaskFailure
				fs = append(fs, fmt.Sprintf("task %s on %s: %s: %s", f.TaskID, f.Host, f.State, f.Message))
			}
			if st.LastTaskFailure != nil {
				lastFailure = st.LastTaskFailure.TaskID
			}
			for _, f := range fs {
				x.logf("%s: %s", ch.id, f)
			}
			failures += len(fs)
			present := affects(ds, ch.id, ch.deployment)
			if !present && ds != nil && healthy >= ch.instances {
				x.logf("%s: healthy (%d/%d)", ch.id, healthy, ch.instances)
				return nil
			}
			if !present && ds != nil && ch.instances == 0 {
				return nil
			}
			// a rollback or an operation only has its timeout: old tasks
			// may fail on their way out
			bad := phase == "deploy" && (unhealthy > 0 || len(fs) > 0)
			switch {
			case bad && unhealthySince.IsZero():
				unhealthySince = time.Now()
			case !bad && running > 0 && healthy == running:
				unhealthySince = time.Time{} // all new tasks healthy again
			}
			if !unhealthySince.IsZero() && time.Since(unhealthySince) >= x.st.grace() {
				return fmt.Errorf("%s: unhealthy: %s, %d task failure(s), for more than %s", ch.id, msg, failures, x.st.grace())
			}
			if phase == "deploy" && !present && ds != nil && unhealthySince.IsZero() && running >= ch.instances && healthy < ch.instances {
				// the deployment ended (someone cancelled it?) without the
				// tasks healthy: give the health checks the grace
				unhealthySince = time.Now()
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not healthy within %s (%s)", ch.id, timeout, lastMsg)
		}
		if err := x.sleep(ctx, x.st.pollInterval()); err != nil {
			return err
		}
	}
}

// bake watches the canary, healthy, for d.
func (x *run) bake(ctx context.Context, id string, d time.Duration) error {
	x.logf("%s: baking for %s", id, d)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if err := x.sleep(ctx, min(x.st.pollInterval(), time.Until(end))); err != nil {
			return err
		}
		_, st, err := x.c.GetApp(ctx, id)
		if err != nil {
			continue
		}
		x.mu.Lock()
		fs := x.failed[id]
		delete(x.failed, id)
		x.mu.Unlock()
		unhealthy := 0
		for i := range st.Tasks {
			if st.Tasks[i].Unhealthy() || !st.Tasks[i].Running() {
				unhealthy++
			}
		}
		if unhealthy > 0 || len(fs) > 0 {
			for _, f := range fs {
				x.logf("%s: %s", id, f)
			}
			return fmt.Errorf("unhealthy while baking: %d task(s) failing", unhealthy+len(fs))
		}
	}
	x.logf("%s: baked %s, healthy", id, d)
	return nil
}
