package bot_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/internal/gittest"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// queue lists, lane by lane, what runs and then what waits its turn, in
// order: ids, refs, who, and why each waits; not a count.
func TestQueueLists(t *testing.T) {
	repo := gittest.New(t)
	v1 := repo.Commit("web 1.0", map[string]string{"VERSION": "1.0"})
	repo.Tag("v1.0", "")
	release := filepath.Join(t.TempDir(), "release")
	staging := queuetest.Shell("staging", "echo started; while [ ! -e "+release+" ]; do sleep 0.05; done")
	prod := queuetest.Shell("production", "true")
	prod.Aliases = []string{"prod"}
	prod.Approvals = queue.Approvals{Required: 1, From: []string{"bob"}}
	q := queuetest.Start(t, []*queue.App{{Name: "web", Repo: "acme/web", Git: repo.Bare, DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{staging, prod}}}, nil)
	b := bot.New(q.Svc, "")
	say := func(user, text string) bot.Reply {
		t.Helper()
		r := b.Handle(q.Ctx, bot.Message{User: user, Text: text})
		if r.Err != nil {
			t.Fatalf("%s: %s", text, r.Text)
		}
		return r
	}
	matches := func(t *testing.T, got string, want ...string) {
		t.Helper()
		if !regexp.MustCompile(`^` + strings.Join(want, `\n`) + `$`).MatchString(got) {
			t.Fatalf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
		}
	}
	v1s := queue.ShortSHA(v1)

	if r := say("alice", "queue"); r.Text != "nothing running or queued anywhere" {
		t.Fatalf("an empty queue: %q", r.Text)
	}
	running := say("alice", "deploy web")
	q.WaitLog(t, running.Deploy.ID, "started")
	say("carol", "deploy web@v1.0 staging")
	say("dave", "deploy acme/web@"+v1+" to prod")
	say("erin", "lock production: release train")

	lanes := []string{
		`web in staging`,
		`  #1 main \(` + v1s + `\) by alice: running for \d+s`,
		`  #2 v1\.0 \(` + v1s + `\) by carol: queued`,
		`web in production \[locked by erin \d+s ago: release train\]`,
		`  #3 ` + v1s + ` by dave: waiting for approval: 0 of 1 from bob`,
	}
	matches(t, say("alice", "queue").Text, lanes...)
	matches(t, say("alice", "queue prod").Text, lanes[3:]...)
	matches(t, say("alice", "queue staging").Text, lanes[:3]...)
	if r := b.Handle(q.Ctx, bot.Message{User: "alice", Text: "queue qa"}); queue.ErrorCode(r.Err) != queue.ENotFound || r.Text != `unknown environment "qa"` {
		t.Fatalf("queue qa: %q %v", r.Text, r.Err)
	}

	// a long lane lists the first ones and counts the rest
	for range 10 {
		say("carol", "deploy web@v1.0 to staging")
	}
	long := []string{lanes[0], lanes[1], lanes[2]}
	for id := 4; id <= 11; id++ {
		long = append(long, fmt.Sprintf(`  #%d v1\.0 \(%s\) by carol: queued`, id, v1s))
	}
	matches(t, say("alice", "queue staging").Text, append(long, `  … and 2 more`)...)

	os.WriteFile(release, nil, 0o644)
	say("bob", "reject #3: not today")
	say("erin", "unlock production")
	queuetest.Eventually(t, "the queue empties", func() bool {
		return say("alice", "queue").Text == "nothing running or queued anywhere"
	})
	if r := say("alice", "queue prod"); r.Text != "nothing running or queued in production" {
		t.Fatalf("queue prod: %q", r.Text)
	}
}

