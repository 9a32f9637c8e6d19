package queue

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Each release rule alone, with the time injected.

// every is a Schedule firing at a fixed weekday and hour (what the cron
// expression "0 H * * D" does), so these tests need no cron parser.
type every struct {
	day  time.Weekday
	hour int
}

func (e every) Next(t time.Time) time.Time {
	n := time.Date(t.Year(), t.Month(), t.Day(), e.hour, 0, 0, 0, t.Location())
	for !n.After(t) || n.Weekday() != e.day {
		n = n.AddDate(0, 0, 1)
	}
	return n
}

// times is a Schedule of a few activations.
type times []time.Time

func (ts times) Next(t time.Time) time.Time {
	for _, x := range ts {
		if x.After(t) {
			return x
		}
	}
	return time.Time{}
}

// Fri 2026-11-20 is a Friday.
func at(day, hour, min int) time.Time { return time.Date(2026, 11, day, hour, min, 0, 0, time.UTC) }

var weekend = FreezeWindow{Spec: "0 18 * * FRI", Schedule: every{time.Friday, 18}, Duration: 62 * time.Hour, Reason: "weekend"}

func TestWindowAt(t *testing.T) {
	for _, c := range []struct {
		name string
		w    FreezeWindow
		now  time.Time
		ok   bool
		end  time.Time
	}{
		{"before it starts", weekend, at(20, 17, 59), false, time.Time{}},
		{"as it starts", weekend, at(20, 18, 0), true, at(23, 8, 0)},
		{"saturday", weekend, at(21, 12, 0), true, at(23, 8, 0)},
		{"the last minute", weekend, at(23, 7, 59), true, at(23, 8, 0)},
		{"as it ends", weekend, at(23, 8, 0), false, time.Time{}},
		{"midweek", weekend, at(25, 12, 0), false, time.Time{}},
		{"an activation within the window extends it", FreezeWindow{Schedule: times{at(20, 18, 0), at(21, 18, 0)}, Duration: 30 * time.Hour}, at(20, 20, 0), true, at(23, 0, 0)},
		{"after the extended end", FreezeWindow{Schedule: times{at(20, 18, 0), at(21, 18, 0)}, Duration: 30 * time.Hour}, at(23, 0, 0), false, time.Time{}},
		{"no duration", FreezeWindow{Schedule: every{time.Friday, 18}}, at(20, 19, 0), false, time.Time{}},
	} {
		end, ok := windowAt(c.w, c.now)
		if ok != c.ok || !end.Equal(c.end) {
			t.Errorf("%s: got %v %v, want %v %v", c.name, ok, end, c.ok, c.end)
		}
	}
}

