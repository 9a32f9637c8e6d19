package postgres

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

const deployCols = `id, number, app, env, ref, sha, previous_sha, state, user_name, source, force,
	created_at, created_ns, started_at, started_ns, finished_at, finished_ns,
	github_deployment_id, chat_thread, error, op, instances,
	wait_rule, wait_reason, wait_until, wait_until_ns, server, lease_until, lease_until_ns`

func scanDeploy(row scanner) (*queue.Deploy, error) {
	var d queue.Deploy
	var created time.Time
	var started, finished, waitUntil, leaseUntil pgtype.Timestamptz
	var createdNs, startedNs, finishedNs, waitNs, leaseNs int16
	var state, source, waitRule, waitReason string
	err := row.Scan(&d.ID, &d.Number, &d.App, &d.Env, &d.Ref, &d.SHA, &d.PreviousSHA, &state, &d.User, &source, &d.Force,
		&created, &createdNs, &started, &startedNs, &finished, &finishedNs,
		&d.GitHubDeploymentID, &d.ChatThread, &d.Error, &d.Op, &d.Instances,
		&waitRule, &waitReason, &waitUntil, &waitNs, &d.Server, &leaseUntil, &leaseNs)
	if err != nil {
		return nil, err
	}
	d.State, d.Source = queue.State(state), queue.Source(source)
	d.CreatedAt = unstamp(created, createdNs)
	d.StartedAt, d.FinishedAt = unstampNull(started, startedNs), unstampNull(finished, finishedNs)
	d.LeaseUntil = unstampNull(leaseUntil, leaseNs)
	if waitRule != "" {
		d.Waiting = &queue.Waiting{Rule: waitRule, Reason: waitReason, Until: unstampNull(waitUntil, waitNs)}
	}
	return &d, nil
}

// createSQL writes a deploy in one statement: the lane's number, the
// deploy, its audit entry (an empty target becomes "#ID"); it returns the
// deploy's id and number. The lane's row hands out the number: creators
// in one lane, from any server, take it in turn.
const createSQL = `WITH n AS (
		INSERT INTO lanes (app, env, last_number) VALUES ($1, $2, 1)
		ON CONFLICT (app, env) DO UPDATE SET last_number = lanes.last_number + 1 RETURNING last_number),
	d AS (
		INSERT INTO deploys (number, app, env, ref, sha, previous_sha, state, user_name, source, force,
			created_at, created_ns, started_at, started_ns, finished_at, finished_ns,
			github_deployment_id, chat_thread, error, op, instances, wait_rule, wait_reason, wait_until, wait_until_ns,
			server, lease_until, lease_until_ns)
		SELECT n.last_number, $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::boolean,
			$10::timestamptz, $11::smallint, $12::timestamptz, $13::smallint, $14::timestamptz, $15::smallint,
			$16::bigint, $17::text, $18::text, $19::text, $20::integer, $21::text, $22::text, $23::timestamptz, $24::smallint,
			$25::text, $26::timestamptz, $27::smallint
		FROM n RETURNING id, number),
	a AS (
		INSERT INTO audit (at, at_ns, user_name, action, target, detail)
		SELECT $28::timestamptz, $29::smallint, $30::text, $31::text, CASE WHEN $32::text = '' THEN '#' || d.id ELSE $32::text END, $33::text
		FROM d)
	SELECT id, number FROM d`

// createArgs are createSQL's arguments for d and its audit entry e.
func createArgs(d *queue.Deploy, e queue.AuditEntry) []any {
	created, createdNs := stamp(d.CreatedAt)
	started, startedNs := nullStamp(d.StartedAt)
	finished, finishedNs := nullStamp(d.FinishedAt)
	rule, reason, until, untilNs := waitCols(d.Waiting)
	lease, leaseNs := nullStamp(d.LeaseUntil)
	at, atNs := stamp(e.Time)
	return []any{d.App, d.Env, d.Ref, d.SHA, d.PreviousSHA, string(d.State), d.User, string(d.Source), d.Force,
		created, createdNs, started, startedNs, finished, finishedNs,
		d.GitHubDeploymentID, clean(d.ChatThread), clean(d.Error), d.Op, d.Instances, rule, reason, until, untilNs,
		d.Server, lease, leaseNs, at, atNs, e.User, e.Action, e.Target, clean(e.Detail)}
}