// What teams coming from hubot-deploy and SlashDeploy type works in every
// command: an app named by its repo, an environment by its alias.
func TestHabitsOfOtherBots(t *testing.T) {
	sha1, sha2 := strings.Repeat("1", 40), strings.Repeat("2", 40)
	staging := queuetest.Shell("staging", "true")
	prod := queuetest.Shell("production", "true")
	prod.Aliases = []string{"prod"}
	prod.RequireExplicit = true
	q := queuetest.Start(t, []*queue.App{{Name: "web", Repo: "acme/web", DefaultRef: "main", DefaultEnv: "production",
		Environments: []*queue.Environment{prod, staging}}}, nil)
	b := bot.New(q.Svc, "")
	say := func(text string) bot.Reply {
		t.Helper()
		return b.Handle(q.Ctx, bot.Message{User: "alice", Text: text})
	}
	deployed := func(text, env string) {
		t.Helper()
		r := say(text)
		if r.Err != nil || r.Deploy == nil || r.Deploy.App != "web" || r.Deploy.Env != env {
			t.Fatalf("%s: %q %v", text, r.Text, r.Err)
		}
		q.Wait(t, r.Deploy.ID)
	}

	deployed("deploy acme/web@"+sha1+" production", "production")
	deployed("deploy web@"+sha2+" prod", "production")
	deployed("deploy Acme/Web@"+sha2+" to staging", "staging")
	if r := say("deploy web@" + sha2); queue.ErrorCode(r.Err) != queue.EInvalid ||
		r.Text != "say where: web's default environment production must be named (deploy web to production)" {
		t.Fatalf("deploy to a default that must be named: %q %v", r.Text, r.Err)
	}

	cases := []struct{ text, want string }{
		{"history acme/web in prod", "#2 production succeeded 2222222@" + sha2 + " by alice"},
		{"where acme/web", "web\nproduction: 2222222 (#2"},
		{"lock acme/web in prod: release", "locked web in production: release"},
		{"unlock acme/web in prod", "unlocked web in production (held by alice"},
		{"freeze prod for 1h", "froze production for 1h"},
		{"unfreeze prod", "unfroze production"},
		{"rollback acme/web in prod", "#4 rollback queued: web 1111111 to production by alice"},
		{"restart acme/web in prod", "the shell runner of web in production cannot restart"},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			r := say(c.text)
			if !strings.Contains(r.Text, c.want) {
				t.Fatalf("%q %v, want %q", r.Text, r.Err, c.want)
			}
			if r.Deploy != nil {
				q.Wait(t, r.Deploy.ID)
			}
		})
	}
}

// In a slash command the verb may be left out; a first word that is
// neither a verb nor an app, and looks like a verb, asks if it was meant.
func TestHandleSlash(t *testing.T) {
	sha := strings.Repeat("1", 40)
	q := queuetest.Start(t, []*queue.App{{Name: "web", Repo: "acme/web", DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{queuetest.Shell("staging", "true")}}}, nil)
	b := bot.New(q.Svc, "")
	cases := []struct{ text, want string }{
		{"lcok staging", "unknown command \"lcok\"; did you mean \"lock\"?\nusage: lock[!] ENV|APP in ENV [for DURATION] [: reason]"},
		{"Lcok! staging", "unknown command \"Lcok!\"; did you mean \"lock\"?\nusage: lock[!] ENV|APP in ENV"},
		{"histroy web", "unknown command \"histroy\"; did you mean \"history\"?"},
		{"web@" + sha + " to staging", "#1 queued: web 1111111 to staging by alice"},
		{"acme/web@" + sha + " staging", "#2 queued: web 1111111 to staging by alice"},
		{"deploy web@" + sha + " staging", "#3 queued: web 1111111 to staging by alice"},
		{"lock staging", "locked staging"},
		{"wep@" + sha + " staging", "unknown app \"wep\" (apps: web)"}, // nearer to web than to help: an app
		{"frontend staging", "unknown app \"frontend\" (apps: web)"},
		{"", "say a command; try `help`"},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			r := b.HandleSlash(q.Ctx, bot.Message{User: "alice", Text: c.text})
			if !strings.HasPrefix(r.Text, c.want) {
				t.Fatalf("%q, want %q", r.Text, c.want)
			}
			if r.Deploy != nil {
				q.Wait(t, r.Deploy.ID)
			}
		})
	}
}
