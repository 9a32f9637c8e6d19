package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
)

var _ queue.Watcher = (*Store)(nil)

// Watch implements queue.Watcher: it listens on a connection of its own
// for what the triggers of migration 003 send, skips what this Store's
// connections changed, and connects again (after a second, then less
// often) when the connection is lost, each time with a Rescan first.
func (s *Store) Watch(ctx context.Context, changed func(queue.Change)) error {
	for failures := 0; ; failures++ {
		err := s.listen(ctx, changed, func() { failures = 0 })
		if ctx.Err() != nil {
			return nil
		}
		changed(queue.Change{Lost: true}) // lost, or never made
		wait := min(time.Second<<min(failures, 4), 15*time.Second)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		_ = err // told by the next Rescan: the caller reads everything again
	}
}

// listen holds one connection listening until it fails or ctx ends.
func (s *Store) listen(ctx context.Context, changed func(queue.Change), up func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN deployq`); err != nil {
		return err
	}
	up()
	changed(queue.Change{Rescan: true}) // what changed while no one listened
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		kind, rest, _ := strings.Cut(n.Payload, ":")
		id, origin, _ := strings.Cut(rest, ":")
		if origin == s.origin {
			continue
		}
		switch kind {
		case "d":
			if v, err := strconv.ParseInt(id, 10, 64); err == nil {
				changed(queue.Change{Deploy: v})
			}
		case "l":
			changed(queue.Change{Locks: true})
		case "f":
			changed(queue.Change{Freezes: true})
		}
	}
}
