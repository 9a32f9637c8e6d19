package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Service.
type Options struct {
	Store       Store
	Runners     map[string]Runner // by kind: "shell", "ssh", ...
	Resolver    Resolver
	Notifiers   []Notifier
	Logger      *slog.Logger
	MaxParallel int      // deploys running at once across all app+env pairs; default 8
	Secrets     []string // masked in deploy logs
	// Identify returns the identities of a user beyond its name (a chat id,
	// an email, @groups), for the deployers and lockers rules.
	Identify func(ctx context.Context, user string) []string
	// Checker reads required checks; without one, required_contexts are
	// not enforced.
	Checker Checker
	// RecheckEvery rechecks waiting deploys even without events (default 1m).
	RecheckEvery time.Duration
	// Comparer links changes for apps with a repo, in chat replies.
	Comparer Comparer
	// Admins may override freezes (deploy!!) and unlock all, everywhere.
	// Empty: nobody.
	Admins []string
	// Freeze lists freeze windows of every environment.
	Freeze []FreezeWindow
	// Clock is the release policies' time; default the real one.
	Clock Clock
}

// Service is the deploy queue: it accepts requests, keeps one deploy
// running per app+env in FIFO order, runs pairs in parallel up to
// MaxParallel, and owns every state change.
type Service struct {
	apps      []*App
	store     Store
	runners   map[string]Runner
	resolver  Resolver
	notifiers []Notifier
	identify  func(ctx context.Context, user string) []string
	checker   Checker
	comparer  Comparer
	recheck   time.Duration
	log       *slog.Logger
	clock     Clock
	admins    []string

	globalFreeze []FreezeWindow
	logs         *logHub
	slots        chan struct{}

	lanes map[string]*lane // by app/env
	// envMus orders lock changes (exclusive) against deploy admission and
	// starts (shared), per env: a deploy never slips past a new lock.
	envMus map[string]*sync.RWMutex

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	running   map[int64]context.CancelCauseFunc
	progress  map[int64]Progress
	continues map[int64]chan string  // paused deploys: who continues them
	timers    map[string]*time.Timer // lock expiry, by env/app
	locks     map[string]*Lock       // by env/app; the store's copy, kept here
	freezes   map[string]*Freeze     // one-off freezes by env; the store's copy
	wakes     map[int64]Timer        // when to look again at a waiting deploy
	waitRule  map[int64]string       // the rule a waiting deploy waits on, and why
	promos    map[int64]Timer        // pending promotions, by upstream deploy
}

type lane struct {
	app  *App
	env  *Environment
	wake chan struct{}

	// supersede lets one auto-deploy at a time replace the older ones.
	supersede sync.Mutex

	// Only the lane's worker touches these.
	current       string // sha of the newest succeeded deploy
	currentLoaded bool
}

func laneKey(app, env string) string { return app + "/" + env }

// Errors used as cancellation causes.
// ErrShutdown is the cause of a running deploy's context when deployq
// stops. Runners whose work goes on by itself outside deployq (a rollout
// in a cluster) leave it alone then, rather than undo it.
var ErrShutdown = errors.New("deployq stopped while it ran")

type canceledBy struct{ user string }

func (c *canceledBy) Error() string { return "canceled by " + c.user }

type timeoutError struct {
	idle bool
	d    time.Duration
}

func (t *timeoutError) Error() string {
	if t.idle {
		return fmt.Sprintf("no output for %s", t.d)
	}
	return fmt.Sprintf("timed out after %s", t.d)
}

// New returns a Service for apps. Call Start before use.
func New(apps []*App, o Options) (*Service, error) {
	if o.Store == nil || o.Resolver == nil {
		return nil, errors.New("queue: a Store and a Resolver are required")
	}
	if o.MaxParallel <= 0 {
		o.MaxParallel = 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Service{
		apps: apps, store: o.Store, runners: o.Runners, resolver: o.Resolver,
		notifiers: o.Notifiers, identify: o.Identify, checker: o.Checker, comparer: o.Comparer, recheck: o.RecheckEvery, log: o.Logger,
		slots: make(chan struct{}, o.MaxParallel),
		lanes: map[string]*lane{}, envMus: map[string]*sync.RWMutex{},
		running: map[int64]context.CancelCauseFunc{}, progress: map[int64]Progress{}, continues: map[int64]chan string{},
		timers: map[string]*time.Timer{}, locks: map[string]*Lock{},
		freezes: map[string]*Freeze{}, wakes: map[int64]Timer{}, waitRule: map[int64]string{}, promos: map[int64]Timer{},
		clock: o.Clock, admins: o.Admins, globalFreeze: o.Freeze,
	}
	if s.clock == nil {
		s.clock = realClock{}
	}
	s.logs = newLogHub(o.Store, o.Secrets, func(err error) { s.log.Error("saving log lines", "err", err) })
	for _, a := range apps {
		for _, e := range a.Environments {
			if _, ok := o.Runners[e.Runner]; !ok {
				return nil, fmt.Errorf("queue: %s/%s: no runner of kind %q", a.Name, e.Name, e.Runner)
			}
			s.lanes[laneKey(a.Name, e.Name)] = &lane{app: a, env: e, wake: make(chan struct{}, 1)}
			if s.envMus[e.Name] == nil {
				s.envMus[e.Name] = &sync.RWMutex{}
			}
		}
	}
	return s, nil
}

// Start recovers from a previous run (running deploys become interrupted,
// queued ones go on) and starts one dispatcher per app+env. ctx bounds the
// life of the Service; Stop ends it sooner.
func (s *Service) Start(ctx context.Context) error {
	// However the parent ends, for the deploys it is a shutdown.
	s.ctx, s.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { s.cancel(ErrShutdown) })
	go func() { <-s.ctx.Done(); stop() }()
	if err := s.recover(ctx); err != nil {
		return err
	}
	locks, err := s.store.Locks(ctx)
	if err != nil {
		return err
	}
	for _, l := range locks {
		s.locks[laneKey(l.Env, l.App)] = l
		s.scheduleExpiry(l)
	}
	freezes, err := s.store.Freezes(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	for _, f := range freezes {
		s.freezes[f.Env] = f
	}
	s.mu.Unlock()
	for _, l := range s.lanes {
		s.wg.Add(1)
		go s.work(l)
		s.kick(l)
	}
	if s.recheck <= 0 {
		s.recheck = time.Minute
	}
	s.wg.Add(1)
	go s.watchWaiting() // and at once: waiting deploys get their timers again
	s.resumePromotions(s.ctx)
	return nil
}

// Stop ends running deploys (they become interrupted: their runners are
// stopped and their process trees killed) and waits for the dispatchers.
// Queued deploys stay queued for the next start.
func (s *Service) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel(ErrShutdown)
	s.wg.Wait()
	s.mu.Lock()
	for _, t := range s.timers {
		t.Stop()
	}
	for _, t := range s.wakes {
		t.Stop()
	}
	for _, t := range s.promos {
		t.Stop()
	}
	s.mu.Unlock()
}

