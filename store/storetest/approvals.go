package storetest

import (
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// approvalCases: the answers to deploys waiting for approval.
var approvalCases = []testCase{
	// Answers come back oldest first, every field as given; a deploy
	// without answers has none.
	{"OldestFirst", func(t *testing.T, s queue.Store) {
		d := create(t, s, newDeploy("web", "prod", queue.StateWaiting))
		other := create(t, s, newDeploy("web", "prod", queue.StateWaiting))
		answers := []*queue.Approval{
			{DeployID: d.ID, User: "carol", Approve: true, At: at(3 * time.Minute)},
			{DeployID: d.ID, User: "alice", Approve: false, Reason: "not during the sale — wait ✋", At: at(time.Minute).In(zone)},
			{DeployID: d.ID, User: "bob", Approve: true, Reason: "lgtm", At: at(2 * time.Minute)},
		}
		for _, a := range answers {
			addApproval(t, s, a)
		}
		sameApprovals(t, "the answers", listApprovals(t, s, d.ID), answers[1], answers[2], answers[0])
		sameApprovals(t, "another deploy's answers", listApprovals(t, s, other.ID))
	}},
	// One answer per user and deploy: a second replaces the first, and
	// takes the place its At gives it. The same user's answer to another
	// deploy is apart.
	{"OnePerUser", func(t *testing.T, s queue.Store) {
		d := create(t, s, newDeploy("web", "prod", queue.StateWaiting))
		other := create(t, s, newDeploy("web", "prod", queue.StateWaiting))
		alice := &queue.Approval{DeployID: d.ID, User: "alice", Approve: false, Reason: "tests are red", At: at(time.Minute)}
		bob := &queue.Approval{DeployID: d.ID, User: "bob", Approve: true, At: at(2 * time.Minute)}
		elsewhere := &queue.Approval{DeployID: other.ID, User: "alice", Approve: true, At: at(time.Minute)}
		for _, a := range []*queue.Approval{alice, bob, elsewhere} {
			addApproval(t, s, a)
		}
		again := &queue.Approval{DeployID: d.ID, User: "alice", Approve: true, Reason: "green now", At: at(3 * time.Minute)}
		addApproval(t, s, again)
		sameApprovals(t, "after alice answered again", listApprovals(t, s, d.ID), bob, again)
		sameApprovals(t, "alice's answer to another deploy", listApprovals(t, s, other.ID), elsewhere)
	}},
	// At orders answers as a time, to the microsecond, even within one
	// second.
	{"OrderWithinASecond", func(t *testing.T, s queue.Store) {
		d := create(t, s, newDeploy("web", "prod", queue.StateWaiting))
		second := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
		answers := []*queue.Approval{
			{DeployID: d.ID, User: "a", Approve: true, At: second},
			{DeployID: d.ID, User: "b", Approve: true, At: second.Add(time.Microsecond)},
			{DeployID: d.ID, User: "c", Approve: true, At: second.Add(250 * time.Millisecond)},
			{DeployID: d.ID, User: "d", Approve: true, At: second.Add(300 * time.Millisecond)},
			{DeployID: d.ID, User: "e", Approve: true, At: second.Add(300*time.Millisecond + time.Microsecond)},
			{DeployID: d.ID, User: "f", Approve: true, At: second.Add(time.Second)},
		}
		for i := len(answers) - 1; i >= 0; i-- { // the newest given first
			addApproval(t, s, answers[i])
		}
		sameApprovals(t, "the answers", listApprovals(t, s, d.ID), answers...)
	}},
}

func addApproval(t *testing.T, s queue.Store, a *queue.Approval) {
	t.Helper()
	c := *a
	if err := s.AddApproval(t.Context(), &c); err != nil {
		t.Fatalf("%s answering #%d: %v", a.User, a.DeployID, err)
	}
}

func listApprovals(t *testing.T, s queue.Store, id int64) []*queue.Approval {
	t.Helper()
	as, err := s.Approvals(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// sameApprovals fails t unless got are want, in order, times as
// instants.
func sameApprovals(t *testing.T, what string, got []*queue.Approval, want ...*queue.Approval) {
	t.Helper()
	sameList(t, what, got, want, showApproval)
}