// CreateDeploy implements queue.Store. Deploys created at once are
// written together (see creates).
func (s *Store) CreateDeploy(ctx context.Context, d *queue.Deploy, e queue.AuditEntry) error {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now().UTC()
	}
	c := &creation{ctx: ctx, d: d, e: e}
	s.creates.do(c)
	return c.err
}

// createOne writes one deploy, in one round trip; with the letters it
// owes (queue.WithLetters) and the key it records (queue.WithOnce), in
// one transaction.
func (s *Store) createOne(ctx context.Context, d *queue.Deploy, e queue.AuditEntry) error {
	write := s.writeRow
	if queue.HasLetters(ctx) {
		write = func(ctx context.Context, dst []any, q string, args ...any) error {
			return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				if err := scanOne(tx.QueryRow(ctx, q, args...), dst); err != nil {
					return err
				}
				return addLetters(ctx, tx, queue.LettersOf(ctx, d))
			})
		}
	}
	return created(d, write(ctx, []any{&d.ID, &d.Number}, createSQL, createArgs(d, e)...))
}

// created says how the write of d ended.
func created(d *queue.Deploy, err error) error {
	if oneRunning(err) {
		return queue.Errorf(queue.EConflict, "%s/%s already has a running deploy", d.App, d.Env)
	}
	return err
}

// updateSQL is UpdateDeploy's statement: a move conditional on the state
// it comes from and, when asked, on a lease; it returns the deploy's id
// when it changed it.
const updateSQL = `UPDATE deploys SET ref = $1, sha = $2, previous_sha = $3, state = $4, force = $5,
	started_at = $6, started_ns = $7, finished_at = $8, finished_ns = $9,
	github_deployment_id = $10, chat_thread = $11, error = $12,
	wait_rule = $13, wait_reason = $14, wait_until = $15, wait_until_ns = $16,
	server = CASE WHEN state IN ('running', 'verifying') THEN server ELSE $17 END,
	lease_until = CASE WHEN state IN ('running', 'verifying') THEN lease_until ELSE $18 END,
	lease_until_ns = CASE WHEN state IN ('running', 'verifying') THEN lease_until_ns ELSE $19 END
	WHERE id = $20 AND state = $21 AND ($22::timestamptz IS NULL OR lease_until < $22)
		AND ($23::text IS NULL OR server = $23 AND lease_until >= $24)
	RETURNING id`

// updateWithLinesSQL is updateSQL with the holder's lines (insertLinesSQL,
// its arguments after updateSQL's 24: $25 to $31), stored if the move is.
var updateWithLinesSQL = `WITH u AS (` + updateSQL + `), ins AS (` +
	strings.NewReplacer("$1:", "$25:", "$2:", "$26:", "$3:", "$27:", "$4:", "$28:", "$5:", "$29:", "$6:", "$30:", "$7:", "$31:").Replace(insertLinesSQL) + `
	WHERE EXISTS (SELECT 1 FROM u) ON CONFLICT (deploy_id, seq) DO NOTHING) SELECT id FROM u`

