package queue

import "context"

// approvalDesk takes the answers to deploys that wait for approval.
type approvalDesk struct {
	store   Store
	cat     *catalog
	access  *access
	door    *door
	logs    *logHub
	waiting *waitingBook
	clock   Clock
}

// approve records user's approval and lets the deploy go on when it has
// enough. The requester cannot approve their own deploy; only the
// environment's approvers may (EForbidden).
func (a *approvalDesk) approve(ctx context.Context, id int64, user string) (*Deploy, error) {
	d, env, err := a.approvable(ctx, id)
	if err != nil {
		return nil, err
	}
	if user == d.User {
		return nil, Errorf(EForbidden, "%s asked for #%d: someone else must approve it (approvals: %s)", user, id, orDeployers(approversOf(env)))
	}
	if err := a.access.approve(ctx, env, user, "approve"); err != nil {
		return nil, err
	}
	if err := a.store.AddApproval(ctx, &Approval{DeployID: id, User: user, Approve: true, At: a.clock.Now().UTC()}); err != nil {
		return nil, err
	}
	a.door.audit(ctx, user, "approve", numbered(id), d.Describe())
	a.logs.line(ctx, id, "approved by "+user)
	a.waiting.reevaluate(ctx, d)
	return a.store.Deploy(ctx, id)
}

// reject ends a deploy waiting for approval: it becomes canceled, with
// who rejected it and why.
func (a *approvalDesk) reject(ctx context.Context, id int64, user, reason string) (*Deploy, error) {
	d, env, err := a.approvable(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.access.approve(ctx, env, user, "reject"); err != nil {
		return nil, err
	}
	if err := a.store.AddApproval(ctx, &Approval{DeployID: id, User: user, Approve: false, Reason: reason, At: a.clock.Now().UTC()}); err != nil {
		return nil, err
	}
	msg := "rejected by " + user
	if reason != "" {
		msg += ": " + reason
	}
	a.door.audit(ctx, user, "reject", numbered(id), reason)
	if err := a.door.move(ctx, d, StateCanceled, func(d *Deploy) { d.Error = msg }, msg); err != nil {
		return nil, err
	}
	return d, nil
}

// approvable finds a deploy that waits for approval.
func (a *approvalDesk) approvable(ctx context.Context, id int64) (*Deploy, *Environment, error) {
	d, err := a.store.Deploy(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	_, env, err := a.cat.lookup(d.App, d.Env)
	if err != nil {
		return nil, nil, err
	}
	if env.Approvals.Required <= 0 || d.Op != "" {
		return nil, nil, Errorf(EConflict, "#%d needs no approval (%s has no approvals rule)", id, env.Name)
	}
	if d.State != StateWaiting {
		return nil, nil, Errorf(EConflict, "#%d is %s, not waiting for approval", id, d.State)
	}
	return d, env, nil
}

// needs reports whether d waits where approvals are required (for
// Approve and Reject buttons).
func (a *approvalDesk) needs(d *Deploy) bool {
	if d.State != StateWaiting || d.Op != "" {
		return false
	}
	_, env, err := a.cat.lookup(d.App, d.Env)
	return err == nil && env.Approvals.Required > 0
}
