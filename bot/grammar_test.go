package bot_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/queue"
)

func TestParseOK(t *testing.T) {
	cases := []struct {
		in   string
		want bot.Command
	}{
		{"deploy web", bot.Command{Verb: "deploy", App: "web"}},
		{"deploy api@3f9c2e1 to prod", bot.Command{Verb: "deploy", App: "api", Ref: "3f9c2e1", Env: "prod"}},
		{"  Deploy! web@release/v1.2 in staging ", bot.Command{Verb: "deploy", Bang: true, App: "web", Ref: "release/v1.2", Env: "staging"}},
		{"deploy web@v1.0.0 on qa", bot.Command{Verb: "deploy", App: "web", Ref: "v1.0.0", Env: "qa"}},
		{"rollback web", bot.Command{Verb: "rollback", App: "web"}},
		{"rollback web in prod to #12", bot.Command{Verb: "rollback", App: "web", Env: "prod", To: "#12"}},
		{"rollback web to v1.1", bot.Command{Verb: "rollback", App: "web", To: "v1.1"}},
		{"cancel #42", bot.Command{Verb: "cancel", ID: 42}},
		{"cancel 42", bot.Command{Verb: "cancel", ID: 42}},
		{"lock prod", bot.Command{Verb: "lock", Env: "prod"}},
		{"lock! web in prod for 2h: db migration: part 2", bot.Command{Verb: "lock", Bang: true, App: "web", Env: "prod",
			Duration: 2 * time.Hour, Reason: "db migration: part 2"}},
		{"lock staging for 1d", bot.Command{Verb: "lock", Env: "staging", Duration: 24 * time.Hour}},
		{"unlock web in prod", bot.Command{Verb: "unlock", App: "web", Env: "prod"}},
		{"promote web from staging to prod", bot.Command{Verb: "promote", App: "web", From: "staging", To: "prod"}},
		{"continue #3", bot.Command{Verb: "continue", ID: 3}},
		{"approve #3", bot.Command{Verb: "approve", ID: 3}},
		{"reject #3: not during the sale", bot.Command{Verb: "reject", ID: 3, Reason: "not during the sale"}},
		{"deploy!! web to prod", bot.Command{Verb: "deploy", Bang: true, Override: true, App: "web", Env: "prod"}},
		{"unlock all", bot.Command{Verb: "unlock", All: true}},
		{"unlock all in prod", bot.Command{Verb: "unlock", App: "all", Env: "prod"}},
		{"freeze prod for 3h : release week", bot.Command{Verb: "freeze", Env: "prod", Duration: 3 * time.Hour, Reason: "release week"}},
		{"unfreeze prod", bot.Command{Verb: "unfreeze", Env: "prod"}},
		{"scale web in prod to 5", bot.Command{Verb: "scale", App: "web", Env: "prod", N: 5}},
		{"restart web in prod", bot.Command{Verb: "restart", App: "web", Env: "prod"}},
		{"queue", bot.Command{Verb: "queue"}},
		{"queue prod", bot.Command{Verb: "queue", Env: "prod"}},
		{"where web", bot.Command{Verb: "where", App: "web"}},
		{"history web in prod", bot.Command{Verb: "history", App: "web", Env: "prod"}},
		{"help", bot.Command{Verb: "help"}},
		{"deploy web to production with migrate=true Region=eu", bot.Command{Verb: "deploy", App: "web", Env: "production",
			Params: map[string]string{"migrate": "true", "region": "eu"}}},
		{"mark web@3f9c2e1 bad: broke checkout", bot.Command{Verb: "mark", App: "web", Ref: "3f9c2e1", Reason: "broke checkout"}},
		{"unmark web@v1.2", bot.Command{Verb: "unmark", App: "web", Ref: "v1.2"}},
		// habits of hubot-deploy and SlashDeploy: an app named by its repo,
		// the environment without "to"
		{"deploy web production", bot.Command{Verb: "deploy", App: "web", Env: "production"}},
		{"deploy web@main production", bot.Command{Verb: "deploy", App: "web", Ref: "main", Env: "production"}},
		{"deploy! Acme/Web@v1.2 to prod", bot.Command{Verb: "deploy", Bang: true, App: "acme/web", Ref: "v1.2", Env: "prod"}},
		{"deploy acme/web.go-2", bot.Command{Verb: "deploy", App: "acme/web.go-2"}},
		{"rollback acme/web in prod to #3", bot.Command{Verb: "rollback", App: "acme/web", Env: "prod", To: "#3"}},
		{"lock acme/web in prod for 1h", bot.Command{Verb: "lock", App: "acme/web", Env: "prod", Duration: time.Hour}},
		{"unlock acme/web in prod", bot.Command{Verb: "unlock", App: "acme/web", Env: "prod"}},
		{"promote acme/web from staging to prod", bot.Command{Verb: "promote", App: "acme/web", From: "staging", To: "prod"}},
		{"scale acme/web in prod to 2", bot.Command{Verb: "scale", App: "acme/web", Env: "prod", N: 2}},
		{"stop acme/web in prod", bot.Command{Verb: "stop", App: "acme/web", Env: "prod"}},
		{"where acme/web", bot.Command{Verb: "where", App: "acme/web"}},
		{"history acme/web in prod", bot.Command{Verb: "history", App: "acme/web", Env: "prod"}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := bot.Parse(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", *got, c.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"depoly web", "unknown command \"depoly\"; did you mean \"deploy\"?\nusage: deploy[!|!!] APP[@REF] [to ENV]"},
		{"rolback web", "did you mean \"rollback\"?"},
		{"lock!! prod", "lock has no !! form"},
		{"approve #3: fine", "unexpected ':' (only lock, mark, freeze and reject take a reason)"},
		{"frobnicate", "unknown command \"frobnicate\"; try `help`"},
		{"", "say a command"},
		{"deploy", "APP missing\nusage: deploy[!|!!] APP[@REF] [to ENV]"},
		{"deploy web@main;rm -rf /", "invalid ref \"main;rm\""},
		{"deploy web@$(reboot) to prod", "invalid ref \"$(reboot)\""},
		{"deploy web@`id`", "invalid ref"},
		{"deploy web@--upload-pack=x", "invalid ref"},
		{"deploy web@../../etc", "invalid ref"},
		{"deploy web into prod", "to or in or on expected, got \"into\""},
		{"deploy web to prod now", "unexpected \"now\""},
		{"deploy web to", "ENV missing"},
		{"deploy w;b", "\"w;b\" is not a valid app name"},
		{"cancel abc", "\"abc\" is not a deploy number like #12\nusage: cancel #ID"},
		{"lock prod for ever", "bad duration \"ever\""},
		{"lock prod forever", "for expected"},
		{"rollback! web", "rollback has no ! form"},
		{"where web: now", "unexpected ':'"},
		{"scale web in prod to many", "\"many\" is not an instance count"},
		{"promote web to prod", "from expected, got \"to\""},
		{"reject", "#ID missing\nusage: continue #ID | approve #ID | reject #ID [: reason]"},
		{"unfreeze prod: now", "unexpected ':' (only lock, mark, freeze and reject take a reason)\nusage: freeze ENV [for DURATION] [: reason] | unfreeze ENV"},
		{"stop web", "in expected\nusage: scale APP in ENV to N | restart|stop|start APP in ENV"},
		{"histroy web", "did you mean \"history\"?\nusage: queue [ENV] | where APP | history APP [in ENV] | help"},
		{"unlock! prod", "unlock has no ! form\nusage: unlock ENV|APP in ENV | unlock all"},
		{"deploy web production now", "to or in or on expected, got \"production\""},
		{"deploy web pr;od", "\"pr;od\" is not a valid env name"},
		{"deploy acme/web/x", "\"acme/web/x\" is not a valid app name"},
		{"deploy acme/..", "\"acme/..\" is not a valid app name"},
		{"deploy /web", "\"/web\" is not a valid app name"},
		{"where acme/", "\"acme/\" is not a valid app name"},
		{"lock acme/web", "\"acme/web\" is not a valid env name"},
		{"lock w;b in prod", "\"w;b\" is not a valid app name"},
		{"deploy web to acme/prod", "\"acme/prod\" is not a valid env name"},
		{"queue acme/web", "\"acme/web\" is not a valid env name"},
		{"promote web from acme/staging to prod", "\"acme/staging\" is not a valid env name"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := bot.Parse(c.in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// A long word typed makes a short error: what is quoted of it is cut.
func TestParseErrorsQuoteLittle(t *testing.T) {
	long := strings.Repeat("x", 5000)
	cases := map[string]string{
		"deploy web@" + long:         `invalid ref "` + long[:40] + `…"`,
		long + " web":                `unknown command "` + long[:40] + `…"`,
		"deploy web to prod " + long: `unexpected "` + long[:40] + `…"`,
		"deploy " + long + "é":       `"` + long[:40] + `…" is not a valid app name`,
	}
	for in, want := range cases {
		_, err := bot.Parse(in)
		if err == nil || !strings.HasPrefix(err.Error(), want) || len(err.Error()) > 200 {
			t.Errorf("%.20s…: got %.300v, want %q", in, err, want)
		}
	}
}

// FuzzParse: the parser never panics, and whatever it accepts is made of
// valid names and refs, so no input can smuggle shell syntax through.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"deploy web@main to prod", "lock! web in prod for 2h: x", "rollback web to #3",
		"deploy web@$(id)", "deploy web@main;rm -rf /", "cancel #1", "scale a in b to 3", "deploy web@a`b`",
		"deploy web@'x'", "deploy web@\"x\"", "deploy web@x|y", "deploy web@x&&y", "deploy web@x\ny",
		"deploy acme/web@main production", "lock acme/web in prod", "deploy a/../b", "where acme/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := bot.Parse(in)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if c.Ref != "" && !queue.ValidRef(c.Ref) {
			t.Fatalf("accepted ref %q", c.Ref)
		}
		if c.To != "" && !queue.ValidRef(strings.TrimPrefix(c.To, "#")) {
			t.Fatalf("accepted target %q", c.To)
		}
		for _, n := range []string{c.Env, c.From} {
			if n != "" && !queue.ValidName(n) {
				t.Fatalf("accepted name %q", n)
			}
		}
		if c.App != "" && !queue.ValidName(c.App) && !repoShaped(c.App) {
			t.Fatalf("accepted app %q", c.App)
		}
		for _, s := range []string{c.Ref, c.To, c.App, c.Env} {
			if strings.ContainsAny(s, ";|&$`'\"\\ \n()<>*?[]{}~") {
				t.Fatalf("shell syntax in %q", s)
			}
		}
	})
}

// repoShaped reports whether s is a GitHub owner/name in lower case:
// names of letters, digits, '-' (the owner), '.' and '_' (the repo),
// never "." or "..".
func repoShaped(s string) bool {
	owner, repo, ok := strings.Cut(s, "/")
	if !ok || owner == "" || repo == "" || repo == "." || repo == ".." || strings.HasPrefix(owner, "-") {
		return false
	}
	for _, r := range owner + repo {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return !strings.ContainsAny(owner, "._")
}

// Help has one line per command or family of commands, in this order;
// `help` answers with it.
func TestHelp(t *testing.T) {
	want := []string{
		"deploy[!|!!] APP[@REF] [to ENV] [with NAME=VALUE ...]   deploy (! skips required checks, never a lock; !! an admin's, through a freeze)",
		"rollback APP [in ENV] [to REF|#N]     redeploy an earlier version (default: the one before)",
		"cancel #ID                            cancel a queued or running deploy",
		"lock[!] ENV|APP in ENV [for DURATION] [: reason]   keep others from deploying (! takes it)",
		"unlock ENV|APP in ENV | unlock all    remove a lock (all: admins)",
		"promote APP from ENV to ENV           deploy what runs in one env to the next",
		"continue #ID | approve #ID | reject #ID [: reason]",
		"freeze ENV [for DURATION] [: reason] | unfreeze ENV",
		"scale APP in ENV to N | restart|stop|start APP in ENV",
		"mark APP@REF bad [: reason] | unmark APP@REF   never deploy a version again by itself",
		"queue [ENV] | where APP | history APP [in ENV] | help",
	}
	if strings.Join(bot.Help, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Help:\n%s", strings.Join(bot.Help, "\n"))
	}
	r := bot.New(nil, "").Handle(t.Context(), bot.Message{User: "alice", Text: "help me"})
	if r.Err != nil || r.Text != "deployq commands:\n"+strings.Join(want, "\n") {
		t.Fatalf("%q %v", r.Text, r.Err)
	}
}

func TestIsVerb(t *testing.T) {
	for w, want := range map[string]bool{"deploy": true, "Deploy!": true, "lock!": true, "queue": true, "stop": true, "unfreeze": true,
		"help": true, "web": false, "": false, "depoly": false} {
		if bot.IsVerb(w) != want {
			t.Errorf("IsVerb(%q) != %v", w, want)
		}
	}
}
