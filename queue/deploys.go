package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Submit validates, resolves and persists a deploy request, then queues
// it. It returns ENotFound (app, env), EInvalid (ref), EForbidden, ELocked,
// EFrozen, EChecksFailed, EUnavailable. An auto-deploy refused for a lock,
// a permission or red checks is recorded as a failed deploy, returned
// along with the error.
func (s *Service) Submit(ctx context.Context, r Request) (*Deploy, error) {
	r.op, r.instances = "", 0
	return s.admit.admit(ctx, r)
}

// Rollback queues a deploy of an earlier version: by default the sha of
// the successful deploy before the current one. ENotFound, EInvalid,
// EConflict (nothing to roll back to), ELocked.
func (s *Service) Rollback(ctx context.Context, r RollbackRequest) (*Deploy, error) {
	req, err := s.admit.rollback(ctx, r)
	if err != nil {
		return nil, err
	}
	return s.admit.admit(ctx, req)
}

// Operate queues an app operation (scale, restart, stop, start) in the
// app+env's lane, through the same rules as a deploy (permissions: the
// deployers; locks), logged, cancellable, one at a time with deploys. It
// returns EUnsupported for runners that cannot, EInvalid, EForbidden,
// ELocked.
func (s *Service) Operate(ctx context.Context, r OpRequest) (*Deploy, error) {
	req, err := s.admit.operation(r, s.runners)
	if err != nil {
		return nil, err
	}
	return s.admit.admit(ctx, req)
}

// Promote deploys to To exactly the sha that last succeeded in From,
// through the same rules as any deploy, with source promotion.
func (s *Service) Promote(ctx context.Context, r PromoteRequest) (*Deploy, error) {
	return s.promoter.byHand(ctx, r)
}

// Recheck passes deploys waiting on sha (every waiting deploy if sha is
// "") through the release rules again: those now let through are queued,
// refused ones fail with the reason. Webhooks call it on status and check
// events; the queue also does now and then in case an event was missed.
func (s *Service) Recheck(ctx context.Context, sha string) error {
	return s.waiting.recheck(ctx, func(d *Deploy) bool { return sha == "" || d.SHA == sha })
}

// Approve records user's approval of a deploy waiting for approval and
// lets it go on when it has enough. The requester cannot approve their
// own deploy; only the environment's approvers may (EForbidden).
func (s *Service) Approve(ctx context.Context, id int64, user string) (*Deploy, error) {
	if err := ValidUser(user); err != nil {
		return nil, err
	}
	return s.approvals.approve(ctx, id, user)
}

// Reject ends a deploy waiting for approval: it becomes canceled, with
// who rejected it and why.
func (s *Service) Reject(ctx context.Context, id int64, user, reason string) (*Deploy, error) {
	if err := ValidUser(user); err != nil {
		return nil, err
	}
	reason, err := CleanReason(reason)
	if err != nil {
		return nil, err
	}
	return s.approvals.reject(ctx, id, user, reason)
}

// Cancel cancels a waiting or queued deploy at once, or stops a running
// one (its runner's process tree is ended; the deploy becomes canceled
// when the runner returns). It never waits for a runner. ENotFound,
// EForbidden, EConflict for a deploy that already ended.
func (s *Service) Cancel(ctx context.Context, id int64, user string) (*Deploy, error) {
	if err := ValidUser(user); err != nil {
		return nil, err
	}
	for range 3 { // a deploy can start under a cancel once: then its run is stopped
		d, err := s.Deploy(ctx, id)
		if err != nil {
			return nil, err
		}
		if app, env, err := s.cat.lookup(d.App, d.Env); err == nil && d.User != user {
			if err := s.access.deploy(ctx, app, env, user, "cancel deploys of"); err != nil {
				return nil, err
			}
		}
		switch d.State {
		case StateQueued, StateWaiting:
			err := s.door.move(ctx, d, StateCanceled, func(d *Deploy) { d.Error = "canceled by " + user },
				"canceled by "+user+" before it ran")
			if ErrorCode(err) == EConflict {
				continue // it just started: stop the run
			}
			if err != nil {
				return nil, err
			}
			s.door.audit(ctx, user, "cancel", numbered(id), "before it ran")
			return d, nil
		case StateRunning, StateVerifying:
			ending, held := s.runs.stop(id, &canceledBy{user: user})
			switch {
			case ending != nil:
				return nil, Errorf(EConflict, "deploy #%d already %s", id, ending.State)
			case !held: // no runner holds it here: end the record
				msg, line := "canceled by "+user, "canceled by "+user+"; no runner held it"
				if s.leases != nil && d.Server != s.server && d.Server != "" {
					line = fmt.Sprintf("canceled by %s; server %s stops its run within %s", user, d.Server, s.leases.every().Round(time.Millisecond))
				}
				if err := s.door.move(ctx, d, StateCanceled, func(d *Deploy) { d.Error = msg }, line); err != nil {
					return nil, err
				}
			}
			s.door.audit(ctx, user, "cancel", numbered(id), "while running")
			return d, nil
		default:
			return nil, Errorf(EConflict, "deploy #%d already %s", id, d.State)
		}
	}
	return nil, Errorf(EConflict, "deploy #%d changed under the cancel; try again", id)
}