// UpdateDeploy implements queue.Store. The update is conditional on the
// stored state; the partial unique index deploys_one_running refuses a
// second running deploy in a lane, whatever the caller checked.
func (s *Store) UpdateDeploy(ctx context.Context, d *queue.Deploy, from queue.State, lines []queue.LogLine) error {
	started, startedNs := nullStamp(d.StartedAt)
	finished, finishedNs := nullStamp(d.FinishedAt)
	rule, reason, until, untilNs := waitCols(d.Waiting)
	lease, leaseNs := nullStamp(d.LeaseUntil)
	var lapsed pgtype.Timestamptz // with queue.WithLapsed: the lease must have ended before it
	if at, ok := queue.LapsedOf(ctx); ok && from.Holds() {
		lapsed = pgtype.Timestamptz{Time: at, Valid: true}
	}
	var holderServer pgtype.Text // with queue.WithHolder: it must run there under a lease not ended
	var holderNow pgtype.Timestamptz
	if h, ok := queue.HolderOf(ctx); ok && from.Holds() {
		holderServer, holderNow = pgtype.Text{String: h.Server, Valid: true}, pgtype.Timestamptz{Time: h.Now, Valid: true}
	}
	q := updateSQL
	args := []any{d.Ref, d.SHA, d.PreviousSHA, string(d.State), d.Force, started, startedNs, finished, finishedNs,
		d.GitHubDeploymentID, clean(d.ChatThread), clean(d.Error), rule, reason, until, untilNs,
		d.Server, lease, leaseNs, d.ID, string(from), lapsed, holderServer, holderNow}
	var err error
	alone := queue.OnceOf(ctx) == nil && !queue.HasLetters(ctx)
	if alone && (len(lines) == 0 || holderServer.Valid) { // one statement, in a batch of moves
		if len(lines) > 0 {
			// The holder's lines: it numbers them, and no one else writes
			// lines of a deploy it holds, so they need no renumbering.
			q = updateWithLinesSQL
			args = append(args, lineArrays(lines)...)
		}
		m := &move{ctx: ctx, id: d.ID, from: from, q: q, args: args, lines: lines}
		if s.moves.do(m); m.err == nil && m.got == 0 {
			err = s.fail(ctx, notInState(ctx, s.pool, d.ID, from, holderServer.String))
		} else {
			err = m.err
		}
	} else {
		err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			var got int64
			if err := scanOne(tx.QueryRow(ctx, q, args...), []any{&got}); err != nil {
				return err
			}
			if got == 0 {
				return notInState(ctx, tx, d.ID, from, holderServer.String) // nothing of this write stays
			}
			if err := insertLines(ctx, tx, after(ctx, tx, d.ID, lines)); err != nil {
				return err
			}
			return addLetters(ctx, tx, queue.LettersOf(ctx, d))
		})
	}
	if oneRunning(err) {
		return queue.Errorf(queue.EConflict, "%s/%s already has a running deploy", d.App, d.Env)
	}
	return err
}

// RenewLeases implements queue.Store.
func (s *Store) RenewLeases(ctx context.Context, server string, now, until time.Time) ([]int64, error) {
	at, ns := stamp(until)
	var ids []int64
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE deploys SET lease_until = $1, lease_until_ns = $2
			WHERE state IN ('running', 'verifying') AND server = $3 AND lease_until >= $4 RETURNING id`, at, ns, server, now)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	slices.Sort(ids)
	return ids, err
}

// after returns the lines of a change of deploy id numbered after the
// lines its log holds, when another server wrote some of those numbers
// meanwhile (it ran the deploy; this server changed its state): a change
// and its words are never lost to a line written elsewhere. The update
// of the deploy's row came first in the transaction, so the lines
// written under that row's lock are all visible here.
func after(ctx context.Context, tx pgx.Tx, id int64, lines []queue.LogLine) []queue.LogLine {
	if len(lines) == 0 {
		return lines
	}
	var last int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM log_lines WHERE deploy_id = $1`, id).Scan(&last); err != nil || lines[0].Seq > last {
		return lines // an error here is the insert's to report
	}
	out := make([]queue.LogLine, len(lines))
	for i, l := range lines {
		l.Seq = last + 1 + int64(i)
		out[i] = l
	}
	return out
}

