package queue

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// PromoteRequest asks to deploy what runs in one environment to another.
type PromoteRequest struct {
	App, From, To string
	User          string
	ChatThread    string
}

// MetaPromoted marks an upstream deploy whose promotion was made (or
// given up), so that a restart does not make it twice.
const MetaPromoted = "promoted"

// promoter owns pending promotions: a deploy that succeeds in an
// environment with a promotion rule goes to the next one after its soak
// (at the next scheduled time, if any), once, across restarts.
type promoter struct {
	life  context.Context
	store Store
	cat   *catalog
	admit *admission
	logs  *logHub
	door  *door
	clock Clock
	log   *slog.Logger

	mu      sync.Mutex
	pending map[int64]Timer // by upstream deploy
}

// onChange is the door's hook: a deploy that just succeeded is promoted
// later if its environment says so.
func (p *promoter) onChange(ctx context.Context, c change) {
	if c.reached(StateSucceeded) {
		if _, env, err := p.cat.lookup(c.d.App, c.d.Env); err == nil {
			p.schedule(ctx, c.d, env, p.clock.Now())
		}
	}
}

// promote deploys to env `to` exactly the sha of up, through the same
// rules as any deploy, with source promotion.
func (p *promoter) promote(ctx context.Context, up *Deploy, to, user, thread string) (*Deploy, error) {
	d, err := p.admit.admit(ctx, Request{App: up.App, Env: to, Ref: up.Ref, SHA: up.SHA, User: user,
		Source: SourcePromotion, ChatThread: thread})
	if d != nil {
		p.logs.line(ctx, d.ID, fmt.Sprintf("promotion of #%d: %s (%s), succeeded in %s", up.ID, up.Ref, ShortSHA(up.SHA), up.Env))
	}
	return d, err
}

// byHand promotes what last succeeded in r.From to r.To.
func (p *promoter) byHand(ctx context.Context, r PromoteRequest) (*Deploy, error) {
	app, from, err := p.cat.lookup(r.App, r.From)
	if err != nil {
		return nil, err
	}
	_, to, err := p.cat.lookup(r.App, r.To)
	if err != nil {
		return nil, err
	}
	if from.Name == to.Name { // by name or alias
		return nil, Errorf(EInvalid, "promote from %s to itself", from.Name)
	}
	r.To = to.Name
	up, err := p.store.LastSucceeded(ctx, app.Name, from.Name, 0)
	if err != nil {
		return nil, err
	}
	if up == nil {
		return nil, Errorf(EConflict, "nothing to promote: %s has no successful deploy in %s", app.Name, from.Name)
	}
	return p.promote(ctx, up, r.To, r.User, r.ChatThread)
}

// schedule arranges for d, which succeeded at `from`, to be promoted
// after the soak, at the next scheduled time.
func (p *promoter) schedule(ctx context.Context, d *Deploy, env *Environment, from time.Time) {
	rule := env.Promote
	if rule == nil || d.Op != "" || d.Source == SourceRollback || d.State != StateSucceeded {
		return
	}
	due := from.Add(rule.Soak)
	if rule.Schedule != nil {
		due = rule.Schedule.Next(due.Add(-time.Second))
	}
	p.logs.line(ctx, d.ID, fmt.Sprintf("promotion to %s at %s (soak %s)", rule.To, InZone(due, rule.Location), Age(rule.Soak)))
	id := d.ID
	t := p.clock.AfterFunc(max(due.Sub(p.clock.Now()), 0), func() { p.ifSoaked(id, env) })
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.pending[id]; old != nil {
		old.Stop()
	}
	p.pending[id] = t
}

// ifSoaked promotes an upstream deploy if it is still what runs there
// and no deploy failed nor was rolled back there since.
func (p *promoter) ifSoaked(id int64, env *Environment) {
	ctx := p.life
	if ctx.Err() != nil {
		return
	}
	p.mu.Lock()
	delete(p.pending, id)
	p.mu.Unlock()
	d, err := p.store.Deploy(ctx, id)
	if err != nil {
		return
	}
	if done, _ := p.store.Meta(ctx, id, MetaPromoted); done != "" {
		return
	}
	later, err := p.store.Deploys(ctx, DeployFilter{App: d.App, Env: d.Env, Limit: 50})
	if err != nil {
		p.log.Error("reading what followed a deploy to promote", "deploy", id, "err", err)
		return
	}
	if why := brokenSoak(d, later); why != "" {
		p.store.SetMeta(ctx, id, MetaPromoted, "skipped: "+why)
		p.door.audit(ctx, "deployq", "promotion-skipped", numbered(id), fmt.Sprintf("not promoted to %s: %s during the soak", env.Promote.To, why))
		p.log.Info("promotion skipped", "deploy", id, "to", env.Promote.To, "why", why)
		return
	}
	// The promotion is recorded with the deploy it makes: a crash in
	// between makes it at the next start, never twice.
	d2, err := p.promote(WithOnce(ctx, fmt.Sprintf("promote:%d", id)), d, env.Promote.To, d.User, "")
	switch {
	case ErrorCode(err) == EDuplicate:
	case err != nil && d2 == nil:
		p.log.Warn("promotion refused", "deploy", id, "to", env.Promote.To, "err", err)
		p.door.audit(ctx, "deployq", "promotion-refused", numbered(id), ErrorMessage(err))
	}
	if err := p.store.SetMeta(ctx, id, MetaPromoted, "yes"); err != nil {
		p.log.Error("marking a deploy promoted", "deploy", id, "err", err)
	}
}

// brokenSoak says what broke d's soak ("" if nothing): a later deploy
// there that failed, rolled back or replaced it.
func brokenSoak(d *Deploy, later []*Deploy) string {
	for _, x := range later {
		if x.ID <= d.ID || x.Op != "" {
			continue
		}
		switch {
		case x.Source == SourceRollback:
			return fmt.Sprintf("#%d rolled %s back", x.ID, d.Env)
		case x.State == StateFailed:
			return fmt.Sprintf("#%d failed in %s", x.ID, d.Env)
		case x.State == StateSucceeded:
			return fmt.Sprintf("#%d replaced it in %s", x.ID, d.Env)
		}
	}
	return ""
}

// resume schedules, at start, the promotions of the last successful
// deploys of environments with a promotion rule that were not made yet.
func (p *promoter) resume(ctx context.Context) {
	p.cat.each(func(a *App, env *Environment) {
		if env.Promote == nil {
			return
		}
		d, err := p.store.LastSucceeded(ctx, a.Name, env.Name, 0)
		if err != nil || d == nil || d.Source == SourceRollback {
			return
		}
		if done, _ := p.store.Meta(ctx, d.ID, MetaPromoted); done != "" {
			return
		}
		p.schedule(ctx, d, env, d.FinishedAt)
	})
}

func (p *promoter) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.pending {
		t.Stop()
	}
}
