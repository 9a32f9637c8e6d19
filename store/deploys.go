package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/mattn/go-sqlite3"
)

const deployCols = `id, number, app, env, ref, sha, previous_sha, state, user, source, force,
	created_at, started_at, finished_at, github_deployment_id, chat_thread, error, op, instances,
	wait_rule, wait_reason, wait_until, server, lease_until`

type scanner interface{ Scan(...any) error }

func scanDeploy(row scanner) (*queue.Deploy, error) {
	var d queue.Deploy
	var created, started, finished, waitUntil, leaseUntil sql.NullString
	var state, source, waitRule, waitReason string
	err := row.Scan(&d.ID, &d.Number, &d.App, &d.Env, &d.Ref, &d.SHA, &d.PreviousSHA, &state, &d.User,
		&source, &d.Force, &created, &started, &finished, &d.GitHubDeploymentID, &d.ChatThread, &d.Error, &d.Op, &d.Instances,
		&waitRule, &waitReason, &waitUntil, &d.Server, &leaseUntil)
	if err != nil {
		return nil, err
	}
	d.State, d.Source = queue.State(state), queue.Source(source)
	d.CreatedAt, d.StartedAt, d.FinishedAt = parseTime(created), parseTime(started), parseTime(finished)
	d.LeaseUntil = parseTime(leaseUntil)
	if waitRule != "" {
		d.Waiting = &queue.Waiting{Rule: waitRule, Reason: waitReason, Until: parseTime(waitUntil)}
	}
	return &d, nil
}

// CreateDeploy implements queue.Store.
func (s *Store) CreateDeploy(ctx context.Context, d *queue.Deploy, e queue.AuditEntry) error {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now().UTC()
	}
	rule, reason, until := waitCols(d.Waiting)
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := tx.StmtContext(ctx, s.nextNumber).QueryRowContext(ctx, d.App, d.Env).Scan(&d.Number); err != nil {
			return err
		}
		res, err := tx.StmtContext(ctx, s.insertDeploy).ExecContext(ctx,
			d.Number, d.App, d.Env, d.Ref, d.SHA, d.PreviousSHA, string(d.State), d.User, string(d.Source), d.Force,
			fmtTime(d.CreatedAt), nullTime(d.StartedAt), nullTime(d.FinishedAt), d.GitHubDeploymentID, d.ChatThread, d.Error, d.Op, d.Instances,
			rule, reason, until, d.Server, nullSortable(d.LeaseUntil))
		if err != nil {
			return err
		}
		if d.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if e.Target == "" {
			e.Target = fmt.Sprintf("#%d", d.ID)
		}
		if _, err = tx.StmtContext(ctx, s.audit).ExecContext(ctx, fmtTime(e.Time), e.User, e.Action, e.Target, e.Detail); err != nil {
			return err
		}
		return addLetters(ctx, tx, queue.LettersOf(ctx, d))
	})
	if se := (sqlite3.Error{}); errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique {
		return queue.Errorf(queue.EConflict, "%s/%s already has a running deploy", d.App, d.Env)
	}
	if err == nil {
		s.currents.stored(d)
	}
	return err
}

// UpdateDeploy implements queue.Store.
func (s *Store) UpdateDeploy(ctx context.Context, d *queue.Deploy, from queue.State, lines []queue.LogLine) error {
	rule, reason, until := waitCols(d.Waiting)
	holder, held := queue.HolderOf(ctx)
	holderNow := ""
	if held && from.Holds() {
		holderNow = fmtSortable(holder.Now)
	} else {
		holder = queue.Holder{}
	}
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.update).ExecContext(ctx,
			d.Ref, d.SHA, d.PreviousSHA, string(d.State), d.Force, nullTime(d.StartedAt), nullTime(d.FinishedAt),
			d.GitHubDeploymentID, d.ChatThread, d.Error, rule, reason, until, d.Server, nullSortable(d.LeaseUntil),
			d.ID, string(from), lapsedBefore(ctx, from), holder.Server, holder.Server, holderNow)
		if err != nil {
			return err
		}
		if rows, _ := res.RowsAffected(); rows == 0 {
			return errNotInState // nothing of this write stays
		}
		if err := appendLines(ctx, tx, lines); err != nil {
			return err
		}
		if err := addLetters(ctx, tx, queue.LettersOf(ctx, d)); err != nil {
			return err
		}
		if d.State.Terminal() { // its log is done: seal what waits
			return appendDeploy(ctx, tx, d.ID, nil, true)
		}
		return nil
	})
	var se sqlite3.Error
	switch {
	case errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique:
		return queue.Errorf(queue.EConflict, "%s/%s already has a running deploy", d.App, d.Env)
	case errors.Is(err, errNotInState):
		cur, err := s.Deploy(ctx, d.ID)
		if err != nil {
			return err
		}
		if cur.State == from && holder.Server != "" {
			return queue.Errorf(queue.EConflict, "deploy #%d is no longer held by server %s: its lease ended", d.ID, holder.Server)
		}
		if cur.State == from {
			return queue.Errorf(queue.EConflict, "deploy #%d is still held by server %s (its lease was renewed)", d.ID, cur.Server)
		}
		return queue.Errorf(queue.EConflict, "deploy #%d is %s, not %s", d.ID, cur.State, from)
	}
	if err == nil {
		s.currents.stored(d)
		if d.State.Terminal() {
			s.packs.poke() // its log may be short: one for a pack
		}
	}
	return err
}