func (s *Service) recover(ctx context.Context) error {
	running, err := s.store.Deploys(ctx, DeployFilter{States: []State{StateRunning}, Limit: -1})
	if err != nil {
		return err
	}
	for _, d := range running {
		err := s.moveWithLine(ctx, d, StateInterrupted, func(d *Deploy) { d.Error = ErrShutdown.Error() },
			"deployq stopped while this deploy ran; it is interrupted, check "+d.Env+" before deploying again")
		if err != nil {
			return err
		}
		s.notify(d)
		s.log.Warn("deploy interrupted by a restart", "id", d.ID, "app", d.App, "env", d.Env)
		s.audit(ctx, "deployq", "interrupt", fmt.Sprintf("#%d", d.ID), "found running at start")
	}
	pending, err := s.store.Deploys(ctx, DeployFilter{States: []State{StateQueued, StateWaiting}, Limit: -1})
	if err != nil {
		return err
	}
	for _, d := range pending {
		if s.lanes[laneKey(d.App, d.Env)] == nil {
			msg := fmt.Sprintf("%s/%s is no longer configured", d.App, d.Env)
			if err := s.moveWithLine(ctx, d, StateFailed, func(d *Deploy) { d.Error = msg }, msg); err != nil {
				return err
			}
			s.notify(d)
		}
	}
	return nil
}

// Apps returns the configured apps.
func (s *Service) Apps() []*App { return s.apps }

// Lookup returns an app and one of its environments; an empty env means
// the app's default. ENotFound names what exists.
func (s *Service) Lookup(appName, envName string) (*App, *Environment, error) {
	var app *App
	for _, a := range s.apps {
		if a.Name == appName {
			app = a
		}
	}
	if app == nil {
		var names []string
		for _, a := range s.apps {
			names = append(names, a.Name)
		}
		return nil, nil, Errorf(ENotFound, "unknown app %q (apps: %s)", appName, strings.Join(names, ", "))
	}
	if envName == "" {
		envName = app.DefaultEnv
	}
	env := app.Env(envName)
	if env == nil {
		var names []string
		for _, e := range app.Environments {
			names = append(names, e.Name)
		}
		return nil, nil, Errorf(ENotFound, "%s has no environment %q (environments: %s)", app.Name, envName, strings.Join(names, ", "))
	}
	return app, env, nil
}

func (s *Service) envKnown(env string) bool { return s.envMus[env] != nil }

// may reports whether user matches a rule list (empty: everyone).
func (s *Service) may(ctx context.Context, rule []string, user string) bool {
	if len(rule) == 0 {
		return true
	}
	ids := []string{user}
	if s.identify != nil {
		ids = append(ids, s.identify(ctx, user)...)
	}
	for _, r := range rule {
		for _, id := range ids {
			if strings.EqualFold(r, id) {
				return true
			}
		}
	}
	return false
}

func (s *Service) mayDeploy(ctx context.Context, app *App, env *Environment, user, what string) error {
	if s.may(ctx, env.Deployers, user) {
		return nil
	}
	return Errorf(EForbidden, "%s may not %s %s in %s (deployers: %s)", user, what, app.Name, env.Name, strings.Join(env.Deployers, ", "))
}

// mayLock checks the lockers (or else deployers) of every app in env, or
// of one app.
func (s *Service) mayLock(ctx context.Context, envName, appName, user string) error {
	for _, a := range s.apps {
		e := a.Env(envName)
		if e == nil || appName != "" && a.Name != appName {
			continue
		}
		rule := e.Lockers
		if len(rule) == 0 {
			rule = e.Deployers
		}
		if !s.may(ctx, rule, user) {
			return Errorf(EForbidden, "%s may not lock or unlock %s in %s (lockers: %s)", user, a.Name, envName, strings.Join(rule, ", "))
		}
	}
	return nil
}

// Request asks for a deploy.
type Request struct {
	App, Env   string // Env "" means the app's default
	Ref        string // "" means the app's default ref
	User       string
	Source     Source
	Force      bool // skip required checks (never a lock)
	ChatThread string
	// SHA, when set, is the full sha the caller already knows (a webhook
	// names it); Ref is then what it was asked as.
	SHA                string
	GitHubDeploymentID int64
	// AuthorEmail is who pushed, for auto-deploys: kept (MetaAuthorEmail)
	// before anyone hears of the deploy.
	AuthorEmail string
	// Override (deploy!!) lets an admin deploy through a freeze; audited.
	Override bool
}

// Submit validates, resolves and persists a deploy request, then queues
// it. It returns ENotFound (app, env), EInvalid (ref), EForbidden, ELocked,
// EChecksFailed. An auto-deploy refused for a lock, a permission or red
// checks is recorded as a failed deploy, returned along with the error.
func (s *Service) Submit(ctx context.Context, r Request) (*Deploy, error) {
	app, env, err := s.Lookup(r.App, r.Env)
	if err != nil {
		return nil, err
	}
	if r.User == "" {
		return nil, Errorf(EInvalid, "a deploy needs a user")
	}
	if r.Source == "" {
		r.Source = SourceAPI
	}
	if r.Ref == "" {
		r.Ref = app.DefaultRef
	}
	if !ValidRef(r.Ref) {
		return nil, Errorf(EInvalid, "invalid ref %q: use a sha, branch or tag", r.Ref)
	}
	if r.Override {
		r.Force = true // deploy!! is deploy! too
	}
	sha := r.SHA
	if sha == "" {
		// who may is known before anything is resolved
		if v := (permissionRule{s}).Check(ctx, &Admission{App: app, Env: env, Deploy: &Deploy{User: r.User, Source: r.Source},
			Override: r.Override}); v != nil && !automatic(r.Source) {
			return nil, v.Err
		}
		if sha, err = s.resolver.Resolve(ctx, app, r.Ref); err != nil {
			return nil, err
		}
	}
	if !IsFullSHA(sha) {
		return nil, Errorf(EInternal, "ref %q resolved to %q, not a sha", r.Ref, sha)
	}
	now := s.clock.Now()
	d := &Deploy{App: app.Name, Env: env.Name, Ref: r.Ref, SHA: sha, State: StateQueued, CreatedAt: now.UTC(),
		User: r.User, Source: r.Source, Force: r.Force, ChatThread: r.ChatThread, GitHubDeploymentID: r.GitHubDeploymentID}
	v := s.judge(ctx, &Admission{App: app, Env: env, Deploy: d, Override: r.Override, Now: now})
	if v != nil && !v.Wait {
		if automatic(r.Source) {
			return s.refuseAuto(ctx, app, env, r, sha, v.Err)
		}
		return nil, v.Err
	}
	if v != nil {
		d.State = StateWaiting
	}
	overridden := r.Override && s.frozen(env, now) != nil

	mu := s.envMus[env.Name]
	mu.RLock()
	// the lock rule again, under the env's lock: a deploy never slips past
	// a lock taken meanwhile
	if lock := s.blockingLock(app.Name, env.Name, r.User); lock != nil {
		err = lockedError(lock, time.Now())
	} else {
		err = s.store.CreateDeploy(ctx, d, AuditEntry{Time: time.Now().UTC(), User: r.User, Action: "deploy",
			Detail: fmt.Sprintf("%s@%s (%s) to %s, %s", d.App, d.Ref, ShortSHA(d.SHA), d.Env, d.Source)})
	}
	mu.RUnlock()
	if ErrorCode(err) == ELocked && automatic(r.Source) {
		return s.refuseAuto(ctx, app, env, r, sha, err)
	}
	var superseded []*Deploy
	if err == nil && r.Source == SourceAuto {
		l := s.lanes[laneKey(app.Name, env.Name)]
		l.supersede.Lock()
		superseded, err = s.supersede(ctx, d)
		l.supersede.Unlock()
	}
	if err != nil {
		return nil, err
	}
	if overridden {
		s.SetMeta(ctx, d.ID, MetaOverrideFreeze, "1")
		f := s.frozen(env, now)
		s.audit(ctx, r.User, "override-freeze", fmt.Sprintf("#%d", d.ID), f.text(env.Name, now))
		s.systemLine(ctx, d.ID, "freeze overridden by "+r.User+": "+f.text(env.Name, now))
	}
	s.keepAuthor(ctx, d, r)
	s.notify(d)
	for _, old := range superseded {
		s.notify(old)
	}
	if d.State == StateWaiting {
		s.waiting(d, env, v)
		return d, nil
	}
	s.kick(s.lanes[laneKey(app.Name, env.Name)])
	return d, nil
}

