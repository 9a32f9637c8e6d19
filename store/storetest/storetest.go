// Package storetest is the conformance suite every queue.Store passes
// (SQLite, PostgreSQL): each behaviour the queue counts on, as table
// tests split by concern, each case on a fresh, empty store.
//
// A store's tests call Run with a func that makes a fresh, empty store
// for a case and registers its own cleanup on the case's t. Cases run one
// after another, never in parallel; a case may use its store from many
// goroutines.
//
// Where the interface's docs leave something open, the suite holds every
// store to one answer, said here once:
//
//   - Order. IDs grow in the order deploys are created. The newest and
//     oldest deploys (Deploys, NextQueued, LastSucceeded, Lanes) are the
//     last and first created, whatever their CreatedAt says: a clock may
//     step back, and a deploy's place in its lane must not move.
//   - Operations. A deploy with an Op never counts as what runs in an
//     environment (queue.Deploy.Op): LastSucceeded and Lanes' Current skip
//     it; Lanes' Last does not.
//   - Times. A store keeps times to the microsecond, at least, and gives
//     back the same instant, in any zone (compare with Equal). Finer
//     fractions may be dropped or rounded: what comes back is within a
//     microsecond of what went in. Times compare as times, to the
//     microsecond, wherever a store compares or orders them (prune's
//     Before, approvals' At, outbox due times), never as text. A zero
//     time comes back zero. The suite's own times have whole
//     microseconds.
//   - Limits. DeployFilter.Limit below zero means no limit (the queue asks
//     so for every waiting deploy); zero means 50. Log's limit of zero or
//     less means the store's default, which is at least 1000 lines.
//   - Approvals. Oldest first means by At; an answer that replaces
//     another comes with its own At, and is listed by it.
//   - Audit. Newest first means the last recorded first, whatever its
//     Time says. Only CreateDeploy fills in an empty Target.
//   - Outbox. A message is due from when it was added, by the store's
//     clock, and at its NextAt itself (not only after).
//   - Once. Every write honours a context from queue.WithOnce, reads
//     never record its key, and Once and WithOnce share one set of keys.
//   - Prune. The line saying what went is a system line stamped
//     Prune.Now, before the lines kept (a Seq above 0 and below theirs);
//     it says the date of Prune.Now (2006-01-02) and how many lines went.
//     LastLogSeq does not change. A log pruned once is not pruned again,
//     and one of Keep lines or fewer is not pruned at all. A dry run
//     reports what the real one will do.
package storetest

import (
	"testing"

	"github.com/deployq/deployq/queue"
)

// Run runs the suite against the stores newStore makes: a subtest per
// concern, and in it one per case, each with a store of its own.
func Run(t *testing.T, newStore func(t *testing.T) queue.Store) {
	for _, c := range []struct {
		concern string
		cases   []testCase
	}{
		{"Deploys", deployCases},
		{"Lanes", laneCases},
		{"Leases", leaseCases},
		{"Logs", logCases},
		{"Locks", lockCases},
		{"Freezes", freezeCases},
		{"Approvals", approvalCases},
		{"Outbox", outboxCases},
		{"Letters", letterCases},
		{"BadSHAs", badCases},
		{"Once", onceCases},
		{"Meta", metaCases},
		{"Audit", auditCases},
		{"Prune", pruneCases},
		{"Health", healthCases},
		{"Times", timeCases},
	} {
		t.Run(c.concern, func(t *testing.T) {
			for _, tc := range c.cases {
				t.Run(tc.name, func(t *testing.T) { tc.test(t, newStore(t)) })
			}
		})
	}
}

// testCase is one behaviour, checked on a fresh, empty store.
type testCase struct {
	name string
	test func(t *testing.T, s queue.Store)
}
