package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
)

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
	// Noop asks for a dry run (OpNoop) of what the deploy would do.
	Noop bool
	// Params are the deploy's parameters, as given (name -> value): they
	// are checked against the environment's, and kept with the deploy.
	Params map[string]string
	// Meta is what the adapter that asks keeps with the deploy (keys
	// namespaced by adapter: "actions.run"), stored before anyone hears
	// of it.
	Meta map[string]string

	op        string // an app operation (OpRequest), "" for a deploy
	instances int
}

// admission is the one way in for every deploy and operation, whoever
// asks: validate, resolve, pass the rule chain, look at the lock once
// more under the environment's hold, and record it.
type admission struct {
	cat      *catalog
	access   *access
	rules    chain
	locks    *lockTable
	freezes  *freezeBook
	store    Store
	door     *door
	resolver Resolver
	runners  map[string]Runner // asked whether they run deploys of a source (SourceChecker)
	clock    Clock
	log      *slog.Logger

	supersede sync.Mutex // one auto-deploy at a time replaces older ones
}

// admit records r as a queued or waiting deploy and returns it. It
// returns ENotFound (app, env), EInvalid, EForbidden, ELocked, EFrozen,
// EChecksFailed. An automatic deploy refused by a rule is recorded as a
// failed deploy, returned along with the refusal.
func (a *admission) admit(ctx context.Context, r Request) (*Deploy, error) {
	app, env, err := a.cat.target(r.App, r.Env)
	if err != nil {
		return nil, err
	}
	if r.User == "" {
		return nil, Errorf(EInvalid, "%s needs a user", map[bool]string{true: "an operation", false: "a deploy"}[r.op != ""])
	}
	if err := ValidUser(r.User); err != nil {
		return nil, err
	}
	if r.Source == "" {
		r.Source = SourceAPI
	}
	if r.op == "" {
		if r.Ref == "" {
			r.Ref = app.DefaultRef
		}
		if !ValidRef(r.Ref) {
			return nil, Errorf(EInvalid, "invalid ref %q: use a sha, branch or tag", r.Ref)
		}
	}
	if r.Override {
		r.Force = true // deploy!! is deploy! too
	}
	var params map[string]string
	if r.op == "" {
		if params, err = checkParams(env, r.Params); err != nil {
			return nil, err
		}
	}
	d := &Deploy{App: app.Name, Env: env.Name, Ref: r.Ref, State: StateQueued, User: r.User, Source: r.Source,
		Force: r.Force, ChatThread: r.ChatThread, GitHubDeploymentID: r.GitHubDeploymentID, Op: r.op, Instances: r.instances}
	adm := &Admission{App: app, Env: env, Deploy: d, Override: r.Override}
	if !automatic(r.Source) { // who may is known before anything is resolved
		if v := (permissionRule{a.access}).Check(ctx, adm); v != nil {
			return nil, v.Err
		}
	}
	var refused error // by the runner: it does not run deploys of this source
	if c, ok := a.runners[env.Runner].(SourceChecker); ok && r.op == "" {
		refused = c.AcceptsSource(env, r.Source)
	}
	if refused != nil && !automatic(r.Source) {
		return nil, refused
	}
	if r.Noop {
		if _, ok := a.runners[env.Runner].(Rehearser); !ok {
			return nil, Errorf(EUnsupported, "the %s runner of %s in %s cannot do a dry run yet (runners that can: shell, ssh, kubernetes, marathon)", env.Runner, app.Name, env.Name)
		}
	}
	if d.SHA, err = a.sha(ctx, app, env, r); err != nil {
		return nil, err
	}
	if r.Noop {
		d.Op = OpNoop
	}
	if refused != nil {
		return a.refuseAuto(ctx, d, r, refused)
	}
	if err := a.locks.sync(ctx); err != nil {
		return nil, err
	}
	now := a.clock.Now()
	d.CreatedAt, adm.Now = now.UTC(), now
	v := a.rules.judge(ctx, adm)
	if v != nil && !v.Wait {
		if automatic(r.Source) {
			return a.refuseAuto(ctx, d, r, v.Err)
		}
		return nil, v.Err
	}
	var lines []string
	meta := map[string]string{}
	for k, v := range r.Meta {
		meta[k] = v
	}
	if len(params) > 0 {
		b, _ := json.Marshal(params)
		meta[MetaParams] = string(b)
		lines = append(lines, "parameters: "+paramsText(params))
	}
	if r.AuthorEmail != "" {
		meta[MetaAuthorEmail] = r.AuthorEmail
	}
	f := a.freezes.frozen(env, now)
	if r.Override && f != nil {
		meta[MetaOverrideFreeze] = "1"
		lines = append(lines, "freeze overridden by "+r.User+": "+f.text(env.Name, now))
	}
	if v != nil {
		d.State, d.Waiting = StateWaiting, v.asWaiting()
		lines = append(lines, v.Reason)
	}
	release := a.locks.hold(env.Name)
	if lv := (lockRule{a.locks}).Check(ctx, adm); lv != nil && !lv.Wait {
		err = lv.Err
	} else {
		if lv != nil && d.State != StateWaiting { // a lock taken a moment ago that will end
			lv.Rule = lockRule{}.Name()
			d.State, d.Waiting = StateWaiting, lv.asWaiting()
			lines = append(lines, lv.Reason)
		}
		detail := auditDetail(d)
		if len(params) > 0 {
			detail += ", " + paramsText(params)
		}
		err = a.door.create(ctx, d, AuditEntry{User: r.User, Action: auditAction(d), Detail: detail}, meta, lines...)
	}
	release()
	if ErrorCode(err) == ELocked && automatic(r.Source) {
		return a.refuseAuto(ctx, d, r, err)
	}
	if err != nil {
		return nil, err
	}
	if r.Override && f != nil {
		a.door.audit(ctx, r.User, "override-freeze", numbered(d.ID), f.text(env.Name, now))
	}
	if r.Source == SourceAuto {
		a.supersede.Lock()
		err = a.supersedeOlder(ctx, d)
		a.supersede.Unlock()
	}
	return d, err
}

