package queue

import "cmp"

// The order in which the queued deploys of a lane run: first in, first
// out, except rollbacks, which go before the deploys queued in their
// lane (a rollback is what an incident needs now, and the deploys queued
// behind it were asked of the version it rolls away from). The stores'
// NextQueued takes the first in this order; what lists a lane's queue,
// or counts what goes before a deploy, compares with CompareTurns.

// CompareTurns compares two queued deploys of a lane, by their source
// and id: negative when the first runs before the second.
func CompareTurns(aSource Source, aID int64, bSource Source, bID int64) int {
	return cmp.Or(cmp.Compare(turnClass(aSource), turnClass(bSource)), cmp.Compare(aID, bID))
}

func turnClass(s Source) int {
	if s == SourceRollback {
		return 0
	}
	return 1
}

// Ahead reports whether o goes before d, which waits its turn, in their
// lane: o holds the lane (running, verifying), or is queued with its
// turn first.
func Ahead(o, d *Deploy) bool {
	if o.ID == d.ID || d.State.Holds() {
		return false
	}
	return o.State.Holds() || o.State == StateQueued && CompareTurns(o.Source, o.ID, d.Source, d.ID) < 0
}
