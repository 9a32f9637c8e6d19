package bot_test

import (
	"strings"
	"testing"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// A rollback of deploy #N (the Roll back button of its message) goes back
// to what ran before #N, whatever ran since: the last successful deploy
// before it of another sha, or, after a failure, the last that succeeded.
func TestRollbackOfADeploy(t *testing.T) {
	sha1, sha2, sha3 := strings.Repeat("1", 40), strings.Repeat("2", 40), strings.Repeat("3", 40)
	staging := queuetest.Shell("staging", `test "$DEPLOY_SHA" != `+sha3) // sha3 fails
	staging.Deployers = []string{"alice"}
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{staging}}}, nil)
	b := bot.New(q.Svc, "")
	alice := bot.Message{User: "alice", Thread: "chat:1"}
	for i, sha := range []string{sha1, sha2, sha2, sha3} { // #1 to #4; #3 redeploys #2's sha
		r := b.Handle(q.Ctx, bot.Message{User: "alice", Text: "deploy web@" + sha})
		if r.Err != nil {
			t.Fatalf("deploy %d: %s", i+1, r.Text)
		}
		q.Wait(t, r.Deploy.ID)
	}

	cases := []struct {
		name string
		of   int64
		sha  string
	}{
		{"a failed deploy: what ran before it", 4, sha2},
		{"a redeploy: the last deploy of another sha", 3, sha1},
		{"a deploy followed by others: the one before it", 2, sha1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := b.Do(q.Ctx, bot.Command{Verb: "rollback", ID: c.of}, alice)
			if r.Err != nil {
				t.Fatal(r.Text)
			}
			if d := r.Deploy; d.SHA != c.sha || d.App != "web" || d.Env != "staging" || d.Source != queue.SourceRollback ||
				d.User != "alice" || d.ChatThread != "chat:1" {
				t.Fatalf("rolled back to %+v, want %s", d, c.sha)
			}
			if want := "rollback queued: web " + queue.ShortSHA(c.sha) + " to staging by alice"; !strings.Contains(r.Text, want) {
				t.Fatalf("%q lacks %q", r.Text, want)
			}
			q.Wait(t, r.Deploy.ID)
		})
	}

	t.Run("nothing before the first", func(t *testing.T) {
		r := b.Do(q.Ctx, bot.Command{Verb: "rollback", ID: 1}, alice)
		if queue.ErrorCode(r.Err) != queue.EConflict || r.Text != "web in staging has no earlier successful deploy than #1 (1111111) to roll back to" {
			t.Fatalf("%q %v", r.Text, r.Err)
		}
	})
	t.Run("the same rule as the typed command", func(t *testing.T) {
		typed := b.Handle(q.Ctx, bot.Message{User: "mallory", Text: "rollback web to #1"})
		r := b.Do(q.Ctx, bot.Command{Verb: "rollback", ID: 2}, bot.Message{User: "mallory"})
		if queue.ErrorCode(r.Err) != queue.EForbidden || r.Text != typed.Text || r.Text != "mallory may not roll back web in staging (deployers: alice)" {
			t.Fatalf("button %q, typed %q", r.Text, typed.Text)
		}
	})
	t.Run("of another app and env", func(t *testing.T) {
		r := b.Do(q.Ctx, bot.Command{Verb: "rollback", App: "web", Env: "production", ID: 2}, alice)
		if queue.ErrorCode(r.Err) != queue.EInvalid || r.Text != "deploy #2 is web in staging, not web in production" {
			t.Fatalf("%q %v", r.Text, r.Err)
		}
	})
}
