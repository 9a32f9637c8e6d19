package queue

import (
	"context"
	"fmt"
	"time"
)

// Bad shas: a sha of an app that broke something is marked bad (by
// hand: mark web@3f9c2e1 bad: reason), and the rule below keeps it from
// being deployed again by itself.

// badRule: a sha marked bad for the app is refused to automatic deploys
// (auto-deploys, promotions, Actions jobs: recorded as failed, saying
// why) and to typed ones unless ! (deploy!).
type badRule struct{ store Store }

func (badRule) Name() string { return "bad sha" }

func (r badRule) Check(ctx context.Context, a *Admission) *Verdict {
	d := a.Deploy
	if a.Recheck || d.Op != "" {
		return nil
	}
	b, err := badOf(ctx, r.store, a.App.Name, d.SHA)
	switch {
	case err != nil:
		return verdictRefuse(err)
	case b == nil:
		return nil
	case automatic(d.Source):
		return verdictRefuse(Errorf(EConflict, "%s", b.text(a.Now)))
	case !d.Force:
		return verdictRefuse(Errorf(EConflict, "%s (deploy!, or --force, deploys it anyway)", b.text(a.Now)))
	}
	return nil
}

// badOf returns the mark of sha for app, nil if there is none.
func badOf(ctx context.Context, store Store, app, sha string) (*BadSHA, error) {
	marks, err := store.BadSHAs(ctx, app)
	if err != nil {
		return nil, err
	}
	for _, b := range marks {
		if b.SHA == sha {
			return b, nil
		}
	}
	return nil, nil
}

// text says the mark: "3f9c2e1 is marked bad for web by alice (2h ago):
// broke checkout".
func (b *BadSHA) text(now time.Time) string {
	msg := fmt.Sprintf("%s is marked bad for %s by %s (%s ago)", ShortSHA(b.SHA), b.App, b.User, Age(now.Sub(b.At)))
	if b.Reason != "" {
		msg += ": " + b.Reason
	}
	return msg
}

// MarkBad marks app's ref (a sha, branch or tag: resolved) bad, as user,
// who must be one of the deployers of the app's default environment.
func (s *Service) MarkBad(ctx context.Context, appName, ref, user, reason string) (*BadSHA, error) {
	app, sha, err := s.badTarget(ctx, appName, ref, user, "mark shas bad of")
	if err != nil {
		return nil, err
	}
	if reason, err = CleanReason(reason); err != nil {
		return nil, err
	}
	b := &BadSHA{App: app.Name, SHA: sha, Reason: reason, User: user, At: s.clock.Now().UTC()}
	if err := s.door.markBad(ctx, b); err != nil {
		return nil, err
	}
	return b, nil
}

// markBad stores the mark b, by hand or by a failed verification, with
// its audit entry.
func (o *door) markBad(ctx context.Context, b *BadSHA) error {
	if err := o.store.MarkBad(ctx, b); err != nil {
		return err
	}
	o.audit(ctx, b.User, "mark-bad", b.App+"@"+b.SHA, b.Reason)
	return nil
}

// UnmarkBad removes the mark of app's ref; ENotFound when it has none.
func (s *Service) UnmarkBad(ctx context.Context, appName, ref, user string) (*BadSHA, error) {
	app, sha, err := s.badTarget(ctx, appName, ref, user, "unmark shas of")
	if err != nil {
		return nil, err
	}
	b, err := badOf(ctx, s.store, app.Name, sha)
	if err == nil && b == nil {
		err = Errorf(ENotFound, "%s is not marked bad for %s", ShortSHA(sha), app.Name)
	}
	if err == nil {
		err = s.store.UnmarkBad(ctx, app.Name, sha)
	}
	if err != nil {
		return nil, err
	}
	s.door.audit(ctx, user, "unmark-bad", app.Name+"@"+sha, "")
	return b, nil
}

// BadSHAs lists the marks of an app ("": of every app), newest first.
func (s *Service) BadSHAs(ctx context.Context, appName string) ([]*BadSHA, error) {
	if appName != "" {
		app, _, err := s.cat.lookup(appName, "")
		if err != nil {
			return nil, err
		}
		appName = app.Name
	}
	return s.store.BadSHAs(ctx, appName)
}

// badTarget resolves the app and the sha of a mark, and checks who asks.
func (s *Service) badTarget(ctx context.Context, appName, ref, user, what string) (*App, string, error) {
	if err := ValidUser(user); err != nil {
		return nil, "", err
	}
	app, env, err := s.cat.lookup(appName, "")
	if err != nil {
		return nil, "", err
	}
	if err := s.access.deploy(ctx, app, env, user, what); err != nil {
		return nil, "", err
	}
	if !ValidRef(ref) {
		return nil, "", Errorf(EInvalid, "invalid ref %q: use a sha, branch or tag", ref)
	}
	sha := ref
	if !IsFullSHA(ref) {
		if sha, err = s.admit.resolver.Resolve(ctx, app, ref); err != nil {
			return nil, "", err
		}
	}
	return app, sha, nil
}