// rowQuerier reads a row: in a transaction, or from the pool.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// notInState says why a conditional update changed nothing: the deploy
// is not there (ENotFound), or is in another state than from (EConflict).
func notInState(ctx context.Context, db rowQuerier, id int64, from queue.State, holder string) error {
	var cur, server string
	err := db.QueryRow(ctx, `SELECT state, server FROM deploys WHERE id = $1`, id).Scan(&cur, &server)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return queue.Errorf(queue.ENotFound, "no deploy #%d", id)
	case err != nil:
		return err
	case cur == string(from) && holder != "":
		return queue.Errorf(queue.EConflict, "deploy #%d is no longer held by server %s: its lease ended", id, holder)
	case cur == string(from):
		return queue.Errorf(queue.EConflict, "deploy #%d is still held by server %s (its lease was renewed)", id, server)
	}
	return queue.Errorf(queue.EConflict, "deploy #%d is %s, not %s", id, cur, from)
}

// oneRunning reports whether err is the refusal of a second running
// deploy in a lane.
func oneRunning(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "deploys_one_running"
}

// waitCols are the columns of why a deploy waits.
func waitCols(w *queue.Waiting) (rule, reason string, until pgtype.Timestamptz, untilNs int16) {
	if w == nil {
		return "", "", pgtype.Timestamptz{}, 0
	}
	until, untilNs = nullStamp(w.Until)
	return w.Rule, clean(w.Reason), until, untilNs
}

// Deploy implements queue.Store.
func (s *Store) Deploy(ctx context.Context, id int64) (*queue.Deploy, error) {
	d, err := s.oneDeploy(ctx, `SELECT `+deployCols+` FROM deploys WHERE id = $1`, id)
	if err == nil && d == nil {
		return nil, queue.Errorf(queue.ENotFound, "no deploy #%d", id)
	}
	return d, err
}

// Deploys implements queue.Store. A negative Limit means no limit.
func (s *Store) Deploys(ctx context.Context, f queue.DeployFilter) ([]*queue.Deploy, error) {
	q := `SELECT ` + deployCols + ` FROM deploys WHERE true`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.App != "" {
		q += ` AND app = ` + arg(f.App)
	}
	if f.Env != "" {
		q += ` AND env = ` + arg(f.Env)
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		q += ` AND state = ANY(` + arg(states) + `)`
	}
	q += ` ORDER BY id DESC`
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit > 0 {
		q += ` LIMIT ` + arg(f.Limit)
	}
	return query(ctx, s, scanDeploy, q, args...)
}

// oneDeploy reads one deploy, nil if there is none.
func (s *Store) oneDeploy(ctx context.Context, q string, args ...any) (*queue.Deploy, error) {
	ds, err := query(ctx, s, scanDeploy, q, args...)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	return ds[0], nil
}

// NextQueued implements queue.Store: with the lanes that look at once,
// in one statement (see readNext).
func (s *Store) NextQueued(ctx context.Context, app, env string) (*queue.Deploy, string, error) {
	l := &nextLook{app: app, env: env}
	if err := batched(ctx, s, s.nexts, l); err != nil {
		return nil, "", err
	}
	return l.next, l.current, l.err
}

// withCols is a row with columns after a deploy's: Scan fills extra
// with them.
type withCols struct {
	row   scanner
	extra []any
}

func (w withCols) Scan(dst ...any) error { return w.row.Scan(append(dst, w.extra...)...) }

// LastSucceeded implements queue.Store.
func (s *Store) LastSucceeded(ctx context.Context, app, env string, beforeID int64) (*queue.Deploy, error) {
	if beforeID <= 0 {
		beforeID = 1 << 62
	}
	return s.oneDeploy(ctx, `SELECT `+deployCols+` FROM deploys WHERE app = $1 AND env = $2 AND state = 'succeeded' AND op = ''
		AND id < $3 ORDER BY id DESC LIMIT 1`, app, env, beforeID)
}

// insertAudit records e, with target for its Target.
func insertAudit(ctx context.Context, tx pgx.Tx, e queue.AuditEntry, target string) error {
	at, ns := stamp(e.Time)
	_, err := tx.Exec(ctx, `INSERT INTO audit (at, at_ns, user_name, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		at, ns, e.User, e.Action, target, clean(e.Detail))
	return err
}
