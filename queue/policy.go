package queue

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Clock is the time the release policies read (freeze windows, soaks,
// schedules, approval timeouts): the real one unless Options.Clock says
// otherwise, as tests do.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

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

// Rule is one release rule. Check returns nil to let the deploy through.
type Rule interface {
	Name() string
	Check(ctx context.Context, a *Admission) *Verdict
}

// rules is the one chain every deploy passes, whatever asked for it, in
// order: who may, locks, freezes, required checks, approvals.
func (s *Service) rules() []Rule {
	return []Rule{permissionRule{s}, lockRule{s}, freezeRule{s}, checksRule{s}, approvalRule{s}}
}

// judge runs the chain; the first rule that does not let the deploy
// through decides.
func (s *Service) judge(ctx context.Context, a *Admission) *Verdict {
	for _, r := range s.rules() {
		if v := r.Check(ctx, a); v != nil {
			v.Rule = r.Name()
			return v
		}
	}
	return nil
}

func refuse(err error) *Verdict { return &Verdict{Err: err, Reason: ErrorMessage(err)} }

func wait(reason string, until time.Time) *Verdict {
	return &Verdict{Wait: true, Reason: reason, Until: until}
}

// automatic reports whether nobody typed this deploy: such deploys wait
// out a freeze rather than being refused, and a refusal is recorded as a
// failed deploy rather than only answered.
func automatic(src Source) bool { return src == SourceAuto || src == SourcePromotion }

// permissionRule: the environment's deployers may deploy; only admins may
// override a freeze.
type permissionRule struct{ s *Service }

func (permissionRule) Name() string { return "permissions" }

func (r permissionRule) Check(ctx context.Context, a *Admission) *Verdict {
	if a.Recheck {
		return nil
	}
	what := "deploy"
	switch a.Deploy.Source {
	case SourceRollback:
		what = "roll back"
	case SourcePromotion:
		what = "promote"
	}
	if err := r.s.mayDeploy(ctx, a.App, a.Env, a.Deploy.User, what); err != nil {
		return refuse(err)
	}
	if a.Override && !r.s.isAdmin(ctx, a.Env, a.Deploy.User) {
		return refuse(Errorf(EForbidden, "%s may not override a freeze in %s (admins: %s)",
			a.Deploy.User, a.Env.Name, orNobody(r.s.adminsOf(a.Env))))
	}
	return nil
}

func orNobody(l []string) string {
	if len(l) == 0 {
		return "nobody"
	}
	return strings.Join(l, ", ")
}

func (s *Service) adminsOf(env *Environment) []string {
	return append(append([]string{}, s.admins...), env.Admins...)
}

// isAdmin: unlike the other lists, no admins means nobody.
func (s *Service) isAdmin(ctx context.Context, env *Environment, user string) bool {
	admins := s.admins
	if env != nil {
		admins = s.adminsOf(env)
	}
	return len(admins) > 0 && s.may(ctx, admins, user)
}

// lockRule: a lock held by someone else refuses the deploy. (A deploy
// admitted earlier is held back by the dispatcher instead.)
type lockRule struct{ s *Service }

func (lockRule) Name() string { return "lock" }

func (r lockRule) Check(_ context.Context, a *Admission) *Verdict {
	if a.Recheck {
		return nil
	}
	if l := r.s.blockingLock(a.App.Name, a.Env.Name, a.Deploy.User); l != nil {
		return refuse(lockedError(l, a.Now))
	}
	return nil
}

// freezeRule: during a freeze, deploys typed by people are refused (an
// admin's deploy!! passes) and automatic ones wait until it ends.
type freezeRule struct{ s *Service }

func (freezeRule) Name() string { return "freeze" }

func (r freezeRule) Check(ctx context.Context, a *Admission) *Verdict {
	f := r.s.frozen(a.Env, a.Now)
	if f == nil || a.Override || a.Deploy.Op != "" {
		return nil
	}
	msg := f.text(a.Env.Name, a.Now)
	if a.Recheck || automatic(a.Deploy.Source) {
		return wait("waiting: "+msg, f.until)
	}
	return refuse(Errorf(EFrozen, "%s (an admin's deploy!! overrides it)", msg))
}

// activeFreeze is the freeze that holds an environment now.
type activeFreeze struct {
	until  time.Time // zero: until unfrozen
	reason string
	by     string // "freeze window 0 18 * * FRI", or who froze it
}

func (f *activeFreeze) text(env string, now time.Time) string {
	msg := env + " is frozen"
	if f.until.IsZero() {
		msg += " until unfrozen"
	} else {
		msg += fmt.Sprintf(" until %s (in %s)", f.until.UTC().Format("Mon 2 Jan 15:04 MST"), Age(f.until.Sub(now)))
	}
	if f.reason != "" {
		msg += ": " + f.reason
	}
	return msg + " (" + f.by + ")"
}

// frozen returns the freeze holding env at now, the one that ends last
// if several do, or nil.
func (s *Service) frozen(env *Environment, now time.Time) *activeFreeze {
	var best *activeFreeze
	consider := func(f *activeFreeze) {
		switch {
		case best == nil:
			best = f
		case best.until.IsZero():
		case f.until.IsZero() || f.until.After(best.until):
			best = f
		}
	}
	windows := append(append([]FreezeWindow{}, s.globalFreeze...), env.Freeze...)
	for _, w := range windows {
		if end, ok := windowAt(w, now); ok {
			consider(&activeFreeze{until: end, reason: w.Reason, by: "freeze window " + w.Spec})
		}
	}
	s.mu.Lock()
	f := s.freezes[env.Name]
	s.mu.Unlock()
	if f != nil && (f.EndsAt.IsZero() || now.Before(f.EndsAt)) {
		consider(&activeFreeze{until: f.EndsAt, reason: f.Reason, by: "frozen by " + f.Owner})
	}
	return best
}

// windowAt reports whether a recurring window covers t, and when it ends:
// it started at an activation in (t-Duration, t]; activations within it
// extend it.
func windowAt(w FreezeWindow, t time.Time) (time.Time, bool) {
	if w.Schedule == nil || w.Duration <= 0 {
		return time.Time{}, false
	}
	start := w.Schedule.Next(t.Add(-w.Duration))
	if start.IsZero() || start.After(t) {
		return time.Time{}, false
	}
	end := start.Add(w.Duration)
	for range 1000 {
		next := w.Schedule.Next(start)
		if next.IsZero() || next.After(end) {
			break
		}
		start, end = next, next.Add(w.Duration)
	}
	return end, true
}

// checksRule: required contexts must be green on the sha; pending ones
// make the deploy wait (never fail), red ones refuse it. deploy! skips it.
type checksRule struct{ s *Service }

func (checksRule) Name() string { return "checks" }

func (r checksRule) Check(ctx context.Context, a *Admission) *Verdict {
	d := a.Deploy
	if d.Force || d.Op != "" || len(a.Env.RequiredContexts) == 0 || r.s.checker == nil {
		return nil
	}
	rep, err := r.s.checker.Checks(ctx, a.App, d.SHA, a.Env.RequiredContexts)
	switch {
	case err != nil:
		// GitHub did not answer: wait and ask again, never fail for it.
		r.s.log.Warn("reading checks", "app", a.App.Name, "sha", d.SHA, "err", err)
		return wait("waiting for checks", time.Time{})
	case rep.State == "failure" && a.Recheck:
		return refuse(Errorf(EChecksFailed, "checks failed: %s", checkList(rep.Failed)))
	case rep.State == "failure":
		return refuse(Errorf(EChecksFailed, "checks failed for %s: %s (deploy! skips checks)", ShortSHA(d.SHA), checkList(rep.Failed)))
	case rep.State == "pending":
		msg := "waiting for checks"
		if len(rep.Pending) > 0 {
			msg += ": " + checkList(rep.Pending)
		}
		return wait(msg, time.Time{})
	}
	return nil
}

// approvalRule: where approvals are required, a deploy waits for that
// many from the approvers; it fails when approval_timeout passes first.
type approvalRule struct{ s *Service }

func (approvalRule) Name() string { return "approvals" }

func (r approvalRule) Check(ctx context.Context, a *Admission) *Verdict {
	rule := a.Env.Approvals
	d := a.Deploy
	if rule.Required <= 0 || d.Op != "" {
		return nil
	}
	got := 0
	if d.ID != 0 {
		answers, err := r.s.store.Approvals(ctx, d.ID)
		if err != nil {
			return wait("waiting for approval", time.Time{})
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
			return refuse(Errorf(EConflict, "not approved within %s (%d of %d approvals)", rule.Timeout, got, rule.Required))
		}
	}
	return wait(fmt.Sprintf("waiting for approval: %d of %d from %s", got, rule.Required, orDeployers(r.s.approversOf(a.Env))), until)
}

func orDeployers(l []string) string {
	if len(l) == 0 {
		return "the deployers"
	}
	return strings.Join(l, ", ")
}

func (s *Service) approversOf(env *Environment) []string {
	if len(env.Approvals.From) > 0 {
		return env.Approvals.From
	}
	return env.Deployers
}
