// Package store implements queue.Store on SQLite (mattn/go-sqlite3) in WAL
// mode, with embedded SQL migrations.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a queue.Store backed by one SQLite file. Writes go through one
// connection (SQLite has one writer); reads use a pool.
type Store struct {
	w *sql.DB
	r *sql.DB

	writes  chan *writeOp // group commit: see writer
	done    chan struct{}
	closed  sync.RWMutex // held shared while a write is handed over
	isShut  bool
	health  health
	file    string     // the database's path
	id      fileKey    // which file it was when opened
	checked chan error // the integrity check's result
	packs   *packer    // the packing of short logs

	// prepared hot statements: SQLite parses a statement once, not per call
	nextQueued, lastSucceeded, laneCurrent, deployByID, lastLogSeq, logChunks *sql.Stmt
	insertDeploy, nextNumber, update, audit                                   *sql.Stmt

	currents *laneCurrents // what runs in each lane, read with NextQueued
}

var _ queue.Store = (*Store)(nil)

// Open opens (creating) the database at file and applies migrations.
func Open(ctx context.Context, file string) (*Store, error) {
	dsn := "file:" + file + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_foreign_keys=on&_stmt_cache_size=64"
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
	s := &Store{w: w, r: r, file: file, packs: newPacker(), currents: newLaneCurrents()}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store %s: %w", file, err)
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store %s: %w", file, err)
	}
	if s.id, err = fileID(file); err != nil {
		s.Close()
		return nil, fmt.Errorf("store %s: %w", file, err)
	}
	s.writes, s.done = make(chan *writeOp, 1024), make(chan struct{})
	go s.writer()
	s.packs.wg.Add(1)
	go s.runPacker()
	s.packs.poke()
	s.checked = make(chan error, 1)
	go func() { s.checked <- s.health.damaged(s.checkIntegrity(context.WithoutCancel(ctx))) }()
	return s, nil
}

// Checked delivers, once, the result of the integrity check that Open
// starts (SQLite's quick_check, which reads the whole file: it runs
// beside the server rather than delay its start). A damaged database
// fails Health and refuses writes from then on.
func (s *Store) Checked() <-chan error { return s.checked }

