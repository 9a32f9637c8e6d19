package storetest

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// lockCases: locks of environments and of apps in them.
var lockCases = []testCase{
	// Locks of an environment and of apps in it are apart; every field
	// comes back, an expiry or none.
	{"PutAndList", func(t *testing.T, s queue.Store) {
		want := []*queue.Lock{
			{Env: "prod", Owner: "alice", Reason: "db migration", CreatedAt: t0.In(zone)},
			{Env: "prod", App: "web", Owner: "bob", Reason: "", CreatedAt: at(time.Minute), ExpiresAt: at(time.Hour).In(zone)},
			{Env: "qa", App: "api", Owner: "Zoë", Reason: "testing — don't touch ✋", CreatedAt: at(2 * time.Minute), ExpiresAt: at(30 * time.Minute)},
		}
		for _, l := range want {
			putLock(t, s, l)
		}
		sameLocks(t, "locks", listLocks(t, s), want)
	}},
	// A second lock of a scope replaces the first, expiry included.
	{"PutReplaces", func(t *testing.T, s queue.Store) {
		env := &queue.Lock{Env: "prod", Owner: "alice", Reason: "release", CreatedAt: t0}
		putLock(t, s, env)
		putLock(t, s, &queue.Lock{Env: "prod", App: "web", Owner: "alice", Reason: "first", CreatedAt: t0, ExpiresAt: at(time.Hour)})
		steal := &queue.Lock{Env: "prod", App: "web", Owner: "bob", Reason: "stolen", CreatedAt: at(time.Minute), ExpiresAt: at(2 * time.Hour)}
		putLock(t, s, steal)
		sameLocks(t, "after a steal", listLocks(t, s), []*queue.Lock{env, steal})
		forever := &queue.Lock{Env: "prod", App: "web", Owner: "bob", Reason: "until unlocked", CreatedAt: at(2 * time.Minute)}
		putLock(t, s, forever)
		sameLocks(t, "after dropping the expiry", listLocks(t, s), []*queue.Lock{env, forever})
	}},
	// Locks are listed whether or not they expired: the queue decides.
	{"ExpiredListed", func(t *testing.T, s queue.Store) {
		old := &queue.Lock{Env: "prod", Owner: "alice", CreatedAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
			ExpiresAt: time.Date(2020, 1, 1, 1, 0, 0, 0, time.UTC)}
		putLock(t, s, old)
		sameLocks(t, "an expired lock", listLocks(t, s), []*queue.Lock{old})
	}},
	// DeleteLock removes one scope's lock, and says ENotFound when that
	// scope has none.
	{"Delete", func(t *testing.T, s queue.Store) {
		ctx := t.Context()
		env := &queue.Lock{Env: "prod", Owner: "alice", CreatedAt: t0}
		app := &queue.Lock{Env: "prod", App: "web", Owner: "bob", CreatedAt: t0}
		other := &queue.Lock{Env: "qa", App: "web", Owner: "bob", CreatedAt: t0}
		wantCode(t, s.DeleteLock(ctx, "prod", ""), queue.ENotFound, "deleting a lock of an empty store")
		for _, l := range []*queue.Lock{env, app, other} {
			putLock(t, s, l)
		}
		if err := s.DeleteLock(ctx, "prod", "web"); err != nil {
			t.Fatal(err)
		}
		sameLocks(t, "after unlocking web in prod", listLocks(t, s), []*queue.Lock{env, other})
		wantCode(t, s.DeleteLock(ctx, "prod", "web"), queue.ENotFound, "deleting it again")
		wantCode(t, s.DeleteLock(ctx, "qa", ""), queue.ENotFound, "deleting qa's lock where only an app of qa is locked")
		wantCode(t, s.DeleteLock(ctx, "prod", "api"), queue.ENotFound, "deleting a lock of another app")
		if err := s.DeleteLock(ctx, "prod", ""); err != nil {
			t.Fatal(err)
		}
		sameLocks(t, "after unlocking prod", listLocks(t, s), []*queue.Lock{other})
	}},
}

