package queue

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// keepLines is how many last lines a pruned log keeps: where a deploy
// failed, it says why.
const keepLines = 100

// retention prunes, every so often, the logs that environments keep no
// longer (Environment.LogRetention), a few deploys a transaction, so that
// deploys go on meanwhile.
type retention struct {
	life  context.Context
	store Store
	cat   *catalog
	door  *door
	clock Clock
	log   *slog.Logger
	first time.Duration // after the start
	every time.Duration
}

// run prunes a while after the start, then every so often, until the
// Service stops; if no environment keeps its logs for a while only, it
// has nothing to do.
func (r *retention) run() {
	any := false
	r.cat.each(func(_ *App, e *Environment) { any = any || e.LogRetention > 0 })
	if !any {
		return
	}
	wait := r.first
	for sleep(r.life, r.clock, wait) == nil {
		r.pass(r.life)
		wait = r.every
	}
}

// pass prunes what every environment keeps no longer.
func (r *retention) pass(ctx context.Context) {
	now := r.clock.Now()
	r.cat.each(func(a *App, e *Environment) {
		if e.LogRetention <= 0 || ctx.Err() != nil {
			return
		}
		rep, err := r.store.PruneLogs(ctx, Prune{App: a.Name, Env: e.Name, Before: now.Add(-e.LogRetention), Keep: keepLines, Now: now})
		switch {
		case err != nil:
			r.log.Error("pruning old logs", "app", a.Name, "env", e.Name, "err", err)
		case rep.Deploys > 0:
			r.log.Info("pruned old logs", "app", a.Name, "env", e.Name, "deploys", rep.Deploys, "lines", rep.Lines, "freed", rep.Freed)
		}
	})
}

// prune prunes, on demand, the logs of deploys that ended before
// olderThan ago, everywhere.
func (r *retention) prune(ctx context.Context, user string, olderThan time.Duration, dryRun bool) (PruneReport, error) {
	now := r.clock.Now()
	rep, err := r.store.PruneLogs(ctx, Prune{Before: now.Add(-olderThan), Keep: keepLines, Now: now, DryRun: dryRun})
	if err == nil && !dryRun {
		r.door.audit(ctx, user, "prune", "logs", fmt.Sprintf("older than %s: %d deploys, %d lines", Age(olderThan), rep.Deploys, rep.Lines))
	}
	return rep, err
}