// sha is what the deploy will run: the sha the caller knows, the ref
// resolved, or for an operation the sha running there now.
func (a *admission) sha(ctx context.Context, app *App, env *Environment, r Request) (string, error) {
	if r.op != "" {
		prev, err := a.store.LastSucceeded(ctx, app.Name, env.Name, 0)
		if err != nil || prev == nil {
			return "", err
		}
		return prev.SHA, nil
	}
	sha := r.SHA
	if sha == "" {
		var err error
		if sha, err = a.resolver.Resolve(ctx, app, r.Ref); err != nil {
			return "", err
		}
	}
	if !IsFullSHA(sha) {
		return "", Errorf(EInternal, "ref %q resolved to %q, not a sha", r.Ref, sha)
	}
	return sha, nil
}

func auditAction(d *Deploy) string {
	if d.Op != "" {
		return d.Op
	}
	return "deploy"
}

func auditDetail(d *Deploy) string {
	if d.Op != "" {
		return d.Describe() + ", " + string(d.Source)
	}
	return fmt.Sprintf("%s@%s (%s) to %s, %s", d.App, d.Ref, ShortSHA(d.SHA), d.Env, d.Source)
}

// refuseAuto records a refused automatic deploy as a failed deploy, so
// that none fails silently: it shows in history, chat and on GitHub like
// any other. It returns that deploy with the refusal.
func (a *admission) refuseAuto(ctx context.Context, d *Deploy, r Request, refusal error) (*Deploy, error) {
	now := a.clock.Now().UTC()
	d.State, d.Waiting, d.FinishedAt = StateFailed, nil, now
	what := "auto-deploy"
	if d.Source == SourceActions {
		what = "Actions deploy"
	}
	d.Error = what + " refused: " + ErrorMessage(refusal)
	meta := map[string]string{}
	for k, v := range r.Meta {
		meta[k] = v
	}
	if r.AuthorEmail != "" {
		meta[MetaAuthorEmail] = r.AuthorEmail
	}
	e := AuditEntry{User: r.User, Action: "refuse",
		Detail: fmt.Sprintf("%s of %s (%s) to %s: %s", what, d.App, ShortSHA(d.SHA), d.Env, ErrorMessage(refusal))}
	if err := a.door.create(ctx, d, e, meta, d.Error); err != nil {
		return nil, err
	}
	a.log.Warn(what+" refused", "id", d.ID, "app", d.App, "env", d.Env, "sha", d.SHA, "why", ErrorMessage(refusal))
	return d, refusal
}

// supersedeOlder marks older auto-deploys of d's lane that have not
// started.
func (a *admission) supersedeOlder(ctx context.Context, d *Deploy) error {
	old, err := a.store.Deploys(ctx, DeployFilter{App: d.App, Env: d.Env, States: []State{StateQueued, StateWaiting}, Limit: -1})
	if err != nil {
		return err
	}
	for _, o := range old {
		if o.ID >= d.ID || o.Source != SourceAuto {
			continue
		}
		msg := fmt.Sprintf("superseded by #%d (%s)", d.ID, ShortSHA(d.SHA))
		if err := a.door.move(ctx, o, StateSuperseded, func(o *Deploy) { o.Error = msg }, msg); err != nil && ErrorCode(err) != EConflict {
			return err // a conflict: it started meanwhile
		}
	}
	return nil
}
