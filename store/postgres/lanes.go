package postgres

import (
	"cmp"
	"context"
	"slices"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
)

// Lanes implements queue.Store: one snapshot of every lane, read in one
// round trip. The lanes come in the SQLite store's order: those with a
// current deploy by its id, then the others by the id of their last.
func (s *Store) Lanes(ctx context.Context) ([]queue.LaneSummary, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	byKey := map[[2]string]*queue.LaneSummary{}
	get := func(app, env string) *queue.LaneSummary {
		k := [2]string{app, env}
		if byKey[k] == nil {
			byKey[k] = &queue.LaneSummary{App: app, Env: env}
		}
		return byKey[k]
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		each := func(q string, set func(*queue.LaneSummary, *queue.Deploy)) {
			b.Queue(q).Query(func(rows pgx.Rows) error {
				ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*queue.Deploy, error) { return scanDeploy(r) })
				for _, d := range ds {
					set(get(d.App, d.Env), d)
				}
				return err
			})
		}
		each(`SELECT d.* FROM lanes l CROSS JOIN LATERAL (SELECT `+deployCols+` FROM deploys
			WHERE app = l.app AND env = l.env AND state = 'succeeded' AND op = '' ORDER BY id DESC LIMIT 1) d`,
			func(l *queue.LaneSummary, d *queue.Deploy) { l.Current = d })
		each(`SELECT d.* FROM lanes l CROSS JOIN LATERAL (SELECT `+deployCols+` FROM deploys
			WHERE app = l.app AND env = l.env ORDER BY id DESC LIMIT 1) d`,
			func(l *queue.LaneSummary, d *queue.Deploy) { l.Last = d })
		each(`SELECT `+deployCols+` FROM deploys WHERE state IN ('running', 'verifying')`,
			func(l *queue.LaneSummary, d *queue.Deploy) { l.Running = d })
		b.Queue(`SELECT app, env, state, count(*) FROM deploys WHERE state IN ('queued', 'waiting') GROUP BY app, env, state`).
			Query(func(rows pgx.Rows) error {
				var app, env, state string
				var n int
				_, err := pgx.ForEachRow(rows, []any{&app, &env, &state, &n}, func() error {
					if state == string(queue.StateQueued) {
						get(app, env).Queued = n
					} else {
						get(app, env).Waiting = n
					}
					return nil
				})
				return err
			})
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := make([]queue.LaneSummary, 0, len(byKey))
	for _, l := range byKey {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b queue.LaneSummary) int {
		ka, kb := laneOrder(a), laneOrder(b)
		return cmp.Or(cmp.Compare(ka[0], kb[0]), cmp.Compare(ka[1], kb[1]))
	})
	return out, nil
}

// laneOrder places a lane: first those with a current deploy, by its id;
// then the others, by the id of their last.
func laneOrder(l queue.LaneSummary) [2]int64 {
	switch {
	case l.Current != nil:
		return [2]int64{0, l.Current.ID}
	case l.Last != nil:
		return [2]int64{1, l.Last.ID}
	}
	return [2]int64{2, 0}
}