// MetaOverrideFreeze marks a deploy an admin pushed through a freeze
// (deploy!!): it stays overridden while it waits for other rules.
const MetaOverrideFreeze = "override_freeze"

// waiting records why d waits, says it in its log once, and sets when to
// look again: at the verdict's Until, at the checks timeout.
func (s *Service) waiting(d *Deploy, env *Environment, v *Verdict) {
	s.mu.Lock()
	last := s.waitRule[d.ID]
	s.waitRule[d.ID] = v.Rule + ": " + v.Reason
	s.mu.Unlock()
	if last == v.Rule+": "+v.Reason {
		return
	}
	s.systemLine(s.ctxOr(), d.ID, v.Reason)
	if last != "" {
		s.notify(d) // the reason shows on its chat message
	}
	if v.Rule == "checks" && !strings.HasPrefix(last, "checks") {
		s.scheduleChecksTimeout(d, env)
	}
	if !v.Until.IsZero() {
		id := d.ID
		delay := v.Until.Sub(s.clock.Now()) + 10*time.Millisecond
		t := s.clock.AfterFunc(delay, func() { s.lookAgain(id) })
		s.mu.Lock()
		if old := s.wakes[id]; old != nil {
			old.Stop()
		}
		s.wakes[id] = t
		s.mu.Unlock()
	}
}

func (s *Service) ctxOr() context.Context {
	if s.ctx != nil {
		return s.ctx
	}
	return context.Background()
}

// lookAgain reevaluates one waiting deploy.
func (s *Service) lookAgain(id int64) {
	ctx := s.ctx
	if ctx == nil || ctx.Err() != nil {
		return
	}
	d, err := s.store.Deploy(ctx, id)
	if err != nil || d.State != StateWaiting {
		return
	}
	s.reevaluate(ctx, d)
}

// reevaluate passes a waiting deploy through the rules again: it is
// queued when they all let it through, fails when one refuses it, and
// otherwise waits on.
func (s *Service) reevaluate(ctx context.Context, d *Deploy) {
	app, env, err := s.Lookup(d.App, d.Env)
	if err != nil {
		return
	}
	override := false
	if v, _ := s.Meta(ctx, d.ID, MetaOverrideFreeze); v == "1" {
		override = true
	}
	v := s.judge(ctx, &Admission{App: app, Env: env, Deploy: d, Override: override, Recheck: true, Now: s.clock.Now()})
	s.mu.Lock()
	was := s.waitRule[d.ID]
	s.mu.Unlock()
	switch {
	case v == nil:
		line := "no longer waiting"
		switch {
		case strings.HasPrefix(was, "checks"):
			line = "checks passed"
		case strings.HasPrefix(was, "freeze"):
			line = "the freeze is over"
		case strings.HasPrefix(was, "approvals"):
			line = "approved"
		}
		if err := s.moveWithLine(ctx, d, StateQueued, nil, line); err == nil {
			s.forgetWait(d.ID)
			s.notify(d)
			s.kick(s.lanes[laneKey(d.App, d.Env)])
		}
	case !v.Wait:
		msg := v.Reason
		if err := s.moveWithLine(ctx, d, StateFailed, func(d *Deploy) { d.Error = msg }, msg); err == nil {
			s.forgetWait(d.ID)
			s.notify(d)
		}
	default:
		s.waiting(d, env, v)
	}
}

func (s *Service) forgetWait(id int64) {
	s.mu.Lock()
	if t := s.wakes[id]; t != nil {
		t.Stop()
	}
	delete(s.wakes, id)
	delete(s.waitRule, id)
	s.mu.Unlock()
}

// refuseAuto records a refused auto-deploy as a failed deploy, so that no
// auto-deploy fails silently: it shows in history, chat and on GitHub like
// any other. It returns that deploy with the refusal.
func (s *Service) refuseAuto(ctx context.Context, app *App, env *Environment, r Request, sha string, refusal error) (*Deploy, error) {
	now := time.Now().UTC()
	d := &Deploy{App: app.Name, Env: env.Name, Ref: r.Ref, SHA: sha, State: StateFailed, User: r.User, Source: r.Source,
		ChatThread: r.ChatThread, GitHubDeploymentID: r.GitHubDeploymentID, CreatedAt: now, FinishedAt: now,
		Error: "auto-deploy refused: " + ErrorMessage(refusal)}
	err := s.store.CreateDeploy(ctx, d, AuditEntry{Time: now, User: r.User, Action: "refuse",
		Detail: fmt.Sprintf("auto-deploy of %s (%s) to %s: %s", d.App, ShortSHA(sha), d.Env, ErrorMessage(refusal))})
	if err != nil {
		return nil, err
	}
	s.keepAuthor(ctx, d, r)
	s.systemLine(ctx, d.ID, d.Error)
	s.log.Warn("auto-deploy refused", "id", d.ID, "app", d.App, "env", d.Env, "sha", sha, "why", ErrorMessage(refusal))
	s.notify(d)
	return d, refusal
}

func (s *Service) keepAuthor(ctx context.Context, d *Deploy, r Request) {
	if r.AuthorEmail == "" {
		return
	}
	if err := s.store.SetMeta(ctx, d.ID, MetaAuthorEmail, r.AuthorEmail); err != nil {
		s.log.Error("keeping the author of a deploy", "id", d.ID, "err", err)
	}
}

func checkList(cs []Check) string {
	var parts []string
	for _, c := range cs {
		if c.URL != "" {
			parts = append(parts, c.Name+" ("+c.URL+")")
		} else {
			parts = append(parts, c.Name)
		}
	}
	return strings.Join(parts, ", ")
}

// Recheck passes deploys waiting on sha (every waiting deploy if sha is
// "") through the release rules again: those now let through are queued,
// refused ones fail with the reason. Webhooks call it on status and check
// events; a ticker calls it now and then in case an event was missed.
func (s *Service) Recheck(ctx context.Context, sha string) error {
	waiting, err := s.store.Deploys(ctx, DeployFilter{States: []State{StateWaiting}, Limit: -1})
	if err != nil {
		return err
	}
	for _, d := range waiting {
		if sha != "" && d.SHA != sha {
			continue
		}
		s.reevaluate(ctx, d)
	}
	return nil
}

