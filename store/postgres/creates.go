package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// createsSQL writes many deploys in one statement, as createSQL writes
// one: the values of each as the columns of unnest($1..$33), in
// createArgs' order, in lane order. Each lane's row is taken once, for
// all of its deploys (in the order of the lanes: every batch locks them
// in one order); its deploys are numbered in their order, and their ids,
// taken from the sequence before the insert, follow it. It returns each deploy's id and number, with its place.
const createsSQL = `WITH m AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::boolean[],
			$10::timestamptz[], $11::smallint[], $12::timestamptz[], $13::smallint[], $14::timestamptz[], $15::smallint[],
			$16::bigint[], $17::text[], $18::text[], $19::text[], $20::integer[], $21::text[], $22::text[], $23::timestamptz[], $24::smallint[],
			$25::text[], $26::timestamptz[], $27::smallint[], $28::timestamptz[], $29::smallint[], $30::text[], $31::text[], $32::text[], $33::text[])
			WITH ORDINALITY AS m(app, env, ref, sha, previous_sha, state, user_name, source, force,
				created_at, created_ns, started_at, started_ns, finished_at, finished_ns,
				github_deployment_id, chat_thread, error, op, instances, wait_rule, wait_reason, wait_until, wait_until_ns,
				server, lease_until, lease_until_ns, at, at_ns, audit_user, action, target, detail, i)),
	n AS (
		INSERT INTO lanes (app, env, last_number) SELECT app, env, count(*) FROM m GROUP BY app, env ORDER BY app, env
		ON CONFLICT (app, env) DO UPDATE SET last_number = lanes.last_number + excluded.last_number
		RETURNING app, env, last_number),
	k AS (
		SELECT m.*, n.last_number - count(*) OVER w + row_number() OVER (w ORDER BY m.i) AS number
		FROM m JOIN n USING (app, env) WINDOW w AS (PARTITION BY m.app, m.env)),
	kk AS (SELECT nextval(pg_get_serial_sequence('deploys', 'id')) AS id, o.* FROM (SELECT * FROM k ORDER BY i) o),
	d AS (
		INSERT INTO deploys (id, number, app, env, ref, sha, previous_sha, state, user_name, source, force,
			created_at, created_ns, started_at, started_ns, finished_at, finished_ns,
			github_deployment_id, chat_thread, error, op, instances, wait_rule, wait_reason, wait_until, wait_until_ns,
			server, lease_until, lease_until_ns)
		SELECT id, number, app, env, ref, sha, previous_sha, state, user_name, source, force,
			created_at, created_ns, started_at, started_ns, finished_at, finished_ns,
			github_deployment_id, chat_thread, error, op, instances, wait_rule, wait_reason, wait_until, wait_until_ns,
			server, lease_until, lease_until_ns
		FROM kk),
	a AS (
		INSERT INTO audit (at, at_ns, user_name, action, target, detail)
		SELECT at, at_ns, audit_user, action, CASE WHEN target = '' THEN '#' || id ELSE target END, detail FROM kk)
	SELECT id, number, i FROM kk`

// creation is a deploy to write, and then how that ended.
type creation struct {
	ctx context.Context // its values: the letters it owes, the key it records
	d   *queue.Deploy
	e   queue.AuditEntry
	err error
}

// writeCreates writes the deploys of batch in one transaction, and sets
// how each ended. If that transaction fails, each is written alone, so
// that each gets its own answer (a key recorded already, a lane that has
// a running deploy, a database down). The batch goes in lane order, each
// lane's deploys as they came: the lanes' rows are locked in one order
// by every batch, and two batches never wait for each other in a circle.
func (s *Store) writeCreates(ctx context.Context, batch []*creation) {
	if len(batch) == 1 {
		c := batch[0]
		c.err = s.createOne(c.ctx, c.d, c.e)
		return
	}
	order := slices.Clone(batch)
	slices.SortStableFunc(order, func(a, b *creation) int {
		return cmp.Or(cmp.Compare(a.d.App, b.d.App), cmp.Compare(a.d.Env, b.d.Env))
	})
	ids := make([][2]int64, len(order)) // id, number
	err := s.write(ctx, func(ctx context.Context, conn *pgxpool.Conn) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var keys []string
			rows := make([][]any, len(order))
			for i, c := range order {
				if o := queue.OnceOf(c.ctx); o != nil {
					keys = append(keys, o.Key)
				}
				rows[i] = createArgs(c.d, c.e)
			}
			if len(keys) > 0 { // a key there already fails the transaction
				if _, err := tx.Exec(ctx, `INSERT INTO once_keys (key) SELECT unnest($1::text[])`, keys); err != nil {
					return err
				}
			}
			made, err := tx.Query(ctx, createsSQL, transpose(rows)...)
			if err != nil {
				return err
			}
			var id, number, i int64
			if _, err := pgx.ForEachRow(made, []any{&id, &number, &i}, func() error {
				if i < 1 || int(i) > len(ids) {
					return fmt.Errorf("postgres store: a deploy created that was not asked (%d)", i)
				}
				ids[i-1] = [2]int64{id, number}
				return nil
			}); err != nil {
				return err
			}
			for i, x := range ids {
				if x[0] == 0 {
					return fmt.Errorf("postgres store: deploy %d of a batch not created", i+1)
				}
			}
			var letters []queue.Letter
			for i, c := range order {
				if queue.HasLetters(c.ctx) {
					d := *c.d
					d.ID, d.Number = ids[i][0], ids[i][1]
					letters = append(letters, queue.LettersOf(c.ctx, &d)...)
				}
			}
			// the keys' advisory locks, in one order too
			slices.SortStableFunc(letters, func(a, b queue.Letter) int { return cmp.Compare(a.Key, b.Key) })
			return addLetters(ctx, tx, letters)
		})
	})
	if err != nil {
		for _, c := range batch {
			c.err = s.createOne(c.ctx, c.d, c.e)
		}
		return
	}
	for i, c := range order {
		c.d.ID, c.d.Number = ids[i][0], ids[i][1]
		if o := queue.OnceOf(c.ctx); o != nil {
			o.Recorded()
		}
	}
}
