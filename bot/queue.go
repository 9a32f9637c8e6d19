package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/deployq/deployq/queue"
)

// The queue command: lane by lane (an app in an environment), what runs
// and what waits its turn, in order.

// maxListed is how many deploys of one lane the queue command lists; it
// counts the rest.
const maxListed = 10

func (b *Bot) queue(ctx context.Context, c *Command, _ Message) (Reply, error) {
	env := ""
	if c.Env != "" {
		var err error
		if env, err = b.envName(c.Env); err != nil {
			return Reply{}, err
		}
	}
	sts, err := b.svc.Environments(ctx)
	if err != nil {
		return Reply{}, err
	}
	ds, err := b.svc.Deploys(ctx, queue.DeployFilter{Env: env, Limit: -1,
		States: []queue.State{queue.StateRunning, queue.StateVerifying, queue.StateQueued, queue.StateWaiting}})
	if err != nil {
		return Reply{}, err
	}
	lanes := map[[2]string][]queue.DeployView{}
	for _, d := range ds {
		v := b.svc.View(d)
		if d = v.Deploy; d.State.Holds() || d.State == queue.StateQueued || d.State == queue.StateWaiting {
			k := [2]string{d.App, d.Env}
			lanes[k] = append(lanes[k], v)
		}
	}
	var out []string
	for _, st := range sts {
		vs := lanes[[2]string{st.App, st.Env}]
		if env != "" && st.Env != env || len(vs) == 0 && st.Lock == nil {
			continue
		}
		out = append(out, b.lane(st, vs))
	}
	if len(out) == 0 {
		where := "anywhere"
		if env != "" {
			where = "in " + env
		}
		return Reply{Text: "nothing running or queued " + where}, nil
	}
	return Reply{Text: strings.Join(out, "\n")}, nil
}

// lane says what runs in one app+env, then what waits its turn there,
// in turn (rollbacks first, then the oldest), a line each.
func (b *Bot) lane(st queue.EnvStatus, vs []queue.DeployView) string {
	slices.SortFunc(vs, func(x, y queue.DeployView) int {
		running := func(v queue.DeployView) bool { return v.Deploy.State.Holds() }
		if running(x) != running(y) {
			if running(x) {
				return -1
			}
			return 1
		}
		return queue.CompareTurns(x.Deploy.Source, x.Deploy.ID, y.Deploy.Source, y.Deploy.ID)
	})
	lines := []string{st.App + " in " + st.Env}
	if st.Lock != nil {
		lines[0] += " " + lockText(st.Lock, b.now())
	}
	for i, v := range vs {
		if i == maxListed {
			lines = append(lines, fmt.Sprintf("  … and %d more", len(vs)-maxListed))
			break
		}
		lines = append(lines, "  "+b.inLane(v))
	}
	return strings.Join(lines, "\n")
}

// inLane is one deploy of a lane: "#13 v1.2 (abc1234) by carol: queued";
// a running one says for how long and how far it is, a waiting one why
// it waits.
func (b *Bot) inLane(v queue.DeployView) string {
	d := v.Deploy
	line := fmt.Sprintf("#%d %s by %s: ", d.ID, laneWhat(d), d.User)
	switch {
	case d.State == queue.StateRunning:
		line += "running for " + queue.Age(b.now().Sub(d.StartedAt))
		if p := v.Progress; p != nil && p.Total > 0 {
			line += fmt.Sprintf(", %d/%d", p.Done, p.Total)
		}
		if p := v.Progress; p != nil && p.Phase == queue.PhasePaused {
			line += fmt.Sprintf(", paused (continue #%d)", d.ID)
		}
	case d.State == queue.StateVerifying:
		line += "verifying"
		if p := v.Progress; p != nil && p.Message != "" {
			line += ", " + p.Message
		}
	case v.Waiting != nil && v.Waiting.Reason != "":
		line += v.Waiting.Reason
	default:
		line += string(d.State)
	}
	return line
}

// laneWhat is what a deploy brings, within its lane: "v1.2 (abc1234)",
// "3f9c2e1" for a sha, "scale to 5" for an operation.
func laneWhat(d *queue.Deploy) string {
	switch {
	case d.Op == "scale":
		return fmt.Sprintf("scale to %d", d.Instances)
	case d.Op != "":
		return d.Op
	case d.Ref == d.SHA || d.Ref == "":
		return queue.ShortSHA(d.SHA)
	}
	return fmt.Sprintf("%s (%s)", d.Ref, queue.ShortSHA(d.SHA))
}

// envName is the name of the environment that name stands for: an
// environment's own name first, then an alias. ENotFound if none.
func (b *Bot) envName(name string) (string, error) {
	for _, a := range b.svc.Apps() {
		for _, e := range a.Environments {
			if e.Name == name {
				return e.Name, nil
			}
		}
	}
	for _, a := range b.svc.Apps() {
		if e := a.Env(name); e != nil {
			return e.Name, nil
		}
	}
	return "", queue.Errorf(queue.ENotFound, "unknown environment %q", name)
}
