// Package store implements queue.Store on SQLite (mattn/go-sqlite3) in WAL
// mode, with embedded SQL migrations.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a queue.Store backed by one SQLite file. Writes go through one
// connection (SQLite has one writer); reads use a pool.
type Store struct {
	w *sql.DB
	r *sql.DB

	writes chan *writeOp // group commit: see writer
	done   chan struct{}
	closed sync.RWMutex // held shared while a write is handed over
	isShut bool

	// prepared hot statements: SQLite parses a statement once, not per call
	nextQueued, lastSucceeded, deployByID, lastLogSeq              *sql.Stmt
	insertLog, insertLogs, insertDeploy, nextNumber, update, audit *sql.Stmt
}

// logRows is how many log lines one INSERT statement carries.
const logRows = 64

var _ queue.Store = (*Store)(nil)

// Open opens (creating) the database at file and applies migrations.
func Open(ctx context.Context, file string) (*Store, error) {
	dsn := "file:" + file + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_foreign_keys=on"
	w, err := sql.Open("sqlite3", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite3", dsn)
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	s := &Store{w: w, r: r}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store %s: %w", file, err)
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store %s: %w", file, err)
	}
	s.writes, s.done = make(chan *writeOp, 1024), make(chan struct{})
	go s.writer()
	return s, nil
}

type writeOp struct {
	ctx  context.Context
	fn   func(*sql.Tx) error
	done chan error
}

// maxGroup bounds how many writes share one commit.
const maxGroup = 256

// writer commits writes in groups: whatever is waiting when a transaction
// starts goes into it, each in its own savepoint, so one fsync serves many
// callers and a failing write rolls back alone. A caller hears back only
// after the commit that holds its write.
func (s *Store) writer() {
	defer close(s.done)
	for op := range s.writes {
		group := []*writeOp{op}
	more:
		for len(group) < maxGroup {
			select {
			case op, ok := <-s.writes:
				if !ok {
					break more
				}
				group = append(group, op)
			default:
				break more
			}
		}
		s.commit(group)
	}
}

