package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5/pgconn"
)

// healthTimeout bounds Health: a database that does not answer by then
// is unavailable.
const healthTimeout = 10 * time.Second

// Health implements queue.Store: it writes one small row, which fails
// when the database cannot be reached, is read-only (a standby) or has
// no space left.
func (s *Store) Health(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	wctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	_, err := s.pool.Exec(wctx, `INSERT INTO health (id, checked_at) VALUES (1, now())
		ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err() // the caller went away: no verdict
	case s.closed.Load():
		return ErrClosed
	}
	return queue.Errorf(queue.EUnavailable, "the database cannot be written: %v", err)
}

// failure turns an error of the database into one callers can act on:
// EUnavailable (try again later) when the database cannot be reached, is
// shutting down or starting, is read-only, is out of space or took too
// long; the caller's own cancellation and other errors stay as they are.
func failure(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return err
	case unreachable(err):
		return queue.Errorf(queue.EUnavailable, "the database cannot be reached or written: %v", err)
	}
	return err
}

// unreachable reports whether err says the database is not there for us
// now, rather than that a statement was wrong.
func unreachable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources: disk full, out of memory, too many connections
			"57", // operator intervention: shutdown, starting up, canceled
			"58": // system error: I/O
			return true
		}
		return pe.Code == "25006" // read_only_sql_transaction: a standby
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
