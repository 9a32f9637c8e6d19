package postgres

import (
	"context"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
)

// Once implements queue.Store.
func (s *Store) Once(ctx context.Context, key string) (bool, error) {
	var n int64
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO once_keys (key) VALUES ($1) ON CONFLICT (key) DO NOTHING`, key)
		n = tag.RowsAffected()
		return err
	})
	return err == nil && n == 1, err
}

// Seen implements queue.Store.
func (s *Store) Seen(ctx context.Context, key string) (bool, error) {
	var seen bool
	err := s.queryRow(ctx, []any{&seen}, `SELECT EXISTS (SELECT 1 FROM once_keys WHERE key = $1)`, key)
	return seen, err
}

// recordOnce records the key of something that must happen once, in the
// transaction of the write it goes with: EDuplicate if it is there
// already. Of two writes with one key at once, the second waits for the
// first to commit, then finds the key.
func recordOnce(ctx context.Context, tx pgx.Tx, key string) error {
	tag, err := tx.Exec(ctx, `INSERT INTO once_keys (key) VALUES ($1) ON CONFLICT (key) DO NOTHING`, key)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return queue.Errorf(queue.EDuplicate, "%s was done already", key)
	}
	return nil
}
