package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
)

// outboxLock is the first key of the advisory locks OutboxAdd takes, one
// per message key (the second is a hash of it).
const outboxLock int32 = 0x6f757478 // "outx" in ASCII

// outboxHead selects, for each key, its oldest message.
const outboxHead = `o.id = (SELECT min(id) FROM outbox WHERE key = o.key)`

// OutboxAdd implements queue.Store. Adders of one key take turns (an
// advisory lock until they commit), so that a message's id is above
// those of every message of its key committed before it: of two adders
// on two servers, the second's message never shows before the first's.
func (s *Store) OutboxAdd(ctx context.Context, key, body string) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		return addLetters(ctx, tx, []queue.Letter{{Key: key, Body: body}})
	})
}

// addLetters adds messages to the outbox in tx (the transaction of what
// owes them), each after the advisory lock of its key (see OutboxAdd).
func addLetters(ctx context.Context, tx pgx.Tx, letters []queue.Letter) error {
	now, ns := stamp(time.Now())
	for _, l := range letters {
		_, err := tx.Exec(ctx, `WITH turn AS (SELECT pg_advisory_xact_lock($1, hashtext($2)))
			INSERT INTO outbox (key, body, next_at, next_ns, created_at) SELECT $2, $3, $4, $5, $4 FROM turn`,
			outboxLock, l.Key, clean(l.Body), now, ns)
		if err != nil {
			return err
		}
	}
	return nil
}

// outboxClaim is how long OutboxDue's messages stay with their caller:
// until then their next_at is the claim's end, and nobody else gets them.
const outboxClaim = time.Minute

// keyPrefix selects the keys that begin with $1.
const keyPrefix = `left(o.key, length($1)) = $1`

// OutboxDue implements queue.Store. A negative limit means no limit.
//
// It claims what it finds, in one transaction: the due heads are locked
// FOR UPDATE SKIP LOCKED, so that claimers on other servers neither wait
// for one another nor get the same rows (a head another claimer holds is
// skipped, and the messages behind it are not heads), then their next_at
// moves to the claim's end. The returned NextAt is when each came due.
func (s *Store) OutboxDue(ctx context.Context, prefix string, now time.Time, limit int) ([]queue.OutboxItem, error) {
	at, ns := stamp(now)
	end, endNs := stamp(now.Add(outboxClaim))
	var lim *int // NULL: no limit
	if limit >= 0 {
		lim = &limit
	}
	var out []queue.OutboxItem
	err := s.tx(queue.WithoutOnce(ctx), func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT o.id, o.key, o.body, o.attempts, o.next_at, o.next_ns FROM outbox o
			WHERE `+outboxHead+` AND `+keyPrefix+` AND (o.next_at, o.next_ns) <= ($2, $3) ORDER BY o.id LIMIT $4
			FOR UPDATE OF o SKIP LOCKED`, prefix, at, ns, lim)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (queue.OutboxItem, error) {
			var it queue.OutboxItem
			var next time.Time
			var nextNs int16
			err := r.Scan(&it.ID, &it.Key, &it.Body, &it.Attempts, &next, &nextNs)
			it.NextAt = unstamp(next, nextNs)
			return it, err
		})
		if err != nil || len(out) == 0 {
			return err
		}
		ids := make([]int64, len(out))
		for i, it := range out {
			ids[i] = it.ID
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET next_at = $1, next_ns = $2 WHERE id = ANY($3)`, end, endNs, ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OutboxNext implements queue.Store.
func (s *Store) OutboxNext(ctx context.Context, prefix string) (time.Time, bool, error) {
	var next time.Time
	var ns int16
	err := s.queryRow(ctx, []any{&next, &ns}, `SELECT o.next_at, o.next_ns FROM outbox o WHERE `+outboxHead+` AND `+keyPrefix+`
		ORDER BY o.next_at, o.next_ns LIMIT 1`, prefix)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	return unstamp(next, ns), err == nil, err
}

// OutboxDone implements queue.Store.
func (s *Store) OutboxDone(ctx context.Context, id int64) error {
	return s.exec(ctx, `DELETE FROM outbox WHERE id = $1`, id)
}

// OutboxRetry implements queue.Store.
func (s *Store) OutboxRetry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	at, ns := stamp(next)
	return s.exec(ctx, `UPDATE outbox SET attempts = attempts + 1, next_at = $1, next_ns = $2, last_error = $3 WHERE id = $4`,
		at, ns, clean(lastErr), id)
}

var _ queue.Outbox = (*Store)(nil)
