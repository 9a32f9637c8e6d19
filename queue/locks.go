package queue

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// scope is what a lock holds: a whole environment (app "") or one app in
// it.
type scope struct{ env, app string }

// lockTable owns the locks: taking, releasing, expiring them, and saying
// which one holds a deploy back. Lock changes of an environment are
// ordered (exclusive) against the admission and start of its deploys
// (shared, through hold), so a deploy never slips past a new lock.
type lockTable struct {
	life  context.Context
	store Store
	clock Clock
	log   *slog.Logger
	// changed hears of every lock taken or released (announcements, the
	// dispatcher that lets held deploys go).
	changed []func(ctx context.Context, l *Lock, locked bool)
	audit   func(ctx context.Context, user, action, target, detail string)

	envs map[string]*sync.RWMutex // per environment; fixed once built
	// shared: several servers share the store, so the locks are read
	// again before each decision that depends on them (sync), unless
	// the watch hears the others' changes (see heard).
	shared bool
	// remote hears of the locks other servers took or released, as a
	// read finds them (the observers: the event stream).
	remote func(l *Lock, locked bool)

	mu     sync.Mutex
	locks  map[scope]*Lock // the store's copy, kept here
	expiry map[scope]Timer
	// listening: the watch hears every lock change other servers store
	// (from its Rescan until its connection is lost). told counts the
	// changes it heard, read the count the last read of the store
	// covers: while listening and read == told, the copy here is the
	// store's and sync needs no read.
	listening  bool
	told, read uint64
}

func newLockTable(life context.Context, store Store, clock Clock, log *slog.Logger, cat *catalog) *lockTable {
	t := &lockTable{life: life, store: store, clock: clock, log: log, envs: map[string]*sync.RWMutex{},
		locks: map[scope]*Lock{}, expiry: map[scope]Timer{}}
	for _, env := range cat.envs {
		if t.envs[env] == nil {
			t.envs[env] = &sync.RWMutex{}
		}
	}
	return t
}

// load reads the stored locks and arms their expiry.
func (t *lockTable) load(ctx context.Context) error {
	locks, err := t.store.Locks(ctx)
	if err != nil {
		return err
	}
	for _, l := range locks {
		t.set(l)
	}
	return nil
}

// refresh reads the stored locks again, for what other servers sharing
// the store took, renewed or released. Only remote hears of it here:
// their server announced them, and the lease keeper wakes the lanes.
func (t *lockTable) refresh(ctx context.Context) error {
	t.mu.Lock()
	told := t.told
	t.mu.Unlock()
	stored, err := t.store.Locks(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.read = max(t.read, told)
	t.mu.Unlock()
	fresh := map[scope]*Lock{}
	for _, l := range stored {
		fresh[scope{l.Env, l.App}] = l
	}
	var changed, gone []*Lock
	t.mu.Lock()
	for k, l := range t.locks {
		if fresh[k] == nil {
			gone = append(gone, l)
			delete(t.locks, k)
			if x := t.expiry[k]; x != nil {
				x.Stop()
				delete(t.expiry, k)
			}
		}
	}
	for k, l := range fresh {
		if cur := t.locks[k]; cur == nil || !sameLock(cur, l) {
			changed = append(changed, l)
		}
	}
	t.mu.Unlock()
	for _, l := range changed {
		t.set(l)
	}
	if t.remote != nil {
		for _, l := range gone {
			t.remote(l, false)
		}
		for _, l := range changed {
			t.remote(l, true)
		}
	}
	return nil
}

// sync reads the stored locks again when several servers share the
// store: another server may have taken or released one a moment ago.
//
// While the watch listens, the copy here already has every change it
// heard of, and a change is heard as the other server commits it (in
// milliseconds): the store is read only after a change was heard and
// before it was read, or while no one listens. A lock taken elsewhere
// holds deploys back here from when its notification arrives, as a lock
// taken a moment later would.
func (t *lockTable) sync(ctx context.Context) error {
	if !t.shared || t.upToDate() {
		return nil
	}
	return t.refresh(ctx)
}

// reread reads the stored locks again when several servers share the
// store, whatever the watch heard: before taking or releasing one, which
// is rare, the lock of another server is never missed.
func (t *lockTable) reread(ctx context.Context) error {
	if !t.shared {
		return nil
	}
	return t.refresh(ctx)
}

// upToDate reports whether the copy here is known to be the store's.
func (t *lockTable) upToDate() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.listening && t.read == t.told
}

// changedElsewhere is the watch's: another server changed the locks;
// the copy here is stale until the next read.
func (t *lockTable) changedElsewhere() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.told++
}

// listen is the watch's: it now hears every change (after its Rescan),
// or, with on false, it no longer does. Either way what the copy has from
// before is read again.
func (t *lockTable) listen(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.listening = on
	t.told++
}