type writeOp struct {
	ctx  context.Context // checked before the write starts; never cancels it
	fn   func(context.Context, *sql.Tx) error
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

// commit runs a group in one transaction. The statements run with
// contexts that cannot be canceled: a caller that gives up is skipped if
// its write has not started, and never interrupts the others' (SQLite
// interrupts the whole connection when a statement's context ends).
func (s *Store) commit(group []*writeOp) {
	errs := make([]error, len(group))
	tx, err := s.w.Begin()
	if err == nil && len(group) == 1 { // alone: its failure is the transaction's
		op := group[0]
		if errs[0] = op.ctx.Err(); errs[0] == nil {
			errs[0] = op.fn(context.WithoutCancel(op.ctx), tx)
		}
		if errs[0] == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
		op.done <- s.health.observe(errors.Join(errs[0], err))
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
			if errs[i] = op.fn(context.WithoutCancel(op.ctx), tx); errs[i] != nil {
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
		op.done <- s.health.observe(errs[i])
	}
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		db   *sql.DB
		stmt **sql.Stmt
		q    string
	}{
		{s.r, &s.nextQueued, `SELECT ` + deployCols + ` FROM deploys WHERE app = ? AND env = ? AND state = 'queued'
			ORDER BY source = 'rollback' DESC, id LIMIT 1`}, // rollbacks first (queue.CompareTurns)
		{s.r, &s.laneCurrent, `SELECT id, sha FROM deploys INDEXED BY deploys_lane_succeeded WHERE app = ? AND env = ?
			AND state = 'succeeded' AND op = '' ORDER BY id DESC LIMIT 1`},
		{s.r, &s.lastSucceeded, `SELECT ` + deployCols + ` FROM deploys WHERE app = ? AND env = ? AND state = 'succeeded' AND op = '' AND id < ? ORDER BY id DESC LIMIT 1`},
		{s.r, &s.deployByID, `SELECT ` + deployCols + ` FROM deploys WHERE id = ?`},
		{s.r, &s.lastLogSeq, `SELECT coalesce((SELECT last_seq FROM log_chunks WHERE deploy_id = ? ORDER BY first_seq DESC LIMIT 1), 0)`},
		// from the chunk that holds line after+1 (the last that starts at or before it) on
		{s.r, &s.logChunks, `SELECT data, pack, pack_off, pack_len, lines FROM log_chunks WHERE deploy_id = ?1
			AND first_seq >= coalesce((SELECT max(first_seq) FROM log_chunks WHERE deploy_id = ?1 AND first_seq <= ?2 + 1), 0)
			AND last_seq > ?2 ORDER BY first_seq`},
		{s.w, &s.nextNumber, `SELECT coalesce(max(number), 0) + 1 FROM deploys WHERE app = ? AND env = ?`},
		{s.w, &s.insertDeploy, `INSERT INTO deploys (number, app, env, ref, sha, previous_sha, state, user,
			source, force, created_at, started_at, finished_at, github_deployment_id, chat_thread, error, op, instances,
			wait_rule, wait_reason, wait_until, server, lease_until)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{s.w, &s.update, `UPDATE deploys SET ref = ?, sha = ?, previous_sha = ?, state = ?, force = ?,
			started_at = ?, finished_at = ?, github_deployment_id = ?, chat_thread = ?, error = ?,
			wait_rule = ?, wait_reason = ?, wait_until = ?,
			server = CASE WHEN state IN ('running', 'verifying') THEN server ELSE ? END, lease_until = CASE WHEN state IN ('running', 'verifying') THEN lease_until ELSE ? END
			WHERE id = ? AND state = ? AND coalesce(lease_until, '') < ? AND (? = '' OR server = ? AND lease_until >= ?)`},
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
		close(s.packs.stop)
		s.packs.wg.Wait()
		close(s.writes)
		<-s.done
	}
	for _, st := range []*sql.Stmt{s.nextQueued, s.lastSucceeded, s.laneCurrent, s.deployByID, s.lastLogSeq, s.logChunks,
		s.insertDeploy, s.nextNumber, s.update, s.audit} {
		if st != nil {
			st.Close()
		}
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// tx runs fn in a write transaction, committed with the writes of other
// callers that wait at the same time (group commit). fn gets a context
// that carries ctx's values but is never canceled: ctx is checked before
// fn starts, not during.
func (s *Store) tx(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
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
		if err := fn(ctx, tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	if err := s.sameFile(); err != nil {
		return err
	}
	if err := s.health.damage(); err != nil {
		return err
	}
	once := queue.OnceOf(ctx)
	if once != nil {
		fn = recordOnce(once, fn)
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- op:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := <-op.done
	if once != nil && err == nil {
		once.Recorded()
	}
	return err
}

// recordOnce makes fn also record the key of something that must happen
// once, in its transaction: EDuplicate if it is there already.
func recordOnce(once *queue.Once, fn func(context.Context, *sql.Tx) error) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO once_keys (key, at) VALUES (?, ?)`, once.Key, fmtTime(time.Now()))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return queue.Errorf(queue.EDuplicate, "%s was done already", once.Key)
		}
		return fn(ctx, tx)
	}
}

// deleteSome runs a DELETE and returns none when it removed no row.
func (s *Store) deleteSome(ctx context.Context, none error, q string, args ...any) error {
	var n int64
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err == nil && n == 0 {
		return none
	}
	return err
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// fmtSortable is a fixed-width time, for columns compared in SQL: its text
// order is its time order (RFC 3339 with trimmed fractions is not).
func fmtSortable(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// nullSortable is fmtSortable, or NULL for a zero time.
func nullSortable(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtSortable(t)
}

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