// scheduleChecksTimeout fails d if it still waits when its environment's
// checks_timeout has passed since it was asked for.
func (s *Service) scheduleChecksTimeout(d *Deploy, env *Environment) {
	if env.ChecksTimeout <= 0 {
		return
	}
	id := d.ID
	s.clock.AfterFunc(d.CreatedAt.Add(env.ChecksTimeout).Sub(s.clock.Now()), func() {
		ctx := s.ctx
		if ctx == nil || ctx.Err() != nil {
			return
		}
		cur, err := s.store.Deploy(ctx, id)
		if err != nil || cur.State != StateWaiting {
			return
		}
		s.mu.Lock()
		onChecks := strings.HasPrefix(s.waitRule[id], "checks")
		s.mu.Unlock()
		if !onChecks {
			return // it waits on another rule now
		}
		msg := fmt.Sprintf("checks still pending after %s", env.ChecksTimeout)
		if app, _, err := s.Lookup(cur.App, cur.Env); err == nil {
			if rep, err := s.checker.Checks(ctx, app, cur.SHA, env.RequiredContexts); err == nil && len(rep.Pending) > 0 {
				msg += ": " + checkList(rep.Pending)
			}
		}
		if err := s.moveWithLine(ctx, cur, StateFailed, func(d *Deploy) { d.Error = msg }, msg); err == nil {
			s.forgetWait(id)
			s.notify(cur)
		}
	})
}

