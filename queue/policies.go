package queue

import (
	"context"
	"time"
)

// LockRequest asks for a lock.
type LockRequest struct {
	Env, App string // App "" locks the whole environment
	Owner    string
	Reason   string
	TTL      time.Duration // 0: until unlocked
	Steal    bool          // take it from its holder
}

// Lock takes a lock and returns it with the lock it replaced, if any. A
// lock held by someone else is ELocked unless Steal is set; the holder may
// renew it. ENotFound for an unknown env or app, EForbidden, EInvalid.
func (s *Service) Lock(ctx context.Context, r LockRequest) (lock, replaced *Lock, err error) {
	if r.Env, err = s.cat.known(r.Env); err != nil {
		return nil, nil, err
	}
	if r.App != "" {
		a, _, err := s.cat.lookup(r.App, r.Env)
		if err != nil {
			return nil, nil, err
		}
		r.App = a.Name
	}
	if r.Owner == "" {
		return nil, nil, Errorf(EInvalid, "a lock needs an owner")
	}
	if err := ValidUser(r.Owner); err != nil {
		return nil, nil, err
	}
	if r.Reason, err = CleanReason(r.Reason); err != nil {
		return nil, nil, err
	}
	if err := s.access.lock(ctx, r.Env, r.App, r.Owner); err != nil {
		return nil, nil, err
	}
	if r.TTL < 0 {
		return nil, nil, Errorf(EInvalid, "a lock's duration must be positive")
	}
	now := s.clock.Now().UTC()
	l := &Lock{Env: r.Env, App: r.App, Owner: r.Owner, Reason: r.Reason, CreatedAt: now}
	if r.TTL > 0 {
		l.ExpiresAt = now.Add(r.TTL)
	}
	cur, err := s.locks.take(ctx, l, r.Steal)
	if err != nil {
		return nil, nil, err
	}
	action, detail := "lock", r.Reason
	if cur != nil && cur.Owner != r.Owner {
		action, detail = "steal", "from "+cur.Owner+": "+r.Reason
	}
	s.door.audit(ctx, r.Owner, action, l.Scope(), detail)
	return l, cur, nil
}

// Unlock removes the lock of (env, app) and returns it; queued deploys it
// held back go on. ENotFound when there is no such lock.
func (s *Service) Unlock(ctx context.Context, env, app, user string) (*Lock, error) {
	if err := ValidUser(user); err != nil {
		return nil, err
	}
	env, err := s.cat.known(env)
	if err != nil {
		return nil, err
	}
	if app != "" {
		a, _, err := s.cat.lookup(app, env)
		if err != nil {
			return nil, err
		}
		app = a.Name
	}
	if err := s.access.lock(ctx, env, app, user); err != nil {
		return nil, err
	}
	l, err := s.locks.remove(ctx, scope{env, app})
	if err != nil {
		return nil, err
	}
	s.door.audit(ctx, user, "unlock", l.Scope(), "held by "+l.Owner)
	return l, nil
}

// UnlockAll removes every lock; admins only.
func (s *Service) UnlockAll(ctx context.Context, user string) ([]*Lock, error) {
	if err := ValidUser(user); err != nil {
		return nil, err
	}
	if !s.access.isAdmin(ctx, nil, user) {
		return nil, Errorf(EForbidden, "%s may not unlock all (admins: %s)", user, orNobody(s.access.admins))
	}
	var done []*Lock
	for _, l := range s.locks.live() {
		if _, err := s.locks.remove(ctx, scope{l.Env, l.App}); err != nil {
			continue
		}
		s.door.audit(ctx, user, "unlock", l.Scope(), "unlock all; held by "+l.Owner)
		done = append(done, l)
	}
	return done, nil
}

// Locks returns the live locks, by environment and app.
func (s *Service) Locks(ctx context.Context) ([]*Lock, error) {
	if err := s.locks.sync(ctx); err != nil {
		return nil, err
	}
	return s.locks.live(), nil
}

// FreezeRequest asks for a one-off freeze.
type FreezeRequest struct {
	Env    string
	Owner  string
	Reason string
	TTL    time.Duration // 0: until unfrozen
}

// Freeze freezes an environment: deploys typed by people are refused
// (but an admin's deploy!!), automatic ones wait. Lockers may (EForbidden).
func (s *Service) Freeze(ctx context.Context, r FreezeRequest) (*Freeze, error) {
	var err error
	if r.Env, err = s.cat.known(r.Env); err != nil {
		return nil, err
	}
	if err := ValidUser(r.Owner); err != nil {
		return nil, err
	}
	if r.Reason, err = CleanReason(r.Reason); err != nil {
		return nil, err
	}
	if err := s.access.freeze(ctx, r.Env, r.Owner, "freeze"); err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	f := &Freeze{Env: r.Env, Owner: r.Owner, Reason: r.Reason, CreatedAt: now}
	if r.TTL > 0 {
		f.EndsAt = now.Add(r.TTL)
	}
	detail := r.Reason
	if r.TTL > 0 {
		detail = "for " + Age(r.TTL) + ": " + r.Reason
	}
	if err := s.freezes.put(ctx, f, func() { s.door.audit(ctx, r.Owner, "freeze", r.Env, detail) }); err != nil {
		return nil, err
	}
	s.toldFreeze(f, true)
	return f, nil
}

// Unfreeze ends an environment's one-off freeze (ENotFound if none);
// deploys waiting for it go on.
func (s *Service) Unfreeze(ctx context.Context, env, user string) (*Freeze, error) {
	if err := ValidUser(user); err != nil {
		return nil, err
	}
	env, err := s.cat.known(env)
	if err != nil {
		return nil, err
	}
	if err := s.access.freeze(ctx, env, user, "unfreeze"); err != nil {
		return nil, err
	}
	f, err := s.freezes.lift(ctx, env, func(f *Freeze) {
		s.door.audit(ctx, user, "unfreeze", env, "frozen by "+f.Owner+": "+f.Reason)
	})
	if err == nil {
		s.toldFreeze(f, false)
	}
	return f, err
}

// toldFreeze tells the freeze notifiers of a freeze set or lifted.
func (s *Service) toldFreeze(f *Freeze, frozen bool) {
	for _, n := range s.freezeNews {
		c := *f
		n.FreezeChanged(&c, frozen)
	}
}

// Freezes lists the one-off freezes that hold now.
func (s *Service) Freezes(ctx context.Context) ([]*Freeze, error) { return s.freezes.holding(), nil }

// FreezeStatus is what holds an environment now, for `queue` and the API
// ("" if nothing, or an unknown environment).
func (s *Service) FreezeStatus(envName string) string {
	if env := s.cat.env(envName); env != nil {
		return s.freezes.status(env)
	}
	return ""
}