// lapsedBefore is what the stored lease of a deploy leaving from must be
// below: the time of a context from queue.WithLapsed, or above any time
// ("9", past every year a timestamp starts with) when there is none.
func lapsedBefore(ctx context.Context, from queue.State) string {
	if at, ok := queue.LapsedOf(ctx); ok && from.Holds() {
		return fmtSortable(at)
	}
	return "9"
}

// RenewLeases implements queue.Store.
func (s *Store) RenewLeases(ctx context.Context, server string, now, until time.Time) ([]int64, error) {
	var ids []int64
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ids = ids[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE deploys SET lease_until = ? WHERE state IN ('running', 'verifying') AND server = ? AND lease_until >= ?
			RETURNING id`, fmtSortable(until), server, fmtSortable(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	slices.Sort(ids)
	return ids, err
}

// errNotInState: a conditional update found the deploy in another state.
var errNotInState = errors.New("the deploy is not in the state the update expects")

// Deploy implements queue.Store.
func (s *Store) Deploy(ctx context.Context, id int64) (*queue.Deploy, error) {
	d, err := scanDeploy(s.deployByID.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, queue.Errorf(queue.ENotFound, "no deploy #%d", id)
	}
	return d, err
}

// Deploys implements queue.Store. A negative Limit means no limit.
func (s *Store) Deploys(ctx context.Context, f queue.DeployFilter) ([]*queue.Deploy, error) {
	q := `SELECT ` + deployCols + ` FROM deploys WHERE 1=1`
	var args []any
	if f.App != "" {
		q += ` AND app = ?`
		args = append(args, f.App)
	}
	if f.Env != "" {
		q += ` AND env = ?`
		args = append(args, f.Env)
	}
	if len(f.States) > 0 {
		q += ` AND state IN (?` + strings.Repeat(`, ?`, len(f.States)-1) + `)`
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	q += ` ORDER BY id DESC`
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return s.queryDeploys(ctx, q, args...)
}

func (s *Store) queryDeploys(ctx context.Context, q string, args ...any) ([]*queue.Deploy, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*queue.Deploy
	for rows.Next() {
		d, err := scanDeploy(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func oneDeploy(ctx context.Context, st *sql.Stmt, args ...any) (*queue.Deploy, error) {
	d, err := scanDeploy(st.QueryRowContext(ctx, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return d, err
}

// NextQueued implements queue.Store. What runs in the lane is read once
// and then kept as this Store writes (see laneCurrents).
func (s *Store) NextQueued(ctx context.Context, app, env string) (*queue.Deploy, string, error) {
	current, known, version := s.currents.get(app, env)
	d, err := oneDeploy(ctx, s.nextQueued, app, env)
	if err != nil || d == nil || known {
		return d, current, err
	}
	var id int64
	err = s.laneCurrent.QueryRowContext(ctx, app, env).Scan(&id, &current)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = nil
	case err != nil:
		return nil, "", err
	}
	s.currents.fill(app, env, version, id, current)
	return d, current, nil
}

// LastSucceeded implements queue.Store.
func (s *Store) LastSucceeded(ctx context.Context, app, env string, beforeID int64) (*queue.Deploy, error) {
	if beforeID <= 0 {
		beforeID = 1 << 62
	}
	return oneDeploy(ctx, s.lastSucceeded, app, env, beforeID)
}

// Lanes implements queue.Store.
func (s *Store) Lanes(ctx context.Context) ([]queue.LaneSummary, error) {
	byKey := map[string]*queue.LaneSummary{}
	var order []string
	get := func(app, env string) *queue.LaneSummary {
		k := app + "/" + env
		if byKey[k] == nil {
			byKey[k] = &queue.LaneSummary{App: app, Env: env}
			order = append(order, k)
		}
		return byKey[k]
	}
	current, err := s.queryDeploys(ctx, `SELECT `+deployCols+` FROM deploys WHERE id IN
		(SELECT max(id) FROM deploys INDEXED BY deploys_lane_succeeded WHERE state = 'succeeded' AND op = '' GROUP BY app, env)`)
	if err != nil {
		return nil, err
	}
	for _, d := range current {
		get(d.App, d.Env).Current = d
	}
	last, err := s.queryDeploys(ctx, `SELECT `+deployCols+` FROM deploys WHERE id IN
		(SELECT max(id) FROM deploys GROUP BY app, env)`)
	if err != nil {
		return nil, err
	}
	for _, d := range last {
		get(d.App, d.Env).Last = d
	}
	running, err := s.queryDeploys(ctx, `SELECT `+deployCols+` FROM deploys WHERE state IN ('running', 'verifying')`)
	if err != nil {
		return nil, err
	}
	for _, d := range running {
		get(d.App, d.Env).Running = d
	}
	rows, err := s.r.QueryContext(ctx, `SELECT app, env, state, count(*) FROM deploys
		WHERE state IN ('queued', 'waiting') GROUP BY app, env, state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var app, env, state string
		var n int
		if err := rows.Scan(&app, &env, &state, &n); err != nil {
			return nil, err
		}
		if state == string(queue.StateQueued) {
			get(app, env).Queued = n
		} else {
			get(app, env).Waiting = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]queue.LaneSummary, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out, nil
}

// waitCols are the columns of why a deploy waits.
func waitCols(w *queue.Waiting) (rule, reason string, until any) {
	if w == nil {
		return "", "", nil
	}
	return w.Rule, w.Reason, nullTime(w.Until)
}
