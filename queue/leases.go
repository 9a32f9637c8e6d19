package queue

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// leases keeps this server's hold on the deploys it runs when several
// servers share the store. Every third of a lease it renews their leases
// in one write; it stops the runs it could not renew (another server
// ended them, or their lease ended before a renewal landed) and, when
// renewals fail, stops every run before the lease would end. It ends as
// interrupted the running deploys whose lease ended (their server died,
// or stopped renewing), never running them again. Between renewals it
// reads again what other servers change: locks, freezes, the board, and
// the lanes with deploys to start.
type leases struct {
	life    context.Context
	store   Store
	door    *door
	runs    *runs
	locks   *lockTable
	freezes *freezeBook
	board   *board
	clock   Clock
	log     *slog.Logger
	server  string
	lease   time.Duration
	// kick wakes the lanes that have deploys queued.
	kick func(ctx context.Context)

	renewed time.Time // the last renewal that landed; the keeper's goroutine only
}

// every is how often the keeper renews and looks around.
func (k *leases) every() time.Duration { return k.lease / 3 }

// run renews and looks around until the Service stops.
func (k *leases) run() {
	k.renewed = k.clock.Now()
	for {
		k.tick()
		if sleep(k.life, k.clock, k.every()) != nil {
			return
		}
	}
}

func (k *leases) tick() {
	now := k.clock.Now()
	k.renew(now)
	k.rescue(now)
	k.lookAround(k.life)
}

// lookAround reads again what other servers sharing the store change
// (locks, freezes, the lanes' summaries) and wakes the lanes that have
// deploys queued.
func (k *leases) lookAround(ctx context.Context) {
	if err := k.locks.refresh(ctx); err != nil {
		k.log.Warn("reading the locks again", "err", err)
	}
	if err := k.freezes.refresh(ctx); err != nil {
		k.log.Warn("reading the freezes again", "err", err)
	}
	if err := k.board.load(ctx); err != nil {
		k.log.Warn("reading the lanes again", "err", err)
	}
	k.kick(ctx)
}

// renew extends the leases of the deploys this server runs, and stops
// those it no longer holds.
func (k *leases) renew(now time.Time) {
	mine := k.runs.running() // only those whose start was stored before the renewal
	held, err := k.store.RenewLeases(k.life, k.server, now, now.Add(k.lease))
	if err == nil {
		k.renewed = now
		for _, id := range mine {
			if _, ok := slices.BinarySearch(held, id); !ok {
				k.log.Warn("a deploy this server ran is no longer its own; its run is stopped", "id", id)
				k.runs.stop(id, &leaseLost{server: k.server, why: "no longer held it (another server ended it, or its lease ended first)"})
			}
		}
		return
	}
	ends := k.renewed.Add(k.lease)
	if now.Add(k.every()).Before(ends) {
		k.log.Warn("renewing the leases of running deploys; trying again", "until", ends.UTC().Format(time.RFC3339), "err", err)
		return
	}
	// The next try would come after the leases end: another server may
	// then end these deploys and start the next ones; their runs stop now.
	if len(mine) > 0 {
		k.log.Error("the leases of running deploys could not be renewed; their runs are stopped", "deploys", mine, "err", err)
	}
	for _, id := range mine {
		k.runs.stop(id, &leaseLost{server: k.server, why: fmt.Sprintf("could not renew its lease since %s", k.renewed.UTC().Format(time.RFC3339))})
	}
}

// rescue ends, as interrupted, the running (or verifying) deploys whose
// lease ended: of other servers, or of this one when no run of this
// process holds them (an earlier life of it). Each end is written only if the lease is
// still ended at that moment.
func (k *leases) rescue(now time.Time) {
	running, err := k.store.Deploys(k.life, DeployFilter{States: Holding, Limit: -1})
	if err != nil {
		k.log.Warn("looking for deploys whose server stopped", "err", err)
		return
	}
	for _, d := range running {
		if d.LeaseUntil.IsZero() || !d.LeaseUntil.Before(now) || d.Server == k.server && k.runs.held(d.ID) {
			continue
		}
		who := "server " + d.Server
		if d.Server == "" {
			who = "its server"
		}
		msg := fmt.Sprintf("%s stopped renewing its lease (it ended at %s)", who, d.LeaseUntil.UTC().Format("2006-01-02T15:04:05Z"))
		line := fmt.Sprintf("%s: the deploy is interrupted, never run again; check %s before deploying again", msg, d.Env)
		if d.State == StateVerifying {
			line = fmt.Sprintf("%s: its runner had succeeded, its verification is interrupted; check %s", msg, d.Env)
		}
		err := k.door.move(WithLapsed(k.life, now), d, StateInterrupted, func(d *Deploy) { d.Error = msg }, line)
		switch {
		case ErrorCode(err) == EConflict: // renewed, ended or rescued meanwhile
		case err != nil:
			k.log.Warn("ending a deploy whose server stopped", "id", d.ID, "err", err)
		default:
			k.log.Warn("deploy interrupted: its server stopped renewing its lease", "id", d.ID, "app", d.App, "env", d.Env,
				"server", d.Server, "lease_ended", d.LeaseUntil)
			k.door.audit(k.life, "deployq", "interrupt", numbered(d.ID), msg)
		}
	}
}
