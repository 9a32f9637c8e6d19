package queue

import (
	"context"
	"strings"
)

// access answers who may do what: deployers, lockers, approvers and
// admins, matched against a user's name and the identities an adapter
// knows for it (a chat id, an email, @groups).
type access struct {
	cat      *catalog
	identify func(ctx context.Context, user string) []string
	people   *People
	admins   []string // everywhere; environments add their own
}

// may reports whether user matches a rule list (empty: everyone).
func (a *access) may(ctx context.Context, rule []string, user string) bool {
	if len(rule) == 0 {
		return true
	}
	ids := append([]string{user}, a.people.IdentitiesOf(user)...)
	if a.identify != nil {
		ids = append(ids, a.identify(ctx, user)...)
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

// deploy: the environment's deployers; what names the act in the refusal.
func (a *access) deploy(ctx context.Context, app *App, env *Environment, user, what string) error {
	if a.may(ctx, env.Deployers, user) {
		return nil
	}
	return Errorf(EForbidden, "%s may not %s %s in %s (deployers: %s)", user, what, app.Name, env.Name, strings.Join(env.Deployers, ", "))
}

// lock: the lockers (else the deployers) of every app in env, or of one.
func (a *access) lock(ctx context.Context, envName, appName, user string) error {
	for _, app := range a.cat.apps {
		e := app.Env(envName)
		if e == nil || appName != "" && app.Name != appName {
			continue
		}
		rule := e.Lockers
		if len(rule) == 0 {
			rule = e.Deployers
		}
		if !a.may(ctx, rule, user) {
			return Errorf(EForbidden, "%s may not lock or unlock %s in %s (lockers: %s)", user, app.Name, envName, strings.Join(rule, ", "))
		}
	}
	return nil
}

// freeze: admins, or the lockers of every app in env.
func (a *access) freeze(ctx context.Context, env, user, what string) error {
	if a.isAdmin(ctx, nil, user) {
		return nil
	}
	if err := a.lock(ctx, env, "", user); err != nil {
		return Errorf(EForbidden, "%s", strings.Replace(ErrorMessage(err), "may not lock or unlock", "may not "+what, 1))
	}
	return nil
}

// approve: the approvers (else the deployers) of env.
func (a *access) approve(ctx context.Context, env *Environment, user, what string) error {
	if !a.may(ctx, approversOf(env), user) {
		return Errorf(EForbidden, "%s may not %s deploys to %s (approvals: %s)", user, what, env.Name, orDeployers(approversOf(env)))
	}
	return nil
}

func (a *access) adminsOf(env *Environment) []string {
	return append(append([]string{}, a.admins...), env.Admins...)
}

// isAdmin: unlike the other lists, no admins means nobody. A nil env
// asks about the server's admins only.
func (a *access) isAdmin(ctx context.Context, env *Environment, user string) bool {
	admins := a.admins
	if env != nil {
		admins = a.adminsOf(env)
	}
	return len(admins) > 0 && a.may(ctx, admins, user)
}

func approversOf(env *Environment) []string {
	if len(env.Approvals.From) > 0 {
		return env.Approvals.From
	}
	return env.Deployers
}

// MayDeploy reports whether user may deploy app to env (its deployers),
// for adapters that offer only what a user may do; the rules still
// decide each request.
func (s *Service) MayDeploy(ctx context.Context, appName, envName, user string) bool {
	app, env, err := s.cat.lookup(appName, envName)
	return err == nil && s.access.deploy(ctx, app, env, user, "deploy") == nil
}

// MayApprove reports whether user may approve or reject d: one of its
// environment's approvers, and not who asked for it.
func (s *Service) MayApprove(ctx context.Context, d *Deploy, user string) bool {
	_, env, err := s.cat.lookup(d.App, d.Env)
	return err == nil && d.User != user && s.access.approve(ctx, env, user, "approve") == nil
}