// freezeCases: one-off freezes of environments.
var freezeCases = []testCase{
	// Every field of a freeze comes back, an end or none.
	{"PutAndList", func(t *testing.T, s queue.Store) {
		want := []*queue.Freeze{
			{Env: "prod", Owner: "alice", Reason: "end of quarter", CreatedAt: t0.In(zone), EndsAt: at(48 * time.Hour).In(zone)},
			{Env: "qa", Owner: "Zoë", Reason: "", CreatedAt: at(time.Minute)},
		}
		for _, f := range want {
			putFreeze(t, s, f)
		}
		sameFreezes(t, "freezes", listFreezes(t, s), want)
	}},
	// One freeze per environment: a second replaces the first, its end
	// included.
	{"PutReplaces", func(t *testing.T, s queue.Store) {
		putFreeze(t, s, &queue.Freeze{Env: "prod", Owner: "alice", Reason: "first", CreatedAt: t0, EndsAt: at(time.Hour)})
		second := &queue.Freeze{Env: "prod", Owner: "bob", Reason: "longer", CreatedAt: at(time.Minute), EndsAt: at(3 * time.Hour)}
		putFreeze(t, s, second)
		sameFreezes(t, "after a second freeze", listFreezes(t, s), []*queue.Freeze{second})
		open := &queue.Freeze{Env: "prod", Owner: "bob", Reason: "until unfrozen", CreatedAt: at(2 * time.Minute)}
		putFreeze(t, s, open)
		sameFreezes(t, "after dropping the end", listFreezes(t, s), []*queue.Freeze{open})
	}},
	// Freezes are listed whether or not they ended.
	{"EndedListed", func(t *testing.T, s queue.Store) {
		old := &queue.Freeze{Env: "prod", Owner: "alice", CreatedAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
			EndsAt: time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)}
		putFreeze(t, s, old)
		sameFreezes(t, "an ended freeze", listFreezes(t, s), []*queue.Freeze{old})
	}},
	// DeleteFreeze removes an environment's freeze, and says ENotFound when
	// it has none.
	{"Delete", func(t *testing.T, s queue.Store) {
		ctx := t.Context()
		wantCode(t, s.DeleteFreeze(ctx, "prod"), queue.ENotFound, "deleting a freeze of an empty store")
		prod := &queue.Freeze{Env: "prod", Owner: "alice", CreatedAt: t0}
		qa := &queue.Freeze{Env: "qa", Owner: "alice", CreatedAt: t0}
		putFreeze(t, s, prod)
		putFreeze(t, s, qa)
		if err := s.DeleteFreeze(ctx, "prod"); err != nil {
			t.Fatal(err)
		}
		sameFreezes(t, "after unfreezing prod", listFreezes(t, s), []*queue.Freeze{qa})
		wantCode(t, s.DeleteFreeze(ctx, "prod"), queue.ENotFound, "deleting it again")
	}},
}

func putLock(t *testing.T, s queue.Store, l *queue.Lock) {
	t.Helper()
	c := *l
	if err := s.PutLock(t.Context(), &c); err != nil {
		t.Fatalf("locking %s: %v", l.Scope(), err)
	}
}

// listLocks returns the locks, by env and app.
func listLocks(t *testing.T, s queue.Store) []*queue.Lock {
	t.Helper()
	ls, err := s.Locks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ls, func(a, b *queue.Lock) int { return cmp.Or(cmp.Compare(a.Env, b.Env), cmp.Compare(a.App, b.App)) })
	return ls
}

// sameLocks fails t unless got are want (by env and app), times as
// instants.
func sameLocks(t *testing.T, what string, got, want []*queue.Lock) {
	t.Helper()
	sameList(t, what, got, want, showLock)
}

func putFreeze(t *testing.T, s queue.Store, f *queue.Freeze) {
	t.Helper()
	c := *f
	if err := s.PutFreeze(t.Context(), &c); err != nil {
		t.Fatalf("freezing %s: %v", f.Env, err)
	}
}

// listFreezes returns the freezes, by env.
func listFreezes(t *testing.T, s queue.Store) []*queue.Freeze {
	t.Helper()
	fs, err := s.Freezes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(fs, func(a, b *queue.Freeze) int { return cmp.Compare(a.Env, b.Env) })
	return fs
}

// sameFreezes fails t unless got are want (by env), times as instants.
func sameFreezes(t *testing.T, what string, got, want []*queue.Freeze) {
	t.Helper()
	sameList(t, what, got, want, showFreeze)
}