// rig is the owners the rules read: who may, the lock table, the freeze
// book.
type rig struct {
	access  *access
	locks   *lockTable
	freezes *freezeBook
	store   Store
	checker Checker
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func testService(t *testing.T) *rig {
	t.Helper()
	cat := &catalog{envs: map[string]string{"production": "production", "staging": "staging"}}
	return &rig{access: &access{cat: cat}, locks: newLockTable(context.Background(), nil, realClock{}, discard, cat),
		freezes: newFreezeBook(nil, realClock{}, nil)}
}

// judge runs the whole chain over the rig.
func (r *rig) judge(ctx context.Context, a *Admission) *Verdict {
	return chain{permissionRule{r.access}, lockRule{r.locks}, freezeRule{r.freezes},
		checksRule{checker: r.checker, log: discard}, approvalRule{r.store}}.judge(ctx, a)
}

func TestFreezeRule(t *testing.T) {
	s := testService(t)
	env := &Environment{Name: "production", Freeze: []FreezeWindow{weekend}}
	app := &App{Name: "web"}
	manual := &Deploy{User: "alice", Source: SourceChat}
	auto := &Deploy{User: "alice", Source: SourceAuto}
	promo := &Deploy{User: "alice", Source: SourcePromotion}
	op := &Deploy{User: "alice", Source: SourceChat, Op: "scale"}
	saturday, monday := at(21, 12, 0), at(23, 9, 0)
	for _, c := range []struct {
		name     string
		d        *Deploy
		now      time.Time
		override bool
		recheck  bool
		want     string // "", "wait", or the refusal's code
	}{
		{"manual during the freeze", manual, saturday, false, false, "frozen"},
		{"auto during the freeze waits", auto, saturday, false, false, "wait"},
		{"a promotion waits", promo, saturday, false, false, "wait"},
		{"a waiting one looked at again waits", manual, saturday, false, true, "wait"},
		{"deploy!! goes through", manual, saturday, true, false, ""},
		{"operations are not held", op, saturday, false, false, ""},
		{"after the window", manual, monday, false, false, ""},
	} {
		v := (freezeRule{s.freezes}).Check(context.Background(), &Admission{App: app, Env: env, Deploy: c.d, Now: c.now, Override: c.override, Recheck: c.recheck})
		got := ""
		switch {
		case v == nil:
		case v.Wait:
			got = "wait"
			if !v.Until.Equal(at(23, 8, 0)) || !strings.Contains(v.Reason, "production is frozen until Mon 23 Nov 08:00 UTC (in 1d20h): weekend (freeze window 0 18 * * FRI)") {
				t.Errorf("%s: %+v", c.name, v)
			}
		default:
			got = string(ErrorCode(v.Err))
			if !strings.Contains(v.Reason, "until Mon 23 Nov 08:00 UTC") || !strings.Contains(v.Reason, "deploy!! overrides it") {
				t.Errorf("%s: %q", c.name, v.Reason)
			}
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	// a one-off freeze until unfrozen, and one that ended
	s.freezes.oneOff["production"] = &Freeze{Env: "production", Owner: "carol", Reason: "incident 7", CreatedAt: monday}
	v := (freezeRule{s.freezes}).Check(context.Background(), &Admission{App: app, Env: env, Deploy: auto, Now: monday})
	if v == nil || !v.Wait || !v.Until.IsZero() || !strings.Contains(v.Reason, "production is frozen until unfrozen: incident 7 (frozen by carol)") {
		t.Errorf("one-off: %+v", v)
	}
	s.freezes.oneOff["production"].EndsAt = monday.Add(time.Hour)
	if v := (freezeRule{s.freezes}).Check(context.Background(), &Admission{App: app, Env: env, Deploy: manual, Now: monday.Add(time.Hour)}); v != nil {
		t.Errorf("an ended freeze still holds: %+v", v)
	}
	// a global window holds every environment
	s.freezes.oneOff = map[string]*Freeze{}
	s.freezes.windows = []FreezeWindow{{Spec: "0 9 * * MON", Schedule: every{time.Monday, 9}, Duration: time.Hour, Reason: "release train"}}
	if v := (freezeRule{s.freezes}).Check(context.Background(), &Admission{App: app, Env: &Environment{Name: "staging"}, Deploy: manual, Now: monday.Add(30 * time.Minute)}); v == nil || !strings.Contains(v.Reason, "release train") {
		t.Errorf("global window: %+v", v)
	}
}

func TestPermissionRule(t *testing.T) {
	s := testService(t)
	app := &App{Name: "web"}
	env := &Environment{Name: "production", Deployers: []string{"alice", "bob"}, Admins: []string{"bob"}}
	for _, c := range []struct {
		name, user string
		override   bool
		admins     []string
		want       string
	}{
		{"a deployer", "alice", false, nil, ""},
		{"not a deployer", "mallory", false, nil, "mallory may not deploy web in production (deployers: alice, bob)"},
		{"override by a non-admin", "alice", true, []string{"sre"}, "alice may not override a freeze in production (admins: sre, bob)"},
		{"override by the env's admin", "bob", true, nil, ""},
		{"override by a server admin", "alice", true, []string{"alice"}, ""},
	} {
		s.access.admins = c.admins
		v := (permissionRule{s.access}).Check(context.Background(), &Admission{App: app, Env: env, Deploy: &Deploy{User: c.user, Source: SourceChat}, Override: c.override})
		got := ""
		if v != nil {
			got = v.Reason
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	// no admins anywhere: nobody overrides
	s.access.admins = nil
	if v := (permissionRule{s.access}).Check(context.Background(), &Admission{App: app, Env: &Environment{Name: "staging"},
		Deploy: &Deploy{User: "alice"}, Override: true}); v == nil || !strings.Contains(v.Reason, "(admins: nobody)") {
		t.Errorf("no admins: %+v", v)
	}
}

func TestLockRule(t *testing.T) {
	s := testService(t)
	s.locks.locks[scope{"production", ""}] = &Lock{Env: "production", Owner: "carol", Reason: "incident", CreatedAt: time.Now()}
	a := &Admission{App: &App{Name: "web"}, Env: &Environment{Name: "production"}, Now: time.Now()}
	a.Deploy = &Deploy{User: "alice"}
	if v := (lockRule{s.locks}).Check(context.Background(), a); v == nil || ErrorCode(v.Err) != ELocked || !strings.Contains(v.Reason, "production is locked by carol") {
		t.Errorf("someone else's lock: %+v", v)
	}
	a.Deploy = &Deploy{User: "carol"}
	if v := (lockRule{s.locks}).Check(context.Background(), a); v != nil {
		t.Errorf("the holder: %+v", v)
	}
}

type fakeChecker struct {
	rep CheckReport
	err error
}

func (f fakeChecker) Checks(context.Context, *App, string, []string) (CheckReport, error) {
	return f.rep, f.err
}

func TestChecksRule(t *testing.T) {
	s := testService(t)
	app := &App{Name: "web"}
	env := &Environment{Name: "production", RequiredContexts: []string{"ci"}}
	d := &Deploy{SHA: strings.Repeat("a", 40), User: "alice"}
	for _, c := range []struct {
		name    string
		checker Checker
		force   bool
		recheck bool
		want    string
	}{
		{"green", fakeChecker{rep: CheckReport{State: "success"}}, false, false, ""},
		{"pending waits", fakeChecker{rep: CheckReport{State: "pending", Pending: []Check{{Name: "ci"}}}}, false, false, "wait: waiting for checks: ci"},
		{"GitHub down waits", fakeChecker{err: errors.New("502")}, false, false, "wait: waiting for checks"},
		{"red refuses", fakeChecker{rep: CheckReport{State: "failure", Failed: []Check{{Name: "ci", URL: "https://ci/1"}}}}, false, false, "checks failed for aaaaaaa: ci (https://ci/1) (deploy! skips checks)"},
		{"red on a recheck", fakeChecker{rep: CheckReport{State: "failure", Failed: []Check{{Name: "ci"}}}}, false, true, "checks failed: ci"},
		{"deploy! skips them", fakeChecker{rep: CheckReport{State: "failure"}}, true, false, ""},
	} {
		s.checker = c.checker
		dd := *d
		dd.Force = c.force
		v := (checksRule{checker: s.checker, log: discard}).Check(context.Background(), &Admission{App: app, Env: env, Deploy: &dd, Recheck: c.recheck})
		got := ""
		if v != nil && v.Wait {
			got = "wait: " + v.Reason
		} else if v != nil {
			got = v.Reason
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// approvalsStore answers Approvals only.
type approvalsStore struct {
	Store
	answers []*Approval
}

func (a approvalsStore) Approvals(context.Context, int64) ([]*Approval, error) { return a.answers, nil }

func TestApprovalRule(t *testing.T) {
	s := testService(t)
	app := &App{Name: "web"}
	env := &Environment{Name: "production", Approvals: Approvals{Required: 2, From: []string{"@release"}, Timeout: time.Hour}}
	created := at(23, 9, 0)
	d := &Deploy{ID: 7, User: "alice", CreatedAt: created}
	yes := func(u string) *Approval { return &Approval{DeployID: 7, User: u, Approve: true} }
	for _, c := range []struct {
		name    string
		answers []*Approval
		now     time.Time
		want    string
	}{
		{"none yet", nil, created, "wait: waiting for approval: 0 of 2 from @release"},
		{"one", []*Approval{yes("bob")}, created, "wait: waiting for approval: 1 of 2 from @release"},
		{"the requester's own does not count", []*Approval{yes("bob"), yes("alice")}, created, "wait: waiting for approval: 1 of 2 from @release"},
		{"a rejection does not count", []*Approval{yes("bob"), {DeployID: 7, User: "carol"}}, created, "wait: waiting for approval: 1 of 2 from @release"},
		{"two", []*Approval{yes("bob"), yes("carol")}, created, ""},
		{"timed out", []*Approval{yes("bob")}, created.Add(time.Hour), "not approved within 1h0m0s (1 of 2 approvals)"},
	} {
		s.store = approvalsStore{answers: c.answers}
		v := (approvalRule{s.store}).Check(context.Background(), &Admission{App: app, Env: env, Deploy: d, Now: c.now, Recheck: true})
		got := ""
		if v != nil && v.Wait {
			got = "wait: " + v.Reason
			if !v.Until.Equal(created.Add(time.Hour)) {
				t.Errorf("%s: until %v", c.name, v.Until)
			}
		} else if v != nil {
			got = v.Reason
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	if v := (approvalRule{s.store}).Check(context.Background(), &Admission{App: app, Env: &Environment{Name: "staging"}, Deploy: d, Now: created}); v != nil {
		t.Errorf("no approvals rule: %+v", v)
	}
}

// The chain: the first rule that holds a deploy speaks, in order.
func TestChainOrder(t *testing.T) {
	s := testService(t)
	s.store = approvalsStore{}
	s.locks.locks[scope{"production", ""}] = &Lock{Env: "production", Owner: "carol", CreatedAt: time.Now()}
	env := &Environment{Name: "production", Deployers: []string{"alice"}, Freeze: []FreezeWindow{weekend},
		Approvals: Approvals{Required: 1}}
	a := &Admission{App: &App{Name: "web"}, Env: env, Now: at(21, 12, 0)}
	for _, c := range []struct {
		user, want string
	}{
		{"mallory", "permissions"}, // before the lock
		{"alice", "lock"},          // before the freeze
	} {
		a.Deploy = &Deploy{User: c.user, Source: SourceChat}
		if v := s.judge(context.Background(), a); v == nil || v.Rule != c.want {
			t.Errorf("%s: %+v, want rule %s", c.user, v, c.want)
		}
	}
	delete(s.locks.locks, scope{"production", ""})
	a.Deploy = &Deploy{User: "alice", Source: SourceChat}
	if v := s.judge(context.Background(), a); v == nil || v.Rule != "freeze" {
		t.Errorf("%+v, want freeze", v)
	}
	a.Now = at(23, 9, 0)
	if v := s.judge(context.Background(), a); v == nil || v.Rule != "approvals" || !v.Wait {
		t.Errorf("%+v, want approvals", v)
	}
}