// watchWaiting rechecks waiting deploys now and then, in case an event
// was missed, and at start sets their timeouts.
func (s *Service) watchWaiting() {
	defer s.wg.Done()
	t := time.NewTicker(s.recheck)
	defer t.Stop()
	for {
		if err := s.Recheck(s.ctx, ""); err != nil && s.ctx.Err() == nil {
			s.log.Error("rechecking waiting deploys", "err", err)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// supersede marks older auto-deploys of d's lane that have not started.
func (s *Service) supersede(ctx context.Context, d *Deploy) ([]*Deploy, error) {
	old, err := s.store.Deploys(ctx, DeployFilter{App: d.App, Env: d.Env, States: []State{StateQueued, StateWaiting}, Limit: -1})
	if err != nil {
		return nil, err
	}
	var done []*Deploy
	for _, o := range old {
		if o.ID == d.ID || o.Source != SourceAuto || o.ID > d.ID {
			continue
		}
		msg := fmt.Sprintf("superseded by #%d (%s)", d.ID, ShortSHA(d.SHA))
		if err := s.moveWithLine(ctx, o, StateSuperseded, func(o *Deploy) { o.Error = msg }, msg); err != nil {
			if ErrorCode(err) == EConflict {
				continue // it started meanwhile
			}
			return nil, err
		}
		done = append(done, o)
	}
	return done, nil
}

// blockingLock returns the live lock that keeps user from deploying app to
// env, or nil. Call with the env's mutex held (shared is enough).
func (s *Service) blockingLock(app, env, user string) *Lock {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range []string{laneKey(env, app), laneKey(env, "")} {
		if l := s.locks[key]; l != nil && !l.Expired(now) && l.Owner != user {
			return l
		}
	}
	return nil
}

// lockOf returns the lock of exactly (env, app), expired or not, or nil.
func (s *Service) lockOf(env, app string) *Lock {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locks[laneKey(env, app)]
}

func (s *Service) setLock(env, app string, l *Lock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l == nil {
		delete(s.locks, laneKey(env, app))
	} else {
		s.locks[laneKey(env, app)] = l
	}
}

func lockedError(l *Lock, now time.Time) error {
	msg := fmt.Sprintf("%s is locked by %s (%s ago)", l.Scope(), l.Owner, Age(now.Sub(l.CreatedAt)))
	if l.Reason != "" {
		msg += ": " + l.Reason
	}
	return Errorf(ELocked, "%s", msg)
}

// Age formats a duration for people: 45s, 12m, 3h5m, 2d4h.
func Age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour && int(d.Minutes())%60 == 0:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	case int(d.Hours())%24 == 0:
		return fmt.Sprintf("%dd", int(d.Hours())/24)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// RollbackRequest asks to deploy an earlier sha again.
type RollbackRequest struct {
	App, Env   string
	To         string // "": the previous successful deploy; "#N": deploy N; else a ref
	User       string
	ChatThread string
}

// Rollback queues a deploy of an earlier version: by default the sha of
// the successful deploy before the current one. ENotFound, EInvalid,
// EConflict (nothing to roll back to), ELocked.
func (s *Service) Rollback(ctx context.Context, r RollbackRequest) (*Deploy, error) {
	app, env, err := s.Lookup(r.App, r.Env)
	if err != nil {
		return nil, err
	}
	req := Request{App: app.Name, Env: env.Name, User: r.User, Source: SourceRollback, ChatThread: r.ChatThread}
	switch {
	case r.To == "":
		cur, err := s.store.LastSucceeded(ctx, app.Name, env.Name, 0)
		if err != nil {
			return nil, err
		}
		if cur == nil {
			return nil, Errorf(EConflict, "%s has never been deployed to %s: nothing to roll back", app.Name, env.Name)
		}
		prev := cur
		for prev != nil && prev.SHA == cur.SHA {
			if prev, err = s.store.LastSucceeded(ctx, app.Name, env.Name, prev.ID); err != nil {
				return nil, err
			}
		}
		if prev == nil {
			return nil, Errorf(EConflict, "%s in %s has no earlier successful deploy than #%d (%s) to roll back to",
				app.Name, env.Name, cur.ID, ShortSHA(cur.SHA))
		}
		req.Ref, req.SHA = prev.SHA, prev.SHA
	case strings.HasPrefix(r.To, "#"):
		var id int64
		if _, err := fmt.Sscanf(r.To, "#%d", &id); err != nil || fmt.Sprintf("#%d", id) != r.To {
			return nil, Errorf(EInvalid, "bad deploy number %q: use #N", r.To)
		}
		d, err := s.store.Deploy(ctx, id)
		if err != nil {
			return nil, err
		}
		if d.App != app.Name || d.Env != env.Name {
			return nil, Errorf(EInvalid, "deploy #%d is %s in %s, not %s in %s", id, d.App, d.Env, app.Name, env.Name)
		}
		if d.Op != "" {
			return nil, Errorf(EInvalid, "#%d is an operation (%s), not a deploy", id, d.Describe())
		}
		if d.State != StateSucceeded {
			return nil, Errorf(EConflict, "deploy #%d %s; roll back only to a deploy that succeeded", id, d.State)
		}
		req.Ref, req.SHA = d.SHA, d.SHA
	default:
		req.Ref = r.To
	}
	return s.Submit(ctx, req)
}

// Cancel cancels a waiting or queued deploy at once, or stops a running
// one (its runner's process tree is ended; the deploy becomes canceled
// when the runner returns). ENotFound, EConflict for a finished deploy.
func (s *Service) Cancel(ctx context.Context, id int64, user string) (*Deploy, error) {
	for {
		d, err := s.store.Deploy(ctx, id)
		if err != nil {
			return nil, err
		}
		if app, env, err := s.Lookup(d.App, d.Env); err == nil && d.User != user {
			if err := s.mayDeploy(ctx, app, env, user, "cancel deploys of"); err != nil {
				return nil, err
			}
		}
		switch d.State {
		case StateQueued, StateWaiting:
			err := s.moveWithLine(ctx, d, StateCanceled, func(d *Deploy) { d.Error = "canceled by " + user },
				"canceled by "+user+" before it ran")
			if ErrorCode(err) == EConflict {
				continue // it just started: cancel the run
			}
			if err != nil {
				return nil, err
			}
			s.notify(d)
			s.audit(ctx, user, "cancel", fmt.Sprintf("#%d", id), "before it ran")
			return d, nil
		case StateRunning:
			s.mu.Lock()
			cancel := s.running[id]
			s.mu.Unlock()
			if cancel == nil { // between its start and its registration
				time.Sleep(time.Millisecond)
				continue
			}
			cancel(&canceledBy{user: user})
			s.audit(ctx, user, "cancel", fmt.Sprintf("#%d", id), "while running")
			return d, nil
		default:
			return nil, Errorf(EConflict, "deploy #%d already %s", id, d.State)
		}
	}
}

// Continue lets a paused deploy go on. ENotFound, EForbidden (deployers
// of its environment, or whoever asked for it), EConflict when it is not
// paused.
func (s *Service) Continue(ctx context.Context, id int64, user string) (*Deploy, error) {
	d, err := s.store.Deploy(ctx, id)
	if err != nil {
		return nil, err
	}
	if app, env, err := s.Lookup(d.App, d.Env); err == nil && d.User != user {
		if err := s.mayDeploy(ctx, app, env, user, "continue deploys of"); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	ch := s.continues[id]
	if ch != nil {
		delete(s.continues, id)
	}
	s.mu.Unlock()
	if ch == nil {
		return nil, Errorf(EConflict, "#%d is %s, not paused", id, d.State)
	}
	ch <- user
	s.audit(ctx, user, "continue", fmt.Sprintf("#%d", id), "")
	return d, nil
}

// LockRequest asks for a lock.
type LockRequest struct {
	Env, App string // App "" locks the whole environment
	Owner    string
	Reason   string
	TTL      time.Duration // 0: until unlocked
	Steal    bool          // take it from its holder
}

// Lock takes a lock and returns it with the lock it replaced, if any. A
// lock held by someone else is ELocked unless Steal is set; the holder may
// renew it. ENotFound for an unknown env or app.
func (s *Service) Lock(ctx context.Context, r LockRequest) (lock, replaced *Lock, err error) {
	if !s.envKnown(r.Env) {
		return nil, nil, Errorf(ENotFound, "unknown environment %q", r.Env)
	}
	if r.App != "" {
		if _, _, err := s.Lookup(r.App, r.Env); err != nil {
			return nil, nil, err
		}
	}
	if r.Owner == "" {
		return nil, nil, Errorf(EInvalid, "a lock needs an owner")
	}
	if err := s.mayLock(ctx, r.Env, r.App, r.Owner); err != nil {
		return nil, nil, err
	}
	if r.TTL < 0 {
		return nil, nil, Errorf(EInvalid, "a lock's duration must be positive")
	}
	now := time.Now().UTC()
	l := &Lock{Env: r.Env, App: r.App, Owner: r.Owner, Reason: r.Reason, CreatedAt: now}
	if r.TTL > 0 {
		l.ExpiresAt = now.Add(r.TTL)
	}
	mu := s.envMus[r.Env]
	mu.Lock()
	cur := s.currentLock(r.Env, r.App)
	if cur != nil && cur.Owner != r.Owner && !r.Steal {
		err = Errorf(ELocked, "%s (use lock! to take it)", lockedError(cur, now).Error())
	}
	if err == nil {
		if cur != nil && cur.Owner == r.Owner {
			l.CreatedAt = cur.CreatedAt // a renewal keeps its age
		}
		if err = s.store.PutLock(ctx, l); err == nil {
			s.setLock(l.Env, l.App, l)
		}
	}
	mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	action, detail := "lock", r.Reason
	if cur != nil && cur.Owner != r.Owner {
		action, detail = "steal", "from "+cur.Owner+": "+r.Reason
	}
	s.audit(ctx, r.Owner, action, l.Scope(), detail)
	s.scheduleExpiry(l)
	for _, n := range s.notifiers {
		n.LockChanged(l, true)
	}
	return l, cur, nil
}

// currentLock returns the live lock of exactly (env, app), or nil.
func (s *Service) currentLock(env, app string) *Lock {
	if l := s.lockOf(env, app); l != nil && !l.Expired(time.Now()) {
		return l
	}
	return nil
}

// Unlock removes the lock of (env, app) and returns it; queued deploys it
// held back go on. ENotFound when there is no such lock.
func (s *Service) Unlock(ctx context.Context, env, app, user string) (*Lock, error) {
	if !s.envKnown(env) {
		return nil, Errorf(ENotFound, "unknown environment %q", env)
	}
	if err := s.mayLock(ctx, env, app, user); err != nil {
		return nil, err
	}
	mu := s.envMus[env]
	mu.Lock()
	cur := s.currentLock(env, app)
	var err error
	if cur == nil {
		scope := env
		if app != "" {
			scope = app + " in " + env
		}
		err = Errorf(ENotFound, "%s is not locked", scope)
	} else if err = s.store.DeleteLock(ctx, env, app); err == nil {
		s.setLock(env, app, nil)
	}
	mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.audit(ctx, user, "unlock", cur.Scope(), "held by "+cur.Owner)
	for _, n := range s.notifiers {
		n.LockChanged(cur, false)
	}
	s.kickEnv(env)
	return cur, nil
}

// scheduleExpiry removes l when it runs out and lets held deploys go on.
func (s *Service) scheduleExpiry(l *Lock) {
	key := laneKey(l.Env, l.App)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.timers[key]; t != nil {
		t.Stop()
		delete(s.timers, key)
	}
	if l.ExpiresAt.IsZero() {
		return
	}
	created := l.CreatedAt
	s.timers[key] = time.AfterFunc(time.Until(l.ExpiresAt), func() {
		ctx := s.ctx
		if ctx == nil || ctx.Err() != nil {
			return
		}
		mu := s.envMus[l.Env]
		mu.Lock()
		var err error
		cur := s.lockOf(l.Env, l.App)
		removed := cur != nil && cur.CreatedAt.Equal(created) && cur.Owner == l.Owner
		if removed {
			if err = s.store.DeleteLock(ctx, l.Env, l.App); err == nil {
				s.setLock(l.Env, l.App, nil)
			}
		}
		mu.Unlock()
		if err != nil {
			s.log.Error("expiring lock", "scope", l.Scope(), "err", err)
			return
		}
		if removed {
			s.audit(ctx, l.Owner, "expire", l.Scope(), l.Reason)
			for _, n := range s.notifiers {
				n.LockChanged(l, false)
			}
		}
		s.kickEnv(l.Env)
	})
}

// Locks returns the live locks, by environment and app.
func (s *Service) Locks(ctx context.Context) ([]*Lock, error) {
	now := time.Now()
	s.mu.Lock()
	var live []*Lock
	for _, l := range s.locks {
		if !l.Expired(now) {
			c := *l
			live = append(live, &c)
		}
	}
	s.mu.Unlock()
	sort.Slice(live, func(i, j int) bool {
		return live[i].Env < live[j].Env || live[i].Env == live[j].Env && live[i].App < live[j].App
	})
	return live, nil
}

// EnvStatus is what runs where: one app in one environment.
type EnvStatus struct {
	App, Env string
	Current  *Deploy // newest succeeded
	Running  *Deploy
	Progress *Progress // of the running deploy, if it reported any
	Last     *Deploy   // newest of any state
	Queued   int
	Waiting  int
	Lock     *Lock  // the lock that holds this app in this env: app scope first
	Freeze   string // what freezes the env now ("" if nothing)
	Repo     string // the app's repo
}

// Environments returns the status of every configured app+env, in config
// order.
func (s *Service) Environments(ctx context.Context) ([]EnvStatus, error) {
	sums, err := s.store.Lanes(ctx)
	if err != nil {
		return nil, err
	}
	byKey := map[string]LaneSummary{}
	for _, l := range sums {
		byKey[laneKey(l.App, l.Env)] = l
	}
	locks, err := s.Locks(ctx)
	if err != nil {
		return nil, err
	}
	var out []EnvStatus
	for _, a := range s.apps {
		for _, e := range a.Environments {
			sum := byKey[laneKey(a.Name, e.Name)]
			st := EnvStatus{App: a.Name, Env: e.Name, Current: sum.Current, Running: sum.Running, Last: sum.Last,
				Queued: sum.Queued, Waiting: sum.Waiting, Freeze: s.FreezeStatus(e.Name), Repo: a.Repo}
			for _, l := range locks {
				if l.Env == e.Name && l.App == a.Name {
					st.Lock = l
				}
			}
			for _, l := range locks {
				if st.Lock == nil && l.Env == e.Name && l.App == "" {
					st.Lock = l
				}
			}
			if st.Running != nil {
				st.Progress = s.Progress(st.Running.ID)
			}
			out = append(out, st)
		}
	}
	return out, nil
}

// Deploy returns one deploy (ENotFound).
func (s *Service) Deploy(ctx context.Context, id int64) (*Deploy, error) {
	return s.store.Deploy(ctx, id)
}

// Deploys lists deploys, newest first.
func (s *Service) Deploys(ctx context.Context, f DeployFilter) ([]*Deploy, error) {
	return s.store.Deploys(ctx, f)
}

// Changes says what a deploy brings to its environment compared with what
// runs there now: a link and a commit count ("" when unknown).
func (s *Service) Changes(ctx context.Context, d *Deploy) (string, int) {
	app, _, err := s.Lookup(d.App, d.Env)
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

// View returns what adapters show of d: its progress while it runs (even
// when d was read before it started), why
// it waits, whether it waits for approvals, and its app's repo. It reads
// only memory.
func (s *Service) View(d *Deploy) DeployView {
	v := DeployView{Deploy: d}
	if d == nil {
		return v
	}
	if app, _, err := s.Lookup(d.App, d.Env); err == nil {
		v.Repo = app.Repo
	}
	v.Progress = s.Progress(d.ID) // only a running deploy has any
	switch d.State {
	case StateWaiting:
		s.mu.Lock()
		rule, why, ok := strings.Cut(s.waitRule[d.ID], ": ")
		s.mu.Unlock()
		if ok {
			v.Waiting = &Waiting{Rule: rule, Reason: why}
		}
		v.NeedsApproval = s.NeedsApproval(d)
	}
	return v
}

// Health is nil when deploys can be recorded, EUnavailable (saying why)
// when the database cannot be written.
func (s *Service) Health(ctx context.Context) error { return s.store.Health(ctx) }

// Progress returns the last progress a running deploy reported, or nil.
func (s *Service) Progress(id int64) *Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.progress[id]; ok {
		return &p
	}
	return nil
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
	last := after
	drain := func(upTo int64) error {
		for {
			lines, err := s.store.Log(ctx, id, last, 2000)
			if err != nil {
				return err
			}
			if upTo > 0 {
				for i, l := range lines {
					if l.Seq > upTo {
						lines = lines[:i]
						break
					}
				}
			}
			if len(lines) == 0 {
				return nil
			}
			if err := emit(lines); err != nil {
				return err
			}
			last = lines[len(lines)-1].Seq
		}
	}
	for {
		dl, err := s.logs.acquire(ctx, id)
		if err != nil {
			return nil, err
		}
		f := dl.subscribe()
		d, err := s.store.Deploy(ctx, id)
		if err != nil || d.State.Terminal() {
			dl.unsubscribe(f)
			s.logs.release(dl)
			if err != nil {
				return nil, err
			}
			return d, drain(0)
		}
		dl.waitPersisted(f.start - 1)
		err = drain(f.start - 1)
		batch := make([]LogLine, 0, 256)
		for err == nil {
			var line LogLine
			var ok bool
			select {
			case <-ctx.Done():
				err = ctx.Err()
				continue
			case line, ok = <-f.c:
			}
			if !ok {
				break
			}
			batch = append(batch[:0], line)
		more:
			for len(batch) < cap(batch) {
				select {
				case l, ok2 := <-f.c:
					if !ok2 {
						break more
					}
					batch = append(batch, l)
				default:
					break more
				}
			}
			i := 0
			for i < len(batch) && batch[i].Seq <= last {
				i++
			}
			if i < len(batch) {
				if err = emit(batch[i:]); err == nil {
					last = batch[len(batch)-1].Seq
				}
			}
		}
		dl.unsubscribe(f)
		s.logs.release(dl)
		if err != nil {
			return nil, err
		}
		if f.dropped {
			continue // fell behind: catch up from the store
		}
		// The log ended: everything is stored. Finish even if the caller
		// is going away: these are two short reads.
		ctx = context.WithoutCancel(ctx)
		if err := drain(0); err != nil {
			return nil, err
		}
		if d, err = s.store.Deploy(ctx, id); err != nil || d.State.Terminal() {
			return d, err
		}
	}
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

// Operate queues an app operation (scale, restart, stop, start) in the
// app+env's lane: the same permissions (deployers) and locks as a deploy,
// logged, cancellable, one at a time with deploys. It returns EUnsupported
// for runners that cannot, EInvalid, EForbidden, ELocked.
func (s *Service) Operate(ctx context.Context, r OpRequest) (*Deploy, error) {
	app, env, err := s.Lookup(r.App, r.Env)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(Ops, r.Op) {
		return nil, Errorf(EInvalid, "unknown operation %q (known: %s)", r.Op, strings.Join(Ops, ", "))
	}
	if r.Op == "scale" && (r.Instances < 0 || r.Instances > 10000) {
		return nil, Errorf(EInvalid, "cannot scale to %d instances", r.Instances)
	}
	if r.Op != "scale" {
		r.Instances = 0
	}
	if _, ok := s.runners[env.Runner].(Operator); !ok {
		return nil, Errorf(EUnsupported, "the %s runner of %s in %s cannot %s (runners that can: marathon)", env.Runner, app.Name, env.Name, r.Op)
	}
	if r.User == "" {
		return nil, Errorf(EInvalid, "an operation needs a user")
	}
	if err := s.mayDeploy(ctx, app, env, r.User, r.Op); err != nil {
		return nil, err
	}
	if r.Source == "" {
		r.Source = SourceAPI
	}
	sha := ""
	if prev, err := s.store.LastSucceeded(ctx, app.Name, env.Name, 0); err == nil && prev != nil {
		sha = prev.SHA
	}
	d := &Deploy{App: app.Name, Env: env.Name, SHA: sha, State: StateQueued, User: r.User, Source: r.Source,
		ChatThread: r.ChatThread, Op: r.Op, Instances: r.Instances}
	mu := s.envMus[env.Name]
	mu.RLock()
	if lock := s.blockingLock(app.Name, env.Name, r.User); lock != nil {
		err = lockedError(lock, time.Now())
	} else {
		err = s.store.CreateDeploy(ctx, d, AuditEntry{Time: time.Now().UTC(), User: r.User, Action: r.Op,
			Detail: d.Describe() + ", " + string(d.Source)})
	}
	mu.RUnlock()
	if err != nil {
		return nil, err
	}
	s.notify(d)
	s.kick(s.lanes[laneKey(app.Name, env.Name)])
	return d, nil
}

// Live asks the runner of app in env what runs there now (the images in
// the cluster, ...): "" when it cannot tell.
func (s *Service) Live(ctx context.Context, appName, envName string) (string, error) {
	app, env, err := s.Lookup(appName, envName)
	if err != nil {
		return "", err
	}
	in, ok := s.runners[env.Runner].(Inspector)
	if !ok {
		return "", nil
	}
	return in.Live(ctx, app, env)
}

// Outbox gives adapters the store's outbox: messages to outside services
// that must not be lost, delivered in order per key.
func (s *Service) Outbox() Outbox { return s.store }

// Outbox is the part of the Store that keeps outgoing messages.
type Outbox interface {
	OutboxAdd(ctx context.Context, key, body string) error
	OutboxDue(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error)
	// OutboxNext says when the next message comes due (false: none waits).
	OutboxNext(ctx context.Context) (time.Time, bool, error)
	OutboxDone(ctx context.Context, id int64) error
	OutboxRetry(ctx context.Context, id int64, next time.Time, lastErr string) error
}

// Once records key (a webhook delivery id, ...) and reports whether this
// is the first time; it survives restarts.
func (s *Service) Once(ctx context.Context, key string) (bool, error) {
	return s.store.Once(ctx, key)
}

// SetMeta keeps a value an adapter attaches to a deploy, such as the chat
// message that shows it; keys are namespaced by adapter ("slack.message").
func (s *Service) SetMeta(ctx context.Context, id int64, key, value string) error {
	return s.store.SetMeta(ctx, id, key, value)
}

// Meta returns a value set with SetMeta, "" if none.
func (s *Service) Meta(ctx context.Context, id int64, key string) (string, error) {
	return s.store.Meta(ctx, id, key)
}

// AuditLog returns the newest audit entries.
func (s *Service) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	return s.store.AuditLog(ctx, limit)
}

func (s *Service) kick(l *lane) {
	if l == nil {
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (s *Service) kickEnv(env string) {
	keys := make([]string, 0, len(s.lanes))
	for k, l := range s.lanes {
		if l.env.Name == env {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.kick(s.lanes[k])
	}
}

// work is the dispatcher of one app+env: woken by events, never polling.
func (s *Service) work(l *lane) {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-l.wake:
		}
		for s.ctx.Err() == nil {
			d, err := s.startNext(l)
			if err != nil {
				if s.ctx.Err() == nil {
					s.log.Error("starting a deploy", "app", l.app.Name, "env", l.env.Name, "err", err)
				}
				break
			}
			if d == nil {
				break
			}
			s.run(l, d)
			<-s.slots
		}
	}
}

// startNext takes a slot and moves the lane's oldest queued deploy to
// running, unless the lane is empty or held by a lock. It returns the
// running deploy with its slot held, or nil with no slot held.
func (s *Service) startNext(l *lane) (*Deploy, error) {
	ctx := s.ctx
	d, err := s.store.NextQueued(ctx, l.app.Name, l.env.Name)
	if err != nil || d == nil {
		return nil, err
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		started, err := s.admit(ctx, l, d)
		if ErrorCode(err) == EConflict {
			// canceled or superseded meanwhile: take the next one
			if d, err = s.store.NextQueued(ctx, l.app.Name, l.env.Name); err == nil && d != nil {
				continue
			}
		}
		if err != nil || started == nil {
			<-s.slots
		}
		return started, err
	}
}

// admit starts d, the lane's oldest queued deploy, unless a lock holds it.
// EConflict if d is no longer queued.
func (s *Service) admit(ctx context.Context, l *lane, d *Deploy) (*Deploy, error) {
	mu := s.envMus[l.env.Name]
	mu.RLock()
	defer mu.RUnlock()
	if s.blockingLock(d.App, d.Env, d.User) != nil {
		return nil, nil // held back until unlock or expiry kicks the lane
	}
	if !l.currentLoaded {
		prev, err := s.store.LastSucceeded(ctx, d.App, d.Env, 0)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			l.current = prev.SHA
		}
		l.currentLoaded = true
	}
	err := s.transition(ctx, d, StateRunning, func(d *Deploy) {
		d.StartedAt = time.Now().UTC()
		d.PreviousSHA = l.current
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// run executes a running deploy to its end.
func (s *Service) run(l *lane, d *Deploy) {
	ctx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	if l.env.Timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, l.env.Timeout, &timeoutError{d: l.env.Timeout})
		defer stop()
	}
	s.mu.Lock()
	s.running[d.ID] = cancel
	s.mu.Unlock()

	final := context.WithoutCancel(ctx)
	dl, err := s.logs.acquire(final, d.ID)
	if err != nil {
		s.finish(final, d, nil, StateFailed, "could not open the log: "+err.Error())
		return
	}
	out := &runOutput{s: s, d: d, log: dl}
	out.touch()
	if l.env.IdleTimeout > 0 {
		go out.watch(ctx, l.env.IdleTimeout, cancel)
	}
	what := "deploy"
	if d.Op != "" {
		what = "operation"
	}
	dl.appendLine(StreamSystem, "", fmt.Sprintf("%s #%d: %s by %s, runner %s", what, d.ID, d.Describe(), d.User, l.env.Runner))
	job := Job{DeployID: d.ID, Number: d.Number, App: d.App, Env: d.Env, Ref: d.Ref, SHA: d.SHA,
		PreviousSHA: d.PreviousSHA, User: d.User, Git: l.app.Git, Settings: l.env.Settings, Op: d.Op, Instances: d.Instances}

	res, runErr := s.safeRun(ctx, s.runners[l.env.Runner], job, out)
	out.closeAll()

	state, msg := StateSucceeded, ""
	cause := context.Cause(ctx)
	var by *canceledBy
	var to *timeoutError
	switch {
	case runErr == nil && res.OK:
	case errors.As(cause, &by):
		state, msg = StateCanceled, withSummary(by.Error(), res.Message)
	case errors.Is(cause, ErrShutdown):
		state, msg = StateInterrupted, withSummary(ErrShutdown.Error(), res.Message)
	case errors.As(cause, &to):
		state, msg = StateFailed, withSummary(to.Error(), res.Message)
	case runErr != nil:
		state, msg = StateFailed, "could not run: "+runErr.Error()
	default:
		state, msg = StateFailed, res.Message
		if msg == "" {
			msg = "the runner reported a failure"
		}
	}
	s.finish(final, d, dl, state, msg)
	if d.State == StateSucceeded && d.Op == "" {
		l.current = d.SHA
		s.schedulePromotion(d, l.env, s.clock.Now())
	}
}

// withSummary adds what the runner said of how it stopped (say, what it
// undid) to why it stopped.
func withSummary(why, summary string) string {
	if summary == "" {
		return why
	}
	return why + "; " + summary
}

func (s *Service) safeRun(ctx context.Context, r Runner, job Job, out Output) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("runner panic", "deploy", job.DeployID, "panic", p)
			res, err = Result{}, fmt.Errorf("runner panic: %v", p)
		}
	}()
	if job.Op != "" {
		o, ok := r.(Operator)
		if !ok {
			return Result{}, fmt.Errorf("the runner cannot %s", job.Op)
		}
		return o.Operate(ctx, job, out)
	}
	return r.Run(ctx, job, out)
}

// finish writes the last log line, flushes the log, then records the end
// state, so that whoever sees the end state finds the whole log stored.
func (s *Service) finish(ctx context.Context, d *Deploy, dl *deployLog, state State, msg string) {
	took := time.Since(d.StartedAt).Round(100 * time.Millisecond)
	what := "deploy"
	if d.Op != "" {
		what = "operation"
	}
	line := fmt.Sprintf("%s #%d %s in %s", what, d.ID, state, took)
	if msg != "" {
		line += ": " + msg
	}
	var lines []LogLine
	if dl != nil {
		dl.appendLine(StreamSystem, "", line)
		lines = dl.takePending() // stored with the end state, in one transaction
	}
	err := s.save(ctx, d, state, func(d *Deploy) { d.Error = msg }, lines)
	if err != nil {
		s.log.Error("recording the end of a deploy", "id", d.ID, "state", state, "err", err)
		if len(lines) > 0 {
			if err := s.store.AppendLog(ctx, lines); err != nil {
				s.log.Error("saving log lines", "id", d.ID, "err", err)
			}
		}
	}
	if dl != nil {
		dl.stored(lines)
	}
	if err == nil {
		s.logs.end(d.ID)
		s.notify(d)
	}
	s.mu.Lock()
	delete(s.running, d.ID)
	delete(s.progress, d.ID)
	s.mu.Unlock()
	if dl != nil {
		s.logs.release(dl)
	}
	s.log.Info("deploy finished", "id", d.ID, "app", d.App, "env", d.Env, "state", state, "took", took, "error", msg)
}

// transition moves d to a new state through the transition table, saves
// it conditionally, and tells the notifiers.
func (s *Service) transition(ctx context.Context, d *Deploy, to State, mutate func(*Deploy)) error {
	if err := s.save(ctx, d, to, mutate, nil); err != nil {
		return err
	}
	if to.Terminal() {
		s.logs.end(d.ID)
	}
	s.notify(d)
	return nil
}

// save checks a move against the transition table and stores it (with
// log lines, if any) conditionally on the state d had.
func (s *Service) save(ctx context.Context, d *Deploy, to State, mutate func(*Deploy), lines []LogLine) error {
	if !CanTransition(d.State, to) {
		return Errorf(EConflict, "deploy #%d is %s; it cannot become %s", d.ID, d.State, to)
	}
	from := d.State
	next := *d
	next.State = to
	if mutate != nil {
		mutate(&next)
	}
	if to.Terminal() && next.FinishedAt.IsZero() {
		next.FinishedAt = time.Now().UTC()
	}
	if err := s.store.UpdateDeploy(ctx, &next, from, lines); err != nil {
		return err
	}
	*d = next
	return nil
}

func (s *Service) notify(d *Deploy) {
	c := *d
	for _, n := range s.notifiers {
		n.DeployChanged(&c)
	}
}

// moveWithLine moves a deploy that no runner holds (queued, waiting, or
// found running at start) to a new state and writes a line to its log, in
// one transaction; on a conflict neither happens. The caller notifies.
func (s *Service) moveWithLine(ctx context.Context, d *Deploy, to State, mutate func(*Deploy), text string) error {
	dl, err := s.logs.acquire(ctx, d.ID)
	if err != nil {
		return err
	}
	defer s.logs.release(dl)
	dl.flush()
	line := dl.prepare(StreamSystem, text)
	if err := s.save(ctx, d, to, mutate, []LogLine{line}); err != nil {
		return err
	}
	dl.publish(line)
	if to.Terminal() {
		s.logs.end(d.ID)
	}
	return nil
}

// systemLine writes one system line to a deploy's log and stores it.
func (s *Service) systemLine(ctx context.Context, id int64, text string) {
	dl, err := s.logs.acquire(ctx, id)
	if err != nil {
		s.log.Error("writing a log line", "id", id, "err", err)
		return
	}
	dl.appendLine(StreamSystem, "", text)
	dl.flush()
	s.logs.release(dl)
}

func (s *Service) audit(ctx context.Context, user, action, target, detail string) {
	err := s.store.Audit(context.WithoutCancel(ctx), AuditEntry{Time: time.Now().UTC(), User: user,
		Action: action, Target: target, Detail: detail})
	if err != nil {
		s.log.Error("writing the audit trail", "err", err)
	}
}

// runOutput is the Output a runner writes to.
type runOutput struct {
	s      *Service
	d      *Deploy
	log    *deployLog
	last   atomic.Int64
	paused atomic.Bool

	mu      sync.Mutex
	writers []*lineWriter
}

func (o *runOutput) touch() { o.last.Store(time.Now().UnixNano()) }

// Stream implements Output.
func (o *runOutput) Stream(stream, host string) io.WriteCloser {
	if stream != StreamStderr {
		stream = StreamStdout
	}
	w := &lineWriter{log: o.log, stream: stream, host: host, touch: o.touch}
	o.mu.Lock()
	o.writers = append(o.writers, w)
	o.mu.Unlock()
	return w
}

// Progress implements Output.
func (o *runOutput) Progress(p Progress) {
	o.touch()
	o.s.mu.Lock()
	o.s.progress[o.d.ID] = p
	o.s.mu.Unlock()
	o.s.notify(o.d)
}

// Pause implements Output.
func (o *runOutput) Pause(ctx context.Context, reason string) error {
	ch := make(chan string, 1)
	o.s.mu.Lock()
	prev := o.s.progress[o.d.ID]
	o.s.continues[o.d.ID] = ch
	o.s.mu.Unlock()
	defer func() {
		o.s.mu.Lock()
		delete(o.s.continues, o.d.ID)
		o.s.mu.Unlock()
	}()
	o.paused.Store(true)
	defer func() { o.paused.Store(false); o.touch() }()
	o.log.appendLine(StreamSystem, "", "paused: "+reason+fmt.Sprintf(" (continue #%d to go on)", o.d.ID))
	o.Progress(Progress{Phase: PhasePaused, Done: prev.Done, Total: prev.Total, Message: reason})
	select {
	case user := <-ch:
		o.log.appendLine(StreamSystem, "", "continued by "+user)
		o.Progress(prev)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *runOutput) closeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.writers {
		w.Close()
	}
}

// watch cancels the run when no output came for idle.
func (o *runOutput) watch(ctx context.Context, idle time.Duration, cancel context.CancelCauseFunc) {
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if o.paused.Load() {
				o.touch() // waiting for a person is not silence
			}
			since := time.Since(time.Unix(0, o.last.Load()))
			if since >= idle {
				cancel(&timeoutError{idle: true, d: idle})
				return
			}
			t.Reset(idle - since)
		}
	}
}
