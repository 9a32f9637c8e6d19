package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// RollbackRequest asks to deploy an earlier sha again.
type RollbackRequest struct {
	App, Env string // with Of, "" or Of's own
	To       string // "": the previous successful deploy; "#N": deploy N; else a ref
	// Of, when set, rolls back that deploy (a Roll back button pressed on
	// its message): its app and env go back to what ran before it.
	Of         int64
	User       string
	ChatThread string
}

// rollback turns a rollback into the deploy request it means: the sha of
// the successful deploy before the current one (skipping redeploys of the
// same sha), of #N, or a ref. EConflict when there is nothing to roll
// back to.
func (a *admission) rollback(ctx context.Context, r RollbackRequest) (Request, error) {
	if r.Of != 0 {
		var err error
		if r, err = a.undo(ctx, r); err != nil {
			return Request{}, err
		}
	}
	app, env, err := a.cat.target(r.App, r.Env)
	if err != nil {
		return Request{}, err
	}
	req := Request{App: app.Name, Env: env.Name, User: r.User, Source: SourceRollback, ChatThread: r.ChatThread}
	switch {
	case r.To == "":
		cur, err := a.store.LastSucceeded(ctx, app.Name, env.Name, 0)
		if err != nil {
			return req, err
		}
		if cur == nil {
			return req, Errorf(EConflict, "%s has never been deployed to %s: nothing to roll back", app.Name, env.Name)
		}
		prev := cur
		for prev != nil && prev.SHA == cur.SHA {
			if prev, err = a.store.LastSucceeded(ctx, app.Name, env.Name, prev.ID); err != nil {
				return req, err
			}
		}
		if prev == nil {
			return req, Errorf(EConflict, "%s in %s has no earlier successful deploy than #%d (%s) to roll back to",
				app.Name, env.Name, cur.ID, ShortSHA(cur.SHA))
		}
		req.Ref, req.SHA = prev.SHA, prev.SHA
		if req.Params, err = paramsOf(ctx, a.store, prev.ID); err != nil {
			return req, err
		}
	case strings.HasPrefix(r.To, "#"):
		var id int64
		if _, err := fmt.Sscanf(r.To, "#%d", &id); err != nil || numbered(id) != r.To {
			return req, Errorf(EInvalid, "bad deploy number %q: use #N", r.To)
		}
		d, err := a.store.Deploy(ctx, id)
		if err != nil {
			return req, err
		}
		if d.App != app.Name || d.Env != env.Name {
			return req, Errorf(EInvalid, "deploy #%d is %s in %s, not %s in %s", id, d.App, d.Env, app.Name, env.Name)
		}
		if d.Op != "" {
			return req, Errorf(EInvalid, "#%d is an operation (%s), not a deploy", id, d.Describe())
		}
		if d.State != StateSucceeded {
			return req, Errorf(EConflict, "deploy #%d %s; roll back only to a deploy that succeeded", id, d.State)
		}
		req.Ref, req.SHA = d.SHA, d.SHA
		if req.Params, err = paramsOf(ctx, a.store, d.ID); err != nil {
			return req, err
		}
	default:
		req.Ref = r.To
	}
	return req, nil
}

// undo turns the rollback of deploy r.Of into a rollback to the last
// successful deploy before it. After a deploy that succeeded, that is the
// last one of another sha (a redeploy of the same sha undoes nothing);
// after one that failed or was interrupted, the last that succeeded,
// whatever its sha: what ran before the failure.
func (a *admission) undo(ctx context.Context, r RollbackRequest) (RollbackRequest, error) {
	d, err := a.store.Deploy(ctx, r.Of)
	if err != nil {
		return r, err
	}
	switch {
	case r.To != "":
		return r, Errorf(EInvalid, "roll back #%d or roll back to %s, not both", d.ID, r.To)
	case r.App != "" && r.App != d.App || r.Env != "" && r.Env != d.Env:
		return r, Errorf(EInvalid, "deploy #%d is %s in %s, not %s in %s", d.ID, d.App, d.Env, r.App, r.Env)
	case d.Op != "":
		return r, Errorf(EInvalid, "#%d is an operation (%s), not a deploy: nothing to roll back", d.ID, d.Describe())
	case !d.State.Terminal():
		return r, Errorf(EConflict, "deploy #%d is %s; roll it back once it ended", d.ID, d.State)
	case d.StartedAt.IsZero():
		return r, Errorf(EConflict, "deploy #%d never ran (%s): nothing to roll back", d.ID, d.State)
	}
	prev, err := a.store.LastSucceeded(ctx, d.App, d.Env, d.ID)
	for err == nil && prev != nil && d.State == StateSucceeded && prev.SHA == d.SHA {
		prev, err = a.store.LastSucceeded(ctx, d.App, d.Env, prev.ID)
	}
	if err != nil {
		return r, err
	}
	if prev == nil {
		return r, Errorf(EConflict, "%s in %s has no earlier successful deploy than #%d (%s) to roll back to",
			d.App, d.Env, d.ID, ShortSHA(d.SHA))
	}
	r.App, r.Env, r.To, r.Of = d.App, d.Env, numbered(prev.ID), 0
	return r, nil
}

// OpRequest asks for an app operation.
type OpRequest struct {
	App, Env   string // Env "" means the app's default
	Op         string // scale, restart, stop, start
	Instances  int    // for scale
	User       string
	Source     Source
	ChatThread string
}

// operation turns an app operation into the request the queue admits
// like a deploy. EInvalid for an unknown operation or count,
// EUnsupported for runners that cannot.
func (a *admission) operation(r OpRequest, runners map[string]Runner) (Request, error) {
	app, env, err := a.cat.target(r.App, r.Env)
	if err != nil {
		return Request{}, err
	}
	if !slices.Contains(Ops, r.Op) {
		return Request{}, Errorf(EInvalid, "unknown operation %q (known: %s)", r.Op, strings.Join(Ops, ", "))
	}
	if r.Op == "scale" && (r.Instances < 0 || r.Instances > 10000) {
		return Request{}, Errorf(EInvalid, "cannot scale to %d instances", r.Instances)
	}
	if r.Op != "scale" {
		r.Instances = 0
	}
	if _, ok := runners[env.Runner].(Operator); !ok {
		return Request{}, Errorf(EUnsupported, "the %s runner of %s in %s cannot %s (runners that can: marathon)", env.Runner, app.Name, env.Name, r.Op)
	}
	return Request{App: app.Name, Env: env.Name, User: r.User, Source: r.Source, ChatThread: r.ChatThread,
		op: r.Op, instances: r.Instances}, nil
}