func (s *Store) commit(group []*writeOp) {
	errs := make([]error, len(group))
	tx, err := s.w.Begin()
	if err == nil && len(group) == 1 { // alone: its failure is the transaction's
		if errs[0] = group[0].ctx.Err(); errs[0] == nil {
			errs[0] = group[0].fn(tx)
		}
		if errs[0] == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
		group[0].done <- errors.Join(errs[0], err)
		return
	}
	if err == nil {
		for i, op := range group {
			if errs[i] = op.ctx.Err(); errs[i] != nil {
				continue
			}
			if _, err = tx.Exec(`SAVEPOINT w`); err != nil {
				break
			}
			if errs[i] = op.fn(tx); errs[i] != nil {
				if _, err = tx.Exec(`ROLLBACK TO w`); err != nil {
					break
				}
			}
			if _, err = tx.Exec(`RELEASE w`); err != nil {
				break
			}
		}
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
	}
	for i, op := range group {
		if err != nil {
			errs[i] = err
		}
		op.done <- errs[i]
	}
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		db   *sql.DB
		stmt **sql.Stmt
		q    string
	}{
		{s.r, &s.nextQueued, `SELECT ` + deployCols + ` FROM deploys WHERE app = ? AND env = ? AND state = 'queued' ORDER BY id LIMIT 1`},
		{s.r, &s.lastSucceeded, `SELECT ` + deployCols + ` FROM deploys WHERE app = ? AND env = ? AND state = 'succeeded' AND op = '' AND id < ? ORDER BY id DESC LIMIT 1`},
		{s.r, &s.deployByID, `SELECT ` + deployCols + ` FROM deploys WHERE id = ?`},
		{s.r, &s.lastLogSeq, `SELECT coalesce(max(seq), 0) FROM log_lines WHERE deploy_id = ?`},
		{s.w, &s.insertLog, `INSERT OR IGNORE INTO log_lines (deploy_id, seq, time, stream, host, text) VALUES (?, ?, ?, ?, ?, ?)`},
		{s.w, &s.insertLogs, `INSERT OR IGNORE INTO log_lines (deploy_id, seq, time, stream, host, text) VALUES (?, ?, ?, ?, ?, ?)` +
			strings.Repeat(`, (?, ?, ?, ?, ?, ?)`, logRows-1)},
		{s.w, &s.nextNumber, `SELECT coalesce(max(number), 0) + 1 FROM deploys WHERE app = ? AND env = ?`},
		{s.w, &s.insertDeploy, `INSERT INTO deploys (number, app, env, ref, sha, previous_sha, state, user,
			source, force, created_at, started_at, finished_at, github_deployment_id, chat_thread, error, op, instances)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{s.w, &s.update, `UPDATE deploys SET ref = ?, sha = ?, previous_sha = ?, state = ?, force = ?,
			started_at = ?, finished_at = ?, github_deployment_id = ?, chat_thread = ?, error = ?
			WHERE id = ? AND state = ?`},
		{s.w, &s.audit, `INSERT INTO audit (time, user, action, target, detail) VALUES (?, ?, ?, ?, ?)`},
	} {
		st, err := p.db.PrepareContext(ctx, p.q)
		if err != nil {
			return err
		}
		*p.stmt = st
	}
	return nil
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("store: closed")

// Close waits for pending writes and closes the database; later writes
// return ErrClosed.
func (s *Store) Close() error {
	s.closed.Lock()
	wasOpen := !s.isShut && s.writes != nil
	s.isShut = true
	s.closed.Unlock()
	if wasOpen {
		close(s.writes)
		<-s.done
	}
	for _, st := range []*sql.Stmt{s.nextQueued, s.lastSucceeded, s.deployByID, s.lastLogSeq,
		s.insertLog, s.insertLogs, s.insertDeploy, s.nextNumber, s.update, s.audit} {
		if st != nil {
			st.Close()
		}
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(path.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: no version number", name)
		}
		var n int
		if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, fmtTime(time.Now()))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// tx runs fn in a write transaction, committed with the writes of other
// callers that wait at the same time (group commit).
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	s.closed.RLock()
	defer s.closed.RUnlock()
	if s.isShut {
		return ErrClosed
	}
	if s.writes == nil { // during migrations
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- op:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-op.done
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// fmtSortable is a fixed-width time, for columns compared in SQL: its text
// order is its time order (RFC 3339 with trimmed fractions is not).
func fmtSortable(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

func parseTime(s sql.NullString) time.Time {
	if !s.Valid || s.String == "" {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, s.String)
	return t
}

const deployCols = `id, number, app, env, ref, sha, previous_sha, state, user, source, force,
	created_at, started_at, finished_at, github_deployment_id, chat_thread, error, op, instances`

type scanner interface{ Scan(...any) error }

func scanDeploy(row scanner) (*queue.Deploy, error) {
	var d queue.Deploy
	var created, started, finished sql.NullString
	var state, source string
	err := row.Scan(&d.ID, &d.Number, &d.App, &d.Env, &d.Ref, &d.SHA, &d.PreviousSHA, &state, &d.User,
		&source, &d.Force, &created, &started, &finished, &d.GitHubDeploymentID, &d.ChatThread, &d.Error, &d.Op, &d.Instances)
	if err != nil {
		return nil, err
	}
	d.State, d.Source = queue.State(state), queue.Source(source)
	d.CreatedAt, d.StartedAt, d.FinishedAt = parseTime(created), parseTime(started), parseTime(finished)
	return &d, nil
}

// CreateDeploy implements queue.Store.
func (s *Store) CreateDeploy(ctx context.Context, d *queue.Deploy, e queue.AuditEntry) error {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now().UTC()
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.StmtContext(ctx, s.nextNumber).QueryRowContext(ctx, d.App, d.Env).Scan(&d.Number); err != nil {
			return err
		}
		res, err := tx.StmtContext(ctx, s.insertDeploy).ExecContext(ctx,
			d.Number, d.App, d.Env, d.Ref, d.SHA, d.PreviousSHA, string(d.State), d.User, string(d.Source), d.Force,
			fmtTime(d.CreatedAt), nullTime(d.StartedAt), nullTime(d.FinishedAt), d.GitHubDeploymentID, d.ChatThread, d.Error, d.Op, d.Instances)
		if err != nil {
			return err
		}
		if d.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if e.Target == "" {
			e.Target = fmt.Sprintf("#%d", d.ID)
		}
		_, err = tx.StmtContext(ctx, s.audit).ExecContext(ctx, fmtTime(e.Time), e.User, e.Action, e.Target, e.Detail)
		return err
	})
}

// UpdateDeploy implements queue.Store.
func (s *Store) UpdateDeploy(ctx context.Context, d *queue.Deploy, from queue.State, lines []queue.LogLine) error {
	var rows int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.update).ExecContext(ctx,
			d.Ref, d.SHA, d.PreviousSHA, string(d.State), d.Force, nullTime(d.StartedAt), nullTime(d.FinishedAt),
			d.GitHubDeploymentID, d.ChatThread, d.Error, d.ID, string(from))
		if err != nil {
			return err
		}
		if rows, _ = res.RowsAffected(); rows == 0 {
			return nil
		}
		return s.insertLines(ctx, tx, lines)
	})
	var se sqlite3.Error
	if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique {
		return queue.Errorf(queue.EConflict, "%s/%s already has a running deploy", d.App, d.Env)
	}
	if err != nil {
		return err
	}
	if rows == 0 {
		cur, err := s.Deploy(ctx, d.ID)
		if err != nil {
			return err
		}
		return queue.Errorf(queue.EConflict, "deploy #%d is %s, not %s", d.ID, cur.State, from)
	}
	return nil
}

func (s *Store) insertLines(ctx context.Context, tx *sql.Tx, lines []queue.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	if len(lines) >= logRows {
		many := tx.StmtContext(ctx, s.insertLogs)
		args := make([]any, 0, 6*logRows)
		for len(lines) >= logRows {
			args = args[:0]
			for _, l := range lines[:logRows] {
				args = append(args, l.DeployID, l.Seq, fmtTime(l.Time), l.Stream, l.Host, l.Text)
			}
			if _, err := many.ExecContext(ctx, args...); err != nil {
				return err
			}
			lines = lines[logRows:]
		}
	}
	one := tx.StmtContext(ctx, s.insertLog)
	for _, l := range lines {
		if _, err := one.ExecContext(ctx, l.DeployID, l.Seq, fmtTime(l.Time), l.Stream, l.Host, l.Text); err != nil {
			return err
		}
	}
	return nil
}

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

// NextQueued implements queue.Store.
func (s *Store) NextQueued(ctx context.Context, app, env string) (*queue.Deploy, error) {
	return oneDeploy(ctx, s.nextQueued, app, env)
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
		(SELECT max(id) FROM deploys WHERE state = 'succeeded' AND op = '' GROUP BY app, env)`)
	if err != nil {
		return nil, err
	}
	for _, d := range current {
		get(d.App, d.Env).Current = d
	}
	running, err := s.queryDeploys(ctx, `SELECT `+deployCols+` FROM deploys WHERE state = 'running'`)
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

// Locks implements queue.Store.
func (s *Store) Locks(ctx context.Context) ([]*queue.Lock, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT env, app, owner, reason, created_at, expires_at FROM locks ORDER BY env, app`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*queue.Lock
	for rows.Next() {
		var l queue.Lock
		var created, expires sql.NullString
		if err := rows.Scan(&l.Env, &l.App, &l.Owner, &l.Reason, &created, &expires); err != nil {
			return nil, err
		}
		l.CreatedAt, l.ExpiresAt = parseTime(created), parseTime(expires)
		out = append(out, &l)
	}
	return out, rows.Err()
}

// PutLock implements queue.Store.
func (s *Store) PutLock(ctx context.Context, l *queue.Lock) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO locks (env, app, owner, reason, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (env, app) DO UPDATE SET owner = excluded.owner,
			reason = excluded.reason, created_at = excluded.created_at, expires_at = excluded.expires_at`,
			l.Env, l.App, l.Owner, l.Reason, fmtTime(l.CreatedAt), nullTime(l.ExpiresAt))
		return err
	})
}

