package postgres

import (
	"context"
	"errors"

	"github.com/deployq/deployq/queue"
)

// nextLook is a lane's look for its next deploy, and then what it found.
type nextLook struct {
	app, env string
	next     *queue.Deploy
	current  string
	err      error
}

// currentSQL is the sha of lane l's newest succeeded deploy (empty if
// none).
const currentSQL = `coalesce((SELECT c.sha FROM deploys c WHERE c.app = l.app AND c.env = l.env
	AND c.state = 'succeeded' AND c.op = '' ORDER BY c.id DESC LIMIT 1), '')`

// nextSQL reads, for each lane of unnest($1, $2), its next queued
// deploy (rollbacks first: queue.CompareTurns), what runs in it, and the
// lane's place in the arrays; a lane with no queued deploy has no row.
const nextSQL = `SELECT d.*, ` + currentSQL + `, l.i
	FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS l(app, env, i)
	CROSS JOIN LATERAL (SELECT ` + deployCols + ` FROM deploys
		WHERE app = l.app AND env = l.env AND state = 'queued'
		ORDER BY source = 'rollback' DESC, id LIMIT 1) d`

// readNext reads the next deploys of the lanes of batch in one
// statement. A lane asked twice gets the same answer twice.
func (s *Store) readNext(ctx context.Context, batch []*nextLook) {
	apps, envs := make([]string, len(batch)), make([]string, len(batch))
	for i, l := range batch {
		apps[i], envs[i] = l.app, l.env
	}
	var current string
	var i int64
	_, err := query(ctx, s, func(row scanner) (*queue.Deploy, error) {
		d, err := scanDeploy(withCols{row, []any{&current, &i}})
		if err != nil {
			return nil, err
		}
		if i < 1 || int(i) > len(batch) {
			return nil, errors.New("postgres store: a lane read that was not asked")
		}
		batch[i-1].next, batch[i-1].current = d, current
		return d, nil
	}, nextSQL, apps, envs)
	for _, l := range batch {
		if err != nil {
			l.next, l.current, l.err = nil, "", err
		}
	}
}
