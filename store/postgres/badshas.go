package postgres

import (
	"context"
	"time"

	"github.com/deployq/deployq/queue"
)

// MarkBad implements queue.Store.
func (s *Store) MarkBad(ctx context.Context, b *queue.BadSHA) error {
	at, ns := stamp(b.At)
	return s.exec(ctx, `INSERT INTO bad_shas (app, sha, reason, user_name, at, at_ns) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (app, sha) DO UPDATE SET reason = excluded.reason, user_name = excluded.user_name, at = excluded.at, at_ns = excluded.at_ns`,
		b.App, b.SHA, clean(b.Reason), b.User, at, ns)
}

// UnmarkBad implements queue.Store.
func (s *Store) UnmarkBad(ctx context.Context, app, sha string) error {
	return s.deleteSome(ctx, queue.Errorf(queue.ENotFound, "%s is not marked bad for %s", queue.ShortSHA(sha), app),
		`DELETE FROM bad_shas WHERE app = $1 AND sha = $2`, app, sha)
}

// BadSHAs implements queue.Store: with the calls made at once (every
// request asks for its app's), in one statement.
func (s *Store) BadSHAs(ctx context.Context, app string) ([]*queue.BadSHA, error) {
	r := &badRead{app: app}
	if err := batched(ctx, s, s.badReads, r); err != nil {
		return nil, err
	}
	return r.marks, r.err
}

// badRead is a read of the marks of app ("": all), and then what it
// found.
type badRead struct {
	app   string
	marks []*queue.BadSHA
	err   error
}

// readBad reads the marks the reads of batch ask for in one statement,
// and gives each its own, newest first.
func (s *Store) readBad(ctx context.Context, batch []*badRead) {
	var apps []string
	for _, r := range batch {
		if r.app == "" {
			apps = nil // all of them
			break
		}
		apps = append(apps, r.app)
	}
	marks, err := query(ctx, s, func(r scanner) (*queue.BadSHA, error) {
		var b queue.BadSHA
		var at time.Time
		var ns int16
		err := r.Scan(&b.App, &b.SHA, &b.Reason, &b.User, &at, &ns)
		b.At = unstamp(at, ns)
		return &b, err
	}, `SELECT app, sha, reason, user_name, at, at_ns FROM bad_shas WHERE $1::text[] IS NULL OR app = ANY($1)
		ORDER BY at DESC, at_ns DESC, app, sha`, apps)
	for _, r := range batch {
		if r.err = err; err != nil {
			continue
		}
		for _, b := range marks {
			if r.app == "" || b.App == r.app {
				c := *b
				r.marks = append(r.marks, &c)
			}
		}
	}
}