// DeleteLock implements queue.Store.
func (s *Store) DeleteLock(ctx context.Context, env, app string) error {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE env = ? AND app = ?`, env, app)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return queue.Errorf(queue.ENotFound, "no lock on %s", env)
	}
	return nil
}

// AppendLog implements queue.Store.
func (s *Store) AppendLog(ctx context.Context, lines []queue.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return s.insertLines(ctx, tx, lines) })
}

// Log implements queue.Store.
func (s *Store) Log(ctx context.Context, id, after int64, limit int) ([]queue.LogLine, error) {
	if limit <= 0 {
		limit = 10000
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, time, stream, host, text FROM log_lines
		WHERE deploy_id = ? AND seq > ? ORDER BY seq LIMIT ?`, id, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queue.LogLine
	for rows.Next() {
		l := queue.LogLine{DeployID: id}
		var t sql.NullString
		if err := rows.Scan(&l.Seq, &t, &l.Stream, &l.Host, &l.Text); err != nil {
			return nil, err
		}
		l.Time = parseTime(t)
		out = append(out, l)
	}
	return out, rows.Err()
}

// LastLogSeq implements queue.Store.
func (s *Store) LastLogSeq(ctx context.Context, id int64) (int64, error) {
	var n int64
	err := s.lastLogSeq.QueryRowContext(ctx, id).Scan(&n)
	return n, err
}

