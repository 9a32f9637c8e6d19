package queue

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Approve records user's approval of a deploy waiting for approval and
// lets it go on when it has enough. The requester cannot approve their
// own deploy; only the environment's approvers may (EForbidden).
func (s *Service) Approve(ctx context.Context, id int64, user string) (*Deploy, error) {
	d, env, err := s.approvable(ctx, id)
	if err != nil {
		return nil, err
	}
	if user == d.User {
		return nil, Errorf(EForbidden, "%s asked for #%d: someone else must approve it (approvals: %s)", user, id, orDeployers(s.approversOf(env)))
	}
	if err := s.mayApprove(ctx, env, user, "approve"); err != nil {
		return nil, err
	}
	if err := s.store.AddApproval(ctx, &Approval{DeployID: id, User: user, Approve: true, At: s.clock.Now().UTC()}); err != nil {
		return nil, err
	}
	s.audit(ctx, user, "approve", fmt.Sprintf("#%d", id), d.Describe())
	s.systemLine(ctx, id, "approved by "+user)
	s.reevaluate(ctx, d)
	return s.store.Deploy(ctx, id)
}

// Reject ends a deploy waiting for approval: it becomes canceled, with
// who rejected it and why.
func (s *Service) Reject(ctx context.Context, id int64, user, reason string) (*Deploy, error) {
	d, env, err := s.approvable(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.mayApprove(ctx, env, user, "reject"); err != nil {
		return nil, err
	}
	if err := s.store.AddApproval(ctx, &Approval{DeployID: id, User: user, Approve: false, Reason: reason, At: s.clock.Now().UTC()}); err != nil {
		return nil, err
	}
	msg := "rejected by " + user
	if reason != "" {
		msg += ": " + reason
	}
	s.audit(ctx, user, "reject", fmt.Sprintf("#%d", id), reason)
	if err := s.moveWithLine(ctx, d, StateCanceled, func(d *Deploy) { d.Error = msg }, msg); err != nil {
		return nil, err
	}
	s.forgetWait(id)
	s.notify(d)
	return d, nil
}

// mayApprove: the approvers (else the deployers) of env.
func (s *Service) mayApprove(ctx context.Context, env *Environment, user, what string) error {
	if !s.may(ctx, s.approversOf(env), user) {
		return Errorf(EForbidden, "%s may not %s deploys to %s (approvals: %s)", user, what, env.Name, orDeployers(s.approversOf(env)))
	}
	return nil
}

// approvable finds a deploy that waits for approval.
func (s *Service) approvable(ctx context.Context, id int64) (*Deploy, *Environment, error) {
	d, err := s.store.Deploy(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	_, env, err := s.Lookup(d.App, d.Env)
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

// NeedsApproval reports whether d waits for approvals (for Approve and
// Reject buttons).
func (s *Service) NeedsApproval(d *Deploy) bool {
	if d.State != StateWaiting || d.Op != "" {
		return false
	}
	_, env, err := s.Lookup(d.App, d.Env)
	return err == nil && env.Approvals.Required > 0
}

// FreezeRequest asks for a one-off freeze.
type FreezeRequest struct {
	Env    string
	Owner  string
	Reason string
	TTL    time.Duration // 0: until unfrozen
}

// Freeze freezes an environment: deploys typed by people are refused
// (but an admin's deploy!!), automatic ones wait. Lockers may (EForbidden).
func (s *Service) Freeze(ctx context.Context, r FreezeRequest) (*Freeze, error) {
	if !s.envKnown(r.Env) {
		return nil, Errorf(ENotFound, "unknown environment %q", r.Env)
	}
	if err := s.mayFreeze(ctx, r.Env, r.Owner, "freeze"); err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	f := &Freeze{Env: r.Env, Owner: r.Owner, Reason: r.Reason, CreatedAt: now}
	if r.TTL > 0 {
		f.EndsAt = now.Add(r.TTL)
	}
	if err := s.store.PutFreeze(ctx, f); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.freezes[r.Env] = f
	s.mu.Unlock()
	detail := r.Reason
	if r.TTL > 0 {
		detail = "for " + Age(r.TTL) + ": " + r.Reason
	}
	s.audit(ctx, r.Owner, "freeze", r.Env, detail)
	s.recheckEnv(ctx, r.Env)
	return f, nil
}

// Unfreeze ends an environment's one-off freeze (ENotFound if none);
// deploys waiting for it go on.
func (s *Service) Unfreeze(ctx context.Context, env, user string) (*Freeze, error) {
	if !s.envKnown(env) {
		return nil, Errorf(ENotFound, "unknown environment %q", env)
	}
	if err := s.mayFreeze(ctx, env, user, "unfreeze"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	f := s.freezes[env]
	s.mu.Unlock()
	if f == nil || (!f.EndsAt.IsZero() && !s.clock.Now().Before(f.EndsAt)) {
		return nil, Errorf(ENotFound, "%s is not frozen by hand (freeze windows from the config end by themselves)", env)
	}
	if err := s.store.DeleteFreeze(ctx, env); err != nil {
		return nil, err
	}
	s.mu.Lock()
	delete(s.freezes, env)
	s.mu.Unlock()
	s.audit(ctx, user, "unfreeze", env, "frozen by "+f.Owner+": "+f.Reason)
	s.recheckEnv(ctx, env)
	return f, nil
}

// mayFreeze: the environment's lockers (else deployers) of every app.
func (s *Service) mayFreeze(ctx context.Context, env, user, what string) error {
	if s.isAdmin(ctx, nil, user) {
		return nil
	}
	if err := s.mayLock(ctx, env, "", user); err != nil {
		return Errorf(EForbidden, "%s", strings.Replace(ErrorMessage(err), "may not lock or unlock", "may not "+what, 1))
	}
	return nil
}

// FreezeStatus is what holds an environment now, for `queue` and the API.
func (s *Service) FreezeStatus(envName string) string {
	for _, a := range s.apps {
		if env := a.Env(envName); env != nil {
			now := s.clock.Now()
			if f := s.frozen(env, now); f != nil {
				return f.text(envName, now)
			}
			return ""
		}
	}
	return ""
}

// recheckEnv looks again at the waiting deploys of env.
func (s *Service) recheckEnv(ctx context.Context, env string) {
	waiting, err := s.store.Deploys(ctx, DeployFilter{States: []State{StateWaiting}, Limit: -1})
	if err != nil {
		return
	}
	for _, d := range waiting {
		if d.Env == env {
			s.reevaluate(ctx, d)
		}
	}
}

// UnlockAll removes every lock; admins only.
func (s *Service) UnlockAll(ctx context.Context, user string) ([]*Lock, error) {
	if !s.isAdmin(ctx, nil, user) {
		return nil, Errorf(EForbidden, "%s may not unlock all (admins: %s)", user, orNobody(s.admins))
	}
	live, err := s.Locks(ctx)
	if err != nil {
		return nil, err
	}
	var done []*Lock
	for _, l := range live {
		mu := s.envMus[l.Env]
		mu.Lock()
		err := s.store.DeleteLock(ctx, l.Env, l.App)
		if err == nil {
			s.setLock(l.Env, l.App, nil)
		}
		mu.Unlock()
		if err != nil {
			continue
		}
		s.audit(ctx, user, "unlock", l.Scope(), "unlock all; held by "+l.Owner)
		for _, n := range s.notifiers {
			n.LockChanged(l, false)
		}
		s.kickEnv(l.Env)
		done = append(done, l)
	}
	return done, nil
}

// PromoteRequest asks to deploy what runs in one environment to another.
type PromoteRequest struct {
	App, From, To string
	User          string
	ChatThread    string
}

// Promote deploys to To exactly the sha that last succeeded in From,
// through the same rules as any deploy, with source promotion.
func (s *Service) Promote(ctx context.Context, r PromoteRequest) (*Deploy, error) {
	app, from, err := s.Lookup(r.App, r.From)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.Lookup(r.App, r.To); err != nil {
		return nil, err
	}
	if r.From == r.To {
		return nil, Errorf(EInvalid, "promote from %s to itself", r.From)
	}
	up, err := s.store.LastSucceeded(ctx, app.Name, from.Name, 0)
	if err != nil {
		return nil, err
	}
	if up == nil {
		return nil, Errorf(EConflict, "nothing to promote: %s has no successful deploy in %s", app.Name, from.Name)
	}
	return s.promote(ctx, up, r.To, r.User, r.ChatThread)
}

func (s *Service) promote(ctx context.Context, up *Deploy, to, user, thread string) (*Deploy, error) {
	d, err := s.Submit(ctx, Request{App: up.App, Env: to, Ref: up.Ref, SHA: up.SHA, User: user,
		Source: SourcePromotion, ChatThread: thread})
	if d != nil {
		s.systemLine(ctx, d.ID, fmt.Sprintf("promotion of #%d: %s (%s), succeeded in %s", up.ID, up.Ref, ShortSHA(up.SHA), up.Env))
	}
	return d, err
}

// MetaPromoted marks an upstream deploy whose promotion was made (or
// given up), so that a restart does not make it twice.
const MetaPromoted = "promoted"

// schedulePromotion arranges for a deploy that succeeded in an
// environment with a promotion rule to be promoted after the soak, at the
// next scheduled time.
func (s *Service) schedulePromotion(d *Deploy, env *Environment, from time.Time) {
	p := env.Promote
	if p == nil || d.Op != "" || d.Source == SourceRollback || d.State != StateSucceeded {
		return
	}
	due := from.Add(p.Soak)
	if p.Schedule != nil {
		due = p.Schedule.Next(due.Add(-time.Second))
	}
	delay := max(due.Sub(s.clock.Now()), 0)
	s.systemLine(s.ctxOr(), d.ID, fmt.Sprintf("promotion to %s at %s (soak %s)", p.To, due.UTC().Format("Mon 2 Jan 15:04:05 MST"), Age(p.Soak)))
	id := d.ID
	t := s.clock.AfterFunc(delay, func() { s.promoteIfSoaked(id, env) })
	s.mu.Lock()
	if old := s.promos[id]; old != nil {
		old.Stop()
	}
	s.promos[id] = t
	s.mu.Unlock()
}

// promoteIfSoaked promotes an upstream deploy if it is still what runs
// there and no deploy failed nor was rolled back there since.
func (s *Service) promoteIfSoaked(id int64, env *Environment) {
	ctx := s.ctx
	if ctx == nil || ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	delete(s.promos, id)
	s.mu.Unlock()
	d, err := s.store.Deploy(ctx, id)
	if err != nil {
		return
	}
	if done, _ := s.Meta(ctx, id, MetaPromoted); done != "" {
		return
	}
	later, err := s.store.Deploys(ctx, DeployFilter{App: d.App, Env: d.Env, Limit: 50})
	if err != nil {
		return
	}
	for _, x := range later {
		if x.ID <= d.ID || x.Op != "" {
			continue
		}
		var why string
		switch {
		case x.Source == SourceRollback:
			why = fmt.Sprintf("#%d rolled %s back", x.ID, d.Env)
		case x.State == StateFailed:
			why = fmt.Sprintf("#%d failed in %s", x.ID, d.Env)
		case x.State == StateSucceeded:
			why = fmt.Sprintf("#%d replaced it in %s", x.ID, d.Env)
		}
		if why != "" {
			s.SetMeta(ctx, id, MetaPromoted, "skipped: "+why)
			s.audit(ctx, "deployq", "promotion-skipped", fmt.Sprintf("#%d", id), fmt.Sprintf("not promoted to %s: %s during the soak", env.Promote.To, why))
			s.log.Info("promotion skipped", "deploy", id, "to", env.Promote.To, "why", why)
			return
		}
	}
	if ok, err := s.Once(ctx, fmt.Sprintf("promote:%d", id)); err != nil || !ok {
		return
	}
	s.SetMeta(ctx, id, MetaPromoted, "yes")
	p, err := s.promote(ctx, d, env.Promote.To, d.User, "")
	if err != nil && p == nil {
		s.log.Warn("promotion refused", "deploy", id, "to", env.Promote.To, "err", err)
		s.audit(ctx, "deployq", "promotion-refused", fmt.Sprintf("#%d", id), ErrorMessage(err))
	}
}

// resumePromotions schedules, at start, the promotions of the last
// successful deploys of environments with a promotion rule that were not
// made yet.
func (s *Service) resumePromotions(ctx context.Context) {
	for _, a := range s.apps {
		for _, env := range a.Environments {
			if env.Promote == nil {
				continue
			}
			d, err := s.store.LastSucceeded(ctx, a.Name, env.Name, 0)
			if err != nil || d == nil || d.Source == SourceRollback {
				continue
			}
			if done, _ := s.Meta(ctx, d.ID, MetaPromoted); done != "" {
				continue
			}
			s.schedulePromotion(d, env, d.FinishedAt)
		}
	}
}

// WaitingFor says why a waiting deploy waits ("waiting for approval: 0 of
// 1 from @release"), "" when it does not or that is not known.
func (s *Service) WaitingFor(id int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, why, _ := strings.Cut(s.waitRule[id], ": ")
	return why
}

// Freezes lists the one-off freezes that hold now.
func (s *Service) Freezes(ctx context.Context) ([]*Freeze, error) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Freeze
	for _, f := range s.freezes {
		if f.EndsAt.IsZero() || now.Before(f.EndsAt) {
			c := *f
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out, nil
}

// Preview resolves ref for app in env and says what a deploy of it would
// bring: its sha, the sha running there now, and the compare link with
// its commit count when the app has a repo.
func (s *Service) Preview(ctx context.Context, appName, envName, ref string) (sha, current, url string, commits int, err error) {
	app, env, err := s.Lookup(appName, envName)
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