// Continue lets a paused deploy go on. ENotFound, EForbidden (deployers
// of its environment, or whoever asked for it), EConflict when it is not
// paused.
func (s *Service) Continue(ctx context.Context, id int64, user string) (*Deploy, error) {
	if err := ValidUser(user); err != nil {
		return nil, err
	}
	d, err := s.Deploy(ctx, id)
	if err != nil {
		return nil, err
	}
	if app, env, err := s.cat.lookup(d.App, d.Env); err == nil && d.User != user {
		if err := s.access.deploy(ctx, app, env, user, "continue deploys of"); err != nil {
			return nil, err
		}
	}
	if !s.runs.resume(id, user) {
		return nil, Errorf(EConflict, "#%d is %s, not paused", id, d.State)
	}
	s.door.audit(ctx, user, "continue", numbered(id), "")
	return d, nil
}

// Deploy returns one deploy (ENotFound), as it really is: a deploy whose
// end is still being stored shows that end.
func (s *Service) Deploy(ctx context.Context, id int64) (*Deploy, error) {
	d, err := s.store.Deploy(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.runs.overlay(d), nil
}

// Deploys lists deploys, newest first, as they really are.
func (s *Service) Deploys(ctx context.Context, f DeployFilter) ([]*Deploy, error) {
	ds, err := s.store.Deploys(ctx, f)
	for i, d := range ds {
		ds[i] = s.runs.overlay(d)
	}
	return ds, err
}

// Log returns stored lines of a deploy after seq.
func (s *Service) Log(ctx context.Context, id, after int64, limit int) ([]LogLine, error) {
	if _, err := s.store.Deploy(ctx, id); err != nil {
		return nil, err
	}
	return s.store.Log(ctx, id, after, limit)
}

// FollowLog calls emit with the lines of a deploy after seq `after`, as
// they come, until the deploy ends or ctx is done, and returns the deploy
// as it ended. A follower that falls behind catches up from the store; it
// never slows the runner.
func (s *Service) FollowLog(ctx context.Context, id, after int64, emit func([]LogLine) error) (*Deploy, error) {
	remote := func(id int64) bool { return s.leases != nil && !s.runs.held(id) }
	return follow(ctx, s.store, s.logs, id, after, remote, emit)
}

// Changes says what a deploy brings to its environment compared with what
// runs there now: a link and a commit count ("" when unknown).
func (s *Service) Changes(ctx context.Context, d *Deploy) (string, int) {
	app, _, err := s.cat.lookup(d.App, d.Env)
	if err != nil || s.comparer == nil || app.Repo == "" {
		return "", 0
	}
	cur, err := s.store.LastSucceeded(ctx, d.App, d.Env, 0)
	if err != nil || cur == nil || cur.SHA == d.SHA {
		return "", 0
	}
	url, n, err := s.comparer.Compare(ctx, app, cur.SHA, d.SHA)
	if err != nil {
		s.log.Warn("comparing", "deploy", d.ID, "err", err)
		return "", 0
	}
	return url, n
}

// Preview resolves ref for app in env and says what a deploy of it would
// bring: its sha, the sha running there now, and the compare link with
// its commit count when the app has a repo.
func (s *Service) Preview(ctx context.Context, appName, envName, ref string) (sha, current, url string, commits int, err error) {
	app, env, err := s.cat.lookup(appName, envName)
	if err != nil {
		return "", "", "", 0, err
	}
	if ref == "" {
		ref = app.DefaultRef
	}
	if !ValidRef(ref) {
		return "", "", "", 0, Errorf(EInvalid, "invalid ref %q: use a sha, branch or tag", ref)
	}
	if sha, err = s.resolver.Resolve(ctx, app, ref); err != nil {
		return "", "", "", 0, err
	}
	if cur, err := s.store.LastSucceeded(ctx, app.Name, env.Name, 0); err == nil && cur != nil {
		current = cur.SHA
	}
	url, commits = s.Changes(ctx, &Deploy{App: app.Name, Env: env.Name, SHA: sha})
	return sha, current, url, commits, nil
}

// MaxRefs is how many refs Refs returns at most.
const MaxRefs = 100

// Refs lists the branches and tags of app whose names contain query
// (any case), the app's default ref first, at most MaxRefs; none when
// its refs cannot be listed.
func (s *Service) Refs(ctx context.Context, appName, query string) ([]string, error) {
	app, _, err := s.cat.lookup(appName, "")
	if err != nil {
		return nil, err
	}
	l, ok := s.resolver.(RefLister)
	if !ok {
		return nil, nil
	}
	all, err := l.Refs(ctx, app)
	if err != nil {
		return nil, err
	}
	q := strings.ToLower(query)
	var out []string
	if strings.Contains(strings.ToLower(app.DefaultRef), q) && slices.Contains(all, app.DefaultRef) {
		out = append(out, app.DefaultRef)
	}
	for _, r := range all {
		if len(out) == MaxRefs {
			break
		}
		if r != app.DefaultRef && strings.Contains(strings.ToLower(r), q) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Live asks the runner of app in env what runs there now (the images in
// the cluster, ...): "" when it cannot tell.
func (s *Service) Live(ctx context.Context, appName, envName string) (string, error) {
	app, env, err := s.cat.lookup(appName, envName)
	if err != nil {
		return "", err
	}
	in, ok := s.runners[env.Runner].(Inspector)
	if !ok {
		return "", nil
	}
	return in.Live(ctx, app, env)
}
