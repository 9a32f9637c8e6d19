package queue

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Admission is a deploy before the release rules: about to be stored
// (Deploy.ID is 0), or waiting and looked at again (Recheck).
type Admission struct {
	App      *App
	Env      *Environment
	Deploy   *Deploy
	Override bool // deploy!!: an admin overrides a freeze
	Recheck  bool
	Now      time.Time
}

// Verdict is what a rule says of an admission that it does not let
// through: wait (Reason; look again at Until, or on an event when zero),
// or refuse (Err, whose message names the rule).
type Verdict struct {
	Rule   string
	Wait   bool
	Reason string
	Until  time.Time
	Err    error
}

// asWaiting is the verdict as it is kept with a waiting deploy.
func (v *Verdict) asWaiting() *Waiting {
	return &Waiting{Rule: v.Rule, Reason: v.Reason, Until: v.Until}
}

// Rule is one release rule. Check returns nil to let the deploy through.
type Rule interface {
	Name() string
	Check(ctx context.Context, a *Admission) *Verdict
}

// chain is the one list of rules every deploy passes, whatever asked for
// it, in order: who may, locks, freezes, required checks, approvals.
type chain []Rule

// judge runs the chain; the first rule that does not let the deploy
// through decides.
func (c chain) judge(ctx context.Context, a *Admission) *Verdict {
	for _, r := range c {
		if v := r.Check(ctx, a); v != nil {
			v.Rule = r.Name()
			return v
		}
	}
	return nil
}

func verdictRefuse(err error) *Verdict { return &Verdict{Err: err, Reason: ErrorMessage(err)} }

func verdictWait(reason string, until time.Time) *Verdict {
	return &Verdict{Wait: true, Reason: reason, Until: until}
}

// automatic reports whether nobody typed this deploy: such deploys wait
// out a freeze rather than being refused, and a refusal is recorded as a
// failed deploy rather than only answered.
func automatic(src Source) bool {
	return src == SourceAuto || src == SourcePromotion || src == SourceActions
}

// permissionRule: the environment's deployers may deploy (and run
// operations); only admins may override a freeze.
type permissionRule struct{ access *access }

func (permissionRule) Name() string { return "permissions" }

func (r permissionRule) Check(ctx context.Context, a *Admission) *Verdict {
	if a.Recheck {
		return nil
	}
	what := "deploy"
	switch {
	case a.Deploy.Op != "":
		what = a.Deploy.Op
	case a.Deploy.Source == SourceRollback:
		what = "roll back"
	case a.Deploy.Source == SourcePromotion:
		what = "promote"
	}
	if err := r.access.deploy(ctx, a.App, a.Env, a.Deploy.User, what); err != nil {
		return verdictRefuse(err)
	}
	if a.Deploy.Source == SourcePR && !a.Env.PRDeploys.Allow && a.Deploy.Op == "" {
		return verdictRefuse(Errorf(EForbidden, "%s takes no deploys from pull requests (set pr_deploys: {allow: true})", a.Env.Name))
	}
	if a.Override && !r.access.isAdmin(ctx, a.Env, a.Deploy.User) {
		return verdictRefuse(Errorf(EForbidden, "%s may not override a freeze in %s (admins: %s)",
			a.Deploy.User, a.Env.Name, orNobody(r.access.adminsOf(a.Env))))
	}
	return nil
}

// lockRule: a lock held by someone else refuses the deploy. (A deploy
// admitted earlier is held back by the dispatcher instead.) It is the one
// place a lock is judged for admission; admission runs it once more under
// the environment's hold.
type lockRule struct{ locks *lockTable }

func (lockRule) Name() string { return "lock" }

func (r lockRule) Check(_ context.Context, a *Admission) *Verdict {
	if a.Recheck {
		return nil
	}
	if l := r.locks.blocking(a.App.Name, a.Env.Name, a.Deploy.User); l != nil {
		// An Actions job asks once and waits for the answer: a lock that
		// will end makes it wait, like a freeze.
		if a.Deploy.Source == SourceActions && !l.ExpiresAt.IsZero() {
			return verdictWait("waiting: "+ErrorMessage(lockedError(l, a.Now))+" until "+l.ExpiresAt.UTC().Format(time.RFC3339), l.ExpiresAt)
		}
		// A pull request's deploy takes its turn after the lock.
		if a.Deploy.Source == SourcePR {
			return verdictWait("waiting: "+ErrorMessage(lockedError(l, a.Now)), l.ExpiresAt)
		}
		return verdictRefuse(lockedError(l, a.Now))
	}
	return nil
}

