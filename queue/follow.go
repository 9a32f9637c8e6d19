package queue

import (
	"context"
	"time"
)

// remotePoll is how often a follower reads the store for the lines
// another server writes.
const remotePoll = 100 * time.Millisecond

// follow calls emit with the lines of a deploy after seq `after`, as
// they come, until the deploy ends or ctx is done, and returns the deploy
// as it ended. A follower that falls behind catches up from the store; it
// never slows the runner. remote says whether another server may write
// the log (several servers share the store, and no run of this process
// holds the deploy): then the follower reads the store every remotePoll.
func follow(ctx context.Context, store Store, logs *logHub, id, after int64, remote func(int64) bool, emit func([]LogLine) error) (*Deploy, error) {
	last := after
	drain := func(upTo int64) error {
		for {
			lines, err := store.Log(ctx, id, last, 2000)
			if err != nil {
				return err
			}
			if upTo > 0 {
				for i, l := range lines {
					if l.Seq > upTo {
						lines = lines[:i]
						break
					}
				}
			}
			if len(lines) == 0 {
				return nil
			}
			if err := emit(lines); err != nil {
				return err
			}
			last = lines[len(lines)-1].Seq
		}
	}
	for {
		dl, err := logs.acquire(ctx, id)
		if err != nil {
			return nil, err
		}
		f := dl.subscribe()
		d, err := store.Deploy(ctx, id)
		if err != nil || d.State.Terminal() {
			dl.unsubscribe(f)
			logs.release(dl)
			if err != nil {
				return nil, err
			}
			return d, drain(0)
		}
		if remote(id) {
			dl.unsubscribe(f)
			logs.release(dl)
			return followStored(ctx, store, logs.clock, id, drain)
		}
		dl.waitPersisted(f.start - 1)
		err = drain(f.start - 1)
		for open := true; open && err == nil; {
			select {
			case <-ctx.Done():
				err = ctx.Err()
				continue
			case <-f.wake:
			}
			var batch []LogLine
			batch, open = f.take()
			i := 0
			for i < len(batch) && batch[i].Seq <= last {
				i++
			}
			if i < len(batch) {
				if err = emit(batch[i:]); err == nil {
					last = batch[len(batch)-1].Seq
				}
			}
		}
		dl.unsubscribe(f)
		logs.release(dl)
		if err != nil {
			return nil, err
		}
		if f.wasDropped() {
			continue // fell behind: catch up from the store
		}
		// The log ended: everything is stored. Finish even if the caller
		// is going away: these are two short reads.
		ctx = context.WithoutCancel(ctx)
		if err := drain(0); err != nil {
			return nil, err
		}
		if d, err = store.Deploy(ctx, id); err != nil || d.State.Terminal() {
			return d, err
		}
	}
}

// followStored follows a log another server writes, from the store: its
// lines every remotePoll until the deploy ended (read before the last
// lines, which its end was stored with).
func followStored(ctx context.Context, store Store, clock Clock, id int64, drain func(upTo int64) error) (*Deploy, error) {
	for {
		d, err := store.Deploy(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := drain(0); err != nil {
			return nil, err
		}
		if d.State.Terminal() {
			return d, nil
		}
		if err := sleep(ctx, clock, remotePoll); err != nil {
			return nil, err
		}
	}
}
