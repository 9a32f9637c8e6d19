// Package postgres implements queue.Store on PostgreSQL (jackc/pgx), with
// embedded SQL migrations. Several deployq servers may share one
// database: numbers, the one running deploy of a lane, the order of the
// outbox and migrations hold across them.
package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is a queue.Store backed by a PostgreSQL database, through a pool
// of connections.
type Store struct {
	pool     *pgxpool.Pool
	closed   atomic.Bool
	origin   string // said with the changes its connections make (see Watch)
	creates  *batcher[creation]
	moves    *batcher[move]
	nexts    *batcher[nextLook]
	logEnds  *batcher[logEnd]
	badReads *batcher[badRead]
}

var _ queue.Store = (*Store)(nil)

// defaultConns is the connections a server keeps at most unless the DSN
// says (pool_max_conns): lanes start, runs write their logs and requests
// come in at once; pgxpool's default (the number of CPUs, at least 4)
// makes them wait in turn. Three servers take 48 of PostgreSQL's default
// 100.
const defaultConns = 16

// Open connects to the database of dsn (postgres://... or key=value
// words; pgxpool's own, such as pool_max_conns, too) and applies the
// migrations it has not had.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultConns
	}
	origin := rand.Text()
	cfg.ConnConfig.RuntimeParams["deployq.origin"] = origin
	// Every statement is prepared once a connection and looks rows up by
	// key or lane: one plan for all values does, and planning each call
	// again (PostgreSQL's custom plans, its first five calls and whenever
	// it judges them cheaper) costs about a tenth of a burst's time.
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: %w", failure(ctx, err))
	}
	s := &Store{pool: pool, origin: origin}
	s.creates = &batcher[creation]{leaders: callLeaders, size: callBatch, write: s.writeCreates}
	s.moves = &batcher[move]{leaders: moveLeaders, size: moveBatch, write: s.writeMoves, first: (*move).starts}
	s.nexts = &batcher[nextLook]{leaders: callLeaders, size: callBatch, write: s.readNext}
	s.logEnds = &batcher[logEnd]{leaders: callLeaders, size: callBatch, write: s.readLogEnds}
	s.badReads = &batcher[badRead]{leaders: callLeaders, size: callBatch, write: s.readBad}
	return s, nil
}

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("postgres store: closed")

// Close waits for the calls in progress and closes the connections;
// later calls return ErrClosed.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.pool.Close()
	}
	return nil
}

// writeTimeout bounds a write once it has begun: a database that stops
// answering fails it (EUnavailable) rather than hold its caller forever.
const writeTimeout = time.Minute

// write runs fn on a connection: waiting for one ends with ctx; once it
// has one, fn runs to its end with a context that carries ctx's values
// but is not canceled with it (up to writeTimeout): a caller that gives
// up never leaves a write half done.
func (s *Store) write(ctx context.Context, fn func(context.Context, *pgxpool.Conn) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.fail(ctx, err)
	}
	defer conn.Release()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	return s.fail(ctx, fn(wctx, conn))
}

// tx runs fn in a transaction, as write runs it. A key of queue.WithOnce
// that ctx carries is recorded in the transaction.
func (s *Store) tx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	once := queue.OnceOf(ctx)
	err := s.write(ctx, func(ctx context.Context, conn *pgxpool.Conn) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if once != nil {
				if err := recordOnce(ctx, tx, once.Key); err != nil {
					return err
				}
			}
			return fn(ctx, tx)
		})
	})
	if err == nil && once != nil {
		once.Recorded()
	}
	return err
}

// writeRow runs one statement that writes, as a transaction of its own,
// and scans the row it returns into dst (none: nothing to scan; a
// statement that returns no row then leaves dst as it was): in one round
// trip, or, when ctx carries a key of queue.WithOnce, in a transaction
// that records the key too.
func (s *Store) writeRow(ctx context.Context, dst []any, q string, args ...any) error {
	if queue.OnceOf(ctx) != nil {
		return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			return scanOne(tx.QueryRow(ctx, q, args...), dst)
		})
	}
	return s.write(ctx, func(ctx context.Context, conn *pgxpool.Conn) error {
		return scanOne(conn.QueryRow(ctx, q, args...), dst)
	})
}

// scanOne scans a row into dst; no row is no error.
func scanOne(row pgx.Row, dst []any) error {
	err := row.Scan(dst...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	return err
}

// fail says what went wrong the way callers can act on: ErrClosed when
// the pool refused a call after Close, EUnavailable when the database
// cannot be reached or written (see failure), other errors as they are.
func (s *Store) fail(ctx context.Context, err error) error {
	var qe *queue.Error
	var pe *pgconn.PgError
	if err != nil && s.closed.Load() && !errors.As(err, &qe) && !errors.As(err, &pe) {
		return ErrClosed
	}
	return failure(ctx, err)
}

// deleteSome runs a DELETE and returns none when it removed no row.
func (s *Store) deleteSome(ctx context.Context, none error, q string, args ...any) error {
	var n int64
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, args...)
		n = tag.RowsAffected()
		return err
	})
	if err == nil && n == 0 {
		return none
	}
	return err
}

// exec runs one statement in a transaction of its own.
func (s *Store) exec(ctx context.Context, q string, args ...any) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, q, args...)
		return err
	})
}

// query runs a read and collects its rows with scan.
func query[T any](ctx context.Context, s *Store, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	return out, s.fail(ctx, err)
}

// scanner is a row to scan: one of many, or the one of QueryRow.
type scanner interface{ Scan(...any) error }

// queryRow runs a read of one row; pgx.ErrNoRows when there is none.
func (s *Store) queryRow(ctx context.Context, dst []any, q string, args ...any) error {
	if s.closed.Load() {
		return ErrClosed
	}
	err := s.pool.QueryRow(ctx, q, args...).Scan(dst...)
	if errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return s.fail(ctx, err)
}