// freezeRule: during a freeze, deploys typed by people are refused (an
// admin's deploy!! passes) and automatic ones wait until it ends.
type freezeRule struct{ freezes *freezeBook }

func (freezeRule) Name() string { return "freeze" }

func (r freezeRule) Check(_ context.Context, a *Admission) *Verdict {
	f := r.freezes.frozen(a.Env, a.Now)
	if f == nil || a.Override || a.Deploy.Op != "" {
		return nil
	}
	msg := f.text(a.Env.Name, a.Now)
	if a.Recheck || automatic(a.Deploy.Source) {
		return verdictWait("waiting: "+msg, f.until)
	}
	return verdictRefuse(Errorf(EFrozen, "%s (an admin's deploy!! overrides it)", msg))
}

// checksRule: required contexts must be green on the sha; pending ones
// make the deploy wait (never fail), red ones refuse it. deploy! skips it.
type checksRule struct {
	checker Checker
	log     *slog.Logger
}

func (checksRule) Name() string { return "checks" }

func (r checksRule) Check(ctx context.Context, a *Admission) *Verdict {
	d := a.Deploy
	required := a.Env.RequiredContexts
	if len(required) == 0 && d.Source == SourcePR && a.Env.PRDeploys.RequireChecks {
		required = []string{"all"} // a pull request's head: every check on it
	}
	if d.Force || d.Op != "" || len(required) == 0 || r.checker == nil {
		return nil
	}
	rep, err := r.checker.Checks(ctx, a.App, d.SHA, required)
	switch {
	case err != nil:
		// GitHub did not answer: wait and ask again, never fail for it.
		r.log.Warn("reading checks", "app", a.App.Name, "sha", d.SHA, "err", err)
		return verdictWait("waiting for checks", time.Time{})
	case rep.State == "failure" && a.Recheck:
		return verdictRefuse(Errorf(EChecksFailed, "checks failed: %s", checkList(rep.Failed)))
	case rep.State == "failure":
		return verdictRefuse(Errorf(EChecksFailed, "checks failed for %s: %s (deploy! skips checks)", ShortSHA(d.SHA), checkList(rep.Failed)))
	case rep.State == "pending":
		msg := "waiting for checks"
		if len(rep.Pending) > 0 {
			msg += ": " + checkList(rep.Pending)
		}
		return verdictWait(msg, time.Time{})
	}
	return nil
}

// approvalRule: where approvals are required, a deploy waits for that
// many from the approvers; it fails when approval_timeout passes first.
type approvalRule struct{ store Store }

func (approvalRule) Name() string { return "approvals" }

func (r approvalRule) Check(ctx context.Context, a *Admission) *Verdict {
	rule := a.Env.Approvals
	d := a.Deploy
	if rule.Required <= 0 || d.Op != "" {
		return nil
	}
	got := 0
	if d.ID != 0 {
		answers, err := r.store.Approvals(ctx, d.ID)
		if err != nil {
			return verdictWait("waiting for approval", time.Time{})
		}
		for _, x := range answers {
			if x.Approve && x.User != d.User {
				got++
			}
		}
	}
	if got >= rule.Required {
		return nil
	}
	created := d.CreatedAt // on the same clock as a.Now
	if created.IsZero() {
		created = a.Now
	}
	var until time.Time
	if rule.Timeout > 0 {
		until = created.Add(rule.Timeout)
		if !a.Now.Before(until) {
			return verdictRefuse(Errorf(EConflict, "not approved within %s (%d of %d approvals)", rule.Timeout, got, rule.Required))
		}
	}
	return verdictWait(fmt.Sprintf("waiting for approval: %d of %d from %s", got, rule.Required, orDeployers(approversOf(a.Env))), until)
}