func sameLock(a, b *Lock) bool {
	return a.Env == b.Env && a.App == b.App && a.Owner == b.Owner && a.Reason == b.Reason &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

// hold keeps the locks of env as they are until the returned func runs.
func (t *lockTable) hold(env string) (release func()) {
	mu := t.envs[env]
	mu.RLock()
	return mu.RUnlock
}

// blocking returns the live lock that keeps user from deploying app to
// env, app scope first, or nil. Its holder is never held back.
func (t *lockTable) blocking(app, env, user string) *Lock {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range []scope{{env, app}, {env, ""}} {
		if l := t.locks[k]; l != nil && !l.Expired(now) && l.Owner != user {
			return l
		}
	}
	return nil
}

// current returns the live lock of exactly k, or nil.
func (t *lockTable) current(k scope) *Lock {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.locks[k]; l != nil && !l.Expired(t.clock.Now()) {
		return l
	}
	return nil
}

// live returns copies of the live locks, by environment and app.
func (t *lockTable) live() []*Lock {
	now := t.clock.Now()
	t.mu.Lock()
	var out []*Lock
	for _, l := range t.locks {
		if !l.Expired(now) {
			c := *l
			out = append(out, &c)
		}
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Env < out[j].Env || out[i].Env == out[j].Env && out[i].App < out[j].App
	})
	return out
}

// take stores l, unless someone else holds its scope and steal is not
// set (ELocked); the holder renews it, keeping its age. It returns the
// lock it replaced, if any.
func (t *lockTable) take(ctx context.Context, l *Lock, steal bool) (replaced *Lock, err error) {
	if err := t.reread(ctx); err != nil {
		return nil, err
	}
	mu := t.envs[l.Env]
	mu.Lock()
	cur := t.current(scope{l.Env, l.App})
	switch {
	case cur != nil && cur.Owner != l.Owner && !steal:
		err = Errorf(ELocked, "%s (use lock! to take it)", lockedError(cur, t.clock.Now()).Error())
	case cur != nil && cur.Owner == l.Owner:
		l.CreatedAt = cur.CreatedAt // a renewal keeps its age
	}
	if err == nil {
		if err = t.store.PutLock(ctx, l); err == nil {
			t.set(l)
		}
	}
	mu.Unlock()
	if err != nil {
		return nil, err
	}
	t.tell(ctx, l, true)
	return cur, nil
}

// remove deletes the live lock of k (ENotFound if there is none) and
// returns it.
func (t *lockTable) remove(ctx context.Context, k scope) (*Lock, error) {
	if err := t.reread(ctx); err != nil {
		return nil, err
	}
	mu := t.envs[k.env]
	mu.Lock()
	cur := t.current(k)
	var err error
	if cur == nil {
		name := k.env
		if k.app != "" {
			name = k.app + " in " + k.env
		}
		err = Errorf(ENotFound, "%s is not locked", name)
	} else if err = t.store.DeleteLock(ctx, k.env, k.app); err == nil {
		t.unset(k)
	}
	mu.Unlock()
	if err != nil {
		return nil, err
	}
	t.tell(ctx, cur, false)
	return cur, nil
}

// set keeps l and arms its expiry.
func (t *lockTable) set(l *Lock) {
	k := scope{l.Env, l.App}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.locks[k] = l
	if old := t.expiry[k]; old != nil {
		old.Stop()
		delete(t.expiry, k)
	}
	if !l.ExpiresAt.IsZero() {
		t.expiry[k] = t.clock.AfterFunc(l.ExpiresAt.Sub(t.clock.Now()), func() { t.expire(l) })
	}
}

func (t *lockTable) unset(k scope) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.locks, k)
	if old := t.expiry[k]; old != nil {
		old.Stop()
		delete(t.expiry, k)
	}
}

// expire removes l when it runs out, if it is still the lock of its
// scope; a failed write is retried.
func (t *lockTable) expire(l *Lock) {
	ctx := t.life
	k := scope{l.Env, l.App}
	for attempt := 0; ctx.Err() == nil; attempt++ {
		mu := t.envs[l.Env]
		mu.Lock()
		t.mu.Lock()
		still := t.locks[k] == l
		t.mu.Unlock()
		var err error
		deleted := false
		if still {
			if err = t.store.DeleteLock(ctx, l.Env, l.App); err == nil || ErrorCode(err) == ENotFound {
				deleted = err == nil // else another server sharing the store expired it, and said so
				err = nil
				t.unset(k)
			}
		}
		mu.Unlock()
		if err == nil {
			if deleted {
				t.audit(ctx, l.Owner, "expire", l.Scope(), l.Reason)
				t.tell(ctx, l, false)
			}
			return
		}
		t.log.Error("expiring a lock; trying again", "scope", l.Scope(), "err", err)
		if sleep(ctx, t.clock, backoff(attempt)) != nil {
			return
		}
	}
}

func (t *lockTable) tell(ctx context.Context, l *Lock, locked bool) {
	for _, f := range t.changed {
		f(context.WithoutCancel(ctx), l, locked)
	}
}

func (t *lockTable) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, x := range t.expiry {
		x.Stop()
	}
}

func lockedError(l *Lock, now time.Time) error {
	msg := fmt.Sprintf("%s is locked by %s (%s ago)", l.Scope(), l.Owner, Age(now.Sub(l.CreatedAt)))
	if l.Reason != "" {
		msg += ": " + l.Reason
	}
	return Errorf(ELocked, "%s", msg)
}