// OutboxAdd implements queue.Store.
func (s *Store) OutboxAdd(ctx context.Context, key, body string) error {
	now := fmtSortable(time.Now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO outbox (key, body, next_at, created_at) VALUES (?, ?, ?, ?)`, key, body, now, now)
		return err
	})
}

// OutboxDue implements queue.Store.
func (s *Store) OutboxDue(ctx context.Context, now time.Time, limit int) ([]queue.OutboxItem, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT o.id, o.key, o.body, o.attempts, o.next_at FROM outbox o
		WHERE o.id = (SELECT min(id) FROM outbox WHERE key = o.key) AND o.next_at <= ? ORDER BY o.id LIMIT ?`,
		fmtSortable(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queue.OutboxItem
	for rows.Next() {
		var it queue.OutboxItem
		var next sql.NullString
		if err := rows.Scan(&it.ID, &it.Key, &it.Body, &it.Attempts, &next); err != nil {
			return nil, err
		}
		it.NextAt = parseTime(next)
		out = append(out, it)
	}
	return out, rows.Err()
}

// OutboxNext implements queue.Store.
func (s *Store) OutboxNext(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT min(next_at) FROM outbox o WHERE o.id = (SELECT min(id) FROM outbox WHERE key = o.key)`).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, false, err
	}
	t, err := time.Parse("2006-01-02T15:04:05.000000000Z", next.String)
	return t, err == nil, err
}

// OutboxDone implements queue.Store.
func (s *Store) OutboxDone(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id)
		return err
	})
}

// OutboxRetry implements queue.Store.
func (s *Store) OutboxRetry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?`,
			fmtSortable(next), lastErr, id)
		return err
	})
}

// Once implements queue.Store.
func (s *Store) Once(ctx context.Context, key string) (bool, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO once_keys (key, at) VALUES (?, ?)`, key, fmtTime(time.Now()))
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	return n == 1, err
}

// SetMeta implements queue.Store.
func (s *Store) SetMeta(ctx context.Context, id int64, key, value string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO deploy_meta (deploy_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (deploy_id, key) DO UPDATE SET value = excluded.value`, id, key, value)
		return err
	})
}

// Meta implements queue.Store.
func (s *Store) Meta(ctx context.Context, id int64, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM deploy_meta WHERE deploy_id = ? AND key = ?`, id, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// Audit implements queue.Store.
func (s *Store) Audit(ctx context.Context, e queue.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, s.audit).ExecContext(ctx, fmtTime(e.Time), e.User, e.Action, e.Target, e.Detail)
		return err
	})
}

// AuditLog implements queue.Store.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]queue.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.r.QueryContext(ctx, `SELECT time, user, action, target, detail FROM audit ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queue.AuditEntry
	for rows.Next() {
		var e queue.AuditEntry
		var t sql.NullString
		if err := rows.Scan(&t, &e.User, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = parseTime(t)
		out = append(out, e)
	}
	return out, rows.Err()
}
