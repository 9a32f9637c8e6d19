package storetest

import (
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// badCases: shas of an app marked bad.
var badCases = []testCase{
	// Marks are listed per app, newest first; a mark of a sha marked
	// already replaces it; an unmark removes it, and a second says so.
	{"MarkUnmark", func(t *testing.T, s queue.Store) {
		mark := func(app string, n int, reason string, at time.Time) {
			t.Helper()
			if err := s.MarkBad(t.Context(), &queue.BadSHA{App: app, SHA: sha(n), Reason: reason, User: "alice", At: at}); err != nil {
				t.Fatal(err)
			}
		}
		mark("web", 1, "broke checkout", at(time.Minute))
		mark("web", 2, "", at(2*time.Minute+500*time.Millisecond))
		mark("api", 1, "slow", at(3*time.Minute))
		mark("web", 1, "broke checkout, twice", at(4*time.Minute))
		show := func(bs []*queue.BadSHA) string {
			var out string
			for _, b := range bs {
				out += b.App + "@" + queue.ShortSHA(b.SHA) + ":" + b.Reason + "@" + b.At.Sub(t0).String() + " "
			}
			return out
		}
		got, err := s.BadSHAs(t.Context(), "web")
		if err != nil || show(got) != "web@0000000:broke checkout, twice@4m0s web@0000000:@2m0.5s " {
			t.Fatalf("web's marks: %v %q", err, show(got))
		}
		if all, err := s.BadSHAs(t.Context(), ""); err != nil || len(all) != 3 || all[1].App != "api" {
			t.Fatalf("all marks: %v %q", err, show(all))
		}
		if err := s.UnmarkBad(t.Context(), "web", sha(1)); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.UnmarkBad(t.Context(), "web", sha(1)), queue.ENotFound, "a second unmark")
		if got, _ := s.BadSHAs(t.Context(), "web"); len(got) != 1 || got[0].SHA != sha(2) {
			t.Fatalf("after the unmark: %q", show(got))
		}
	}},
}
