package config_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/runners/shell"
)

var kinds = config.Kinds{"shell": func() any { return &shell.Settings{} }}

const good = `server:
  listen: 127.0.0.1:9090
  api_tokens:
    - {name: alice, token: "${DEPLOYQ_TEST_TOKEN}"}
apps:
  - name: web
    git: /srv/git/web.git
    default_env: staging
    environments:
      - name: staging
        runner: shell
        shell: {command: "./deploy.sh {env} {sha}", checkout: true, kill_grace: 3s}
        timeout: 30m
        idle_timeout: 5m
        log_cap: 2GiB
  - name: api
    environments:
      - name: qa
        runner: shell
        shell: {command: "echo $${HOME} $$ $HOME"}
environments:
  - name: production
    apps: [web, api]
    runner: shell
    shell: {command: "fab -R {env} deploy:app={app},sha={sha}"}
`

func TestParseOK(t *testing.T) {
	t.Setenv("DEPLOYQ_TEST_TOKEN", "a-long-secret-token-value")
	c, err := config.Parse("deployq.yaml", []byte(good), kinds)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Listen != "127.0.0.1:9090" || c.Server.BaseURL != "http://127.0.0.1:9090" || c.Server.MaxParallel != 8 {
		t.Fatalf("server %+v", c.Server)
	}
	if c.Server.APITokens[0].Token != "a-long-secret-token-value" || c.Secrets[0] != "a-long-secret-token-value" {
		t.Fatalf("token not expanded or not a secret: %+v %v", c.Server.APITokens, c.Secrets)
	}
	web := c.Apps[0]
	st := web.Env("staging")
	if st.LogCap != 2<<30 {
		t.Fatalf("log_cap %d", st.LogCap)
	}
	if st.Timeout != 30*time.Minute || st.IdleTimeout != 5*time.Minute || web.DefaultRef != "main" {
		t.Fatalf("staging %+v", st)
	}
	s := st.Settings.(*shell.Settings)
	if !s.Checkout || s.KillGrace != 3*time.Second || s.Command != "./deploy.sh {env} {sha}" {
		t.Fatalf("settings %+v", s)
	}
	if web.Env("production") == nil || c.Apps[1].Env("production") == nil || c.Apps[1].DefaultEnv != "qa" {
		t.Fatalf("top-level environment not given to both apps")
	}
	if got := c.Apps[1].Env("qa").Settings.(*shell.Settings).Command; got != "echo ${HOME} $$ $HOME" {
		t.Fatalf("$$ escape: %q", got)
	}
	if c.Store.Driver != config.DriverSQLite || c.Store.DSN != "" {
		t.Fatalf("default store %+v", c.Store)
	}
	t.Setenv("DEPLOYQ_TEST_DSN", "postgres://deployq:pw@db.internal/deployq")
	pg, err := config.Parse("deployq.yaml", []byte("store: {driver: postgres, dsn: \"${DEPLOYQ_TEST_DSN}\"}\n"), kinds)
	if err != nil || pg.Store.DSN != "postgres://deployq:pw@db.internal/deployq" || !slices.Contains(pg.Secrets, pg.Store.DSN) || pg.Store.Lease != config.DefaultLease || pg.Server.Name == "" {
		t.Fatalf("postgres store: %v %+v", err, pg)
	}
	kept, err := config.Parse("deployq.yaml", []byte("retention: {logs: 90d}\napps:\n  - name: web\n    environments:\n"+
		"      - {name: staging, runner: shell, shell: {command: x}}\n      - {name: production, runner: shell, shell: {command: x}, retention: {logs: forever}}\n"+
		"      - {name: qa, runner: shell, shell: {command: x}, retention: {logs: 7d}}\n"), kinds)
	if err != nil {
		t.Fatal(err)
	}
	if w := kept.Apps[0]; w.Env("staging").LogRetention != 90*24*time.Hour || w.Env("production").LogRetention != 0 || w.Env("qa").LogRetention != 7*24*time.Hour {
		t.Fatalf("retention: %v %v %v", w.Env("staging").LogRetention, w.Env("production").LogRetention, w.Env("qa").LogRetention)
	}
	people, err := config.Parse("deployq.yaml", []byte("people:\n  - {name: alice, github: [alice-gh], slack: [U0ALICE], emails: [alice@example.com]}\n"), kinds)
	if err != nil {
		t.Fatal(err)
	}
	if who, _ := people.People.Who("github", "alice-gh"); who != "alice" {
		t.Fatalf("people: github:alice-gh is %q", who)
	}
	bots, err := config.Parse("deployq.yaml", []byte("slack:\n  bot_token: b\n  app_token: a\n  allow_bots: [B0439P161B9]\n"), kinds)
	if err != nil {
		t.Fatal(err)
	}
	if got := bots.Slack.AllowBots; len(got) != 1 || got[0] != "B0439P161B9" {
		t.Fatalf("slack.allow_bots: %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	os.Unsetenv("DEPLOYQ_UNSET_VAR")
	base := func(env string) string {
		return "apps:\n  - name: web\n    environments:\n" + env
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"ErrBadFreezeCron", base("      - name: production\n        runner: shell\n        shell: {command: x}\n        freeze:\n          - {cron: \"0 18 * * FRY\", duration: 62h}\n"),
			`deployq.yaml:8: apps[web].environments[production].freeze[0].cron: bad cron expression "0 18 * * FRY"`},
		{"ErrFreezeNoDuration", "freeze:\n  - {cron: \"0 18 * * FRI\", reason: weekend}\n",
			`deployq.yaml:2: freeze[0].duration: a freeze window needs a duration, e.g. 62h`},
		{"ErrPromoteUnknownEnv", base("      - name: staging\n        runner: shell\n        shell: {command: x}\n        promote: {to: prod, soak: 30m}\n"),
			`deployq.yaml:7: apps[web].environments[staging].promote.to: web has no environment "prod" to promote to`},
		{"ErrPromoteWhen", base("      - name: staging\n        runner: shell\n        shell: {command: x}\n        promote: {to: prod, when: failure}\n"),
			`deployq.yaml:7: apps[web].environments[staging].promote.when: want success, got "failure"`},
		{"ErrUnknownKey", base("      - name: staging\n        runner: shell\n        shell: {comand: x}\n"),
			`deployq.yaml:6: apps[web].environments[staging].shell.comand: unknown key (known: checkout, command, dir, env, kill_grace)`},
		{"ErrUnknownRunner", base("      - name: staging\n        runner: shel\n"),
			`deployq.yaml:5: apps[web].environments[staging].runner: unknown runner "shel" (runners: shell)`},
		{"ErrBadSize", base("      - name: staging\n        runner: shell\n        shell: {command: x}\n        log_cap: 100 megs\n"),
			`deployq.yaml:7: apps[web].environments[staging].log_cap: bad size "100 megs" (use e.g. 100MB, 512kB, 2GiB)`},
		{"ErrRetentionDeploys", "retention: {logs: 90d, deploys: 1y}\n",
			`deployq.yaml:1: retention.deploys: deploy records are kept forever (write forever, or leave it out): only logs are pruned`},
		{"ErrRetentionLogs", "retention: {logs: soon}\n", `deployq.yaml:1: retention.logs: want a duration such as 90d, or forever, got "soon"`},
		{"ErrBadDuration", base("      - name: staging\n        runner: shell\n        shell: {command: x}\n        timeout: 5 minutes\n"),
			`deployq.yaml:7: apps[web].environments[staging].timeout: bad duration "5 minutes" (use e.g. 90s, 30m, 2h)`},
		{"ErrDuplicateEnv", base("      - {name: staging, runner: shell, shell: {command: x}}\n      - {name: staging, runner: shell, shell: {command: y}}\n"),
			`deployq.yaml:5: apps[web].environments[staging].name: web has environment "staging" twice`},
		{"ErrDuplicateApp", "apps:\n  - {name: web, environments: [{name: s, runner: shell, shell: {command: x}}]}\n  - {name: web}\n",
			`deployq.yaml:3: apps[web].name: duplicate app "web"`},
		{"ErrUnknownAppInEnvList", "apps:\n  - {name: web, environments: [{name: s, runner: shell, shell: {command: x}}]}\nenvironments:\n  - name: production\n    runner: shell\n    shell: {command: x}\n    apps: [web, wbe]\n",
			`deployq.yaml:7: environments[production].apps: unknown app "wbe"`},
		{"ErrUnsetVar", "server:\n  api_tokens:\n    - {name: a, token: \"${DEPLOYQ_UNSET_VAR}\"}\n",
			`deployq.yaml:3: server.api_tokens[a].token: ${DEPLOYQ_UNSET_VAR} is not set in the environment`},
		{"ErrBadVarSyntax", "server:\n  api_tokens:\n    - {name: a, token: \"${TOKEN:-x}\"}\n",
			`deployq.yaml:3: server.api_tokens[a].token: write ${NAME} to read the environment, or $${ for a literal ${`},
		{"ErrSlackMode", "slack:\n  mode: rtm\n  bot_token: x\n", `deployq.yaml:2: slack.mode: want socket or http, got "rtm"`},
		{"ErrSlackNoAppToken", "slack:\n  bot_token: xoxb-1\n", `deployq.yaml:2: slack.app_token: socket mode needs an app-level token (xapp-...)`},
		{"ErrSlackNoSecret", "slack:\n  mode: http\n  bot_token: xoxb-1\n", `deployq.yaml:2: slack.signing_secret: http mode needs the app's signing secret`},
		{"ErrSlackUnknownKey", "slack:\n  bot_tokn: x\n", `deployq.yaml:2: slack.bot_tokn: unknown key (known: allow_bots, api_url, app_token, bot_token, channel, channels, lock_nag_after, mode, signing_secret)`},
		{"ErrSlackAllowBots", "slack:\n  bot_token: b\n  app_token: a\n  allow_bots: [B0123ABCD, U0123ABCD]\n",
			`deployq.yaml:4: slack.allow_bots[1]: want a bot id like B0123ABCD, got "U0123ABCD"`},
		{"ErrSlackChannelEnv", "slack:\n  bot_token: b\n  app_token: a\n  channels: {prod: C1}\n", `deployq.yaml:4: slack.channels.prod: no app has an environment "prod"`},
		{"ErrGitHubSecret", "github:\n  webhook_secret: short\n", `deployq.yaml:2: github.webhook_secret: required, at least 16 characters`},
		{"ErrAutoDeployOn", base("      - {name: s, runner: shell, shell: {command: x}, auto_deploy: {on: [pr]}}\n"),
			`deployq.yaml:4: apps[web].environments[s].auto_deploy.on: want push or merge, got "pr"`},
		{"ErrChecksWithoutGitHub", base("      - {name: s, runner: shell, shell: {command: x}, required_contexts: all}\n"),
			`deployq.yaml:2: apps[web].environments[s].required_contexts: checks are read from GitHub: set the app's repo and github.token (or a GitHub App)`},
		{"ErrGitHubAppHalf", "github:\n  webhook_secret: 0123456789abcdef\n  app_id: 12\n", `deployq.yaml:3: github: a GitHub App needs app_id, private_key_file and installation_id`},
		{"ErrGitHubBoth", "github:\n  webhook_secret: 0123456789abcdef\n  token: t\n  app_id: 12\n", `deployq.yaml:4: github: use a token or a GitHub App, not both`},
		{"ErrGitHubKeyFile", "github:\n  webhook_secret: 0123456789abcdef\n  app_id: 1\n  installation_id: 2\n  private_key_file: /nonexistent/key.pem\n",
			`deployq.yaml:5: github.private_key_file: stat /nonexistent/key.pem: no such file or directory`},
		{"ErrPersonName", "people:\n  - {name: \"github:alice\", github: [alice]}\n",
			`deployq.yaml:2: people[0].name: person "github:alice": a name has no ':' (it is kept for github:login, slack:user)`},
		{"ErrPersonIdentityTwice", "people:\n  - {name: alice, github: [al]}\n  - {name: bob, github: [AL]}\n",
			`deployq.yaml:2: people: github:AL is claimed by alice and bob`},
		{"ErrGitHubMode", "github:\n  mode: push\n", `deployq.yaml:2: github.mode: want webhook or poll, got "push"`},
		{"ErrGitHubPollNoAPI", "github:\n  mode: poll\n", `deployq.yaml:2: github.mode: polling reads GitHub's API: set github.token (or a GitHub App)`},
		{"ErrOpenOnNonLoopback", "server:\n  listen: 0.0.0.0:8080\n",
			`deployq.yaml:2: server.listen: 0.0.0.0:8080 is not a loopback address: set server.api_tokens, or listen on 127.0.0.1`},
		{"ErrOAuthNoAllow", "server:\n  github_oauth: {client_id: Iv1.abc, client_secret: s3cret}\n",
			`deployq.yaml:2: server.github_oauth.allow: say who may sign in (orgs, teams as org/team-slug, logins): without it any GitHub account could`},
		{"ErrOAuthEmptyAllow", "server:\n  github_oauth:\n    client_id: Iv1.abc\n    client_secret: s3cret\n    allow: {orgs: []}\n",
			`deployq.yaml:5: server.github_oauth.allow: say who may sign in`},
		{"ErrOAuthNoSecret", "server:\n  github_oauth: {client_id: Iv1.abc, allow: {logins: [octocat]}}\n",
			`deployq.yaml:2: server.github_oauth.client_secret: required: the OAuth app's client secret`},
		{"ErrOAuthTeamWithoutOrg", "server:\n  github_oauth:\n    client_id: Iv1.abc\n    client_secret: s3cret\n    allow:\n      teams: [justice-league]\n",
			`deployq.yaml:6: server.github_oauth.allow.teams[0]: want org/team-slug, got "justice-league"`},
		{"ErrOAuthBadLogin", "server:\n  github_oauth:\n    client_id: Iv1.abc\n    client_secret: s3cret\n    allow:\n      logins: [octocat, \"github:octocat\"]\n",
			`deployq.yaml:6: server.github_oauth.allow.logins[1]: not a GitHub name: "github:octocat"`},
		{"ErrStoreDriver", "store: {driver: mysql}\n", `deployq.yaml:1: store.driver: want sqlite or postgres, got "mysql"`},
		{"ErrStoreNoDSN", "store:\n  driver: postgres\n", `deployq.yaml:2: store.dsn: PostgreSQL needs a connection string, such as "${DEPLOYQ_DSN}" (postgres://user@host/db)`},
		{"ErrStoreDSNScheme", "store:\n  driver: postgres\n  dsn: mysql://u:secret@h/db\n", `deployq.yaml:3: store.dsn: want a postgres:// URL or key=value pairs`},
		{"ErrStoreSQLiteDSN", "store:\n  dsn: postgres://h/db\n", `deployq.yaml:2: store.dsn: SQLite lives in server.data_dir: a dsn is for driver: postgres`},
		{"ErrStoreLeaseSQLite", "store:\n  lease: 10s\n", `deployq.yaml:2: store.lease: SQLite serves one server: leases are for driver: postgres`},
		{"ErrStoreLeaseShort", "store:\n  driver: postgres\n  dsn: host=/run/pg\n  lease: 500ms\n", `deployq.yaml:4: store.lease: want at least 1s (default 15s), got 500ms`},
		{"ErrServerName", "server:\n  name: \"deployq 2\"\n", `deployq.yaml:2: server.name: want a name of letters, digits, '.', '-' and '_' (at most 63), got "deployq 2"`},
		{"ErrNegativeFollowers", "server:\n  max_followers_per_deploy: -5\n", `deployq.yaml:2: server.max_followers_per_deploy: cannot be negative (0: the default)`},
		{"ErrBadPlaceholder", base("      - name: staging\n        runner: shell\n        shell: {command: \"deploy {branch}\"}\n"),
			`deployq.yaml:6: apps[web].environments[staging].shell: command: unknown placeholder {branch}`},
		{"ErrMissingSettings", base("      - name: staging\n        runner: shell\n"),
			`deployq.yaml:4: apps[web].environments[staging].shell: the shell runner needs its settings under "shell"`},
		{"ErrBadDefaultEnv", "apps:\n  - name: web\n    default_env: prod\n    environments: [{name: s, runner: shell, shell: {command: x}}]\n",
			`deployq.yaml:3: apps[web].default_env: web has no environment "prod"`},
		{"ErrBadName", "apps:\n  - name: \"Web App\"\n",
			`deployq.yaml:2: apps[Web App].name: want a name of lower-case letters`},
		{"ErrWrongShape", "apps: web\n", `deployq.yaml:1: apps: want a list, got "web"`},
		{"ErrYAMLSyntax", "apps:\n  - name: [\n", `deployq.yaml:2: did not find expected node content`},
		{"ErrBadBool", base("      - {name: s, runner: shell, shell: {command: x, checkout: yes please}}\n"),
			`deployq.yaml:4: apps[web].environments[s].shell.checkout: want true or false, got "yes please"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("deployq.yaml", []byte(c.yaml), kinds)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("got  %s\nwant %s", err, c.want)
			}
		})
	}
}

// Who may sign in with GitHub, and the limits on peers, as the server
// section gives them.
func TestServerOAuthAndLimits(t *testing.T) {
	y := `server:
  body_timeout: 5s
  write_timeout: 1m
  max_followers: 40
  max_followers_per_deploy: 4
  github_oauth:
    client_id: Iv1.abc
    client_secret: s3cret
    allow:
      orgs: [github]
      teams: [github/justice-league]
      logins: [octocat, mona-lisa]
`
	c, err := config.Parse("deployq.yaml", []byte(y), kinds)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if s.BodyTimeout != 5*time.Second || s.WriteTimeout != time.Minute || s.MaxFollowers != 40 || s.MaxFollowersPerDeploy != 4 {
		t.Fatalf("limits %+v", s)
	}
	a := s.GitHubOAuth.Allow
	if strings.Join(a.Orgs, ",") != "github" || strings.Join(a.Teams, ",") != "github/justice-league" || strings.Join(a.Logins, ",") != "octocat,mona-lisa" {
		t.Fatalf("allow %+v", a)
	}
}

func TestRequiredContexts(t *testing.T) {
	y := "github: {webhook_secret: 0123456789abcdef, token: t}\napps:\n  - name: web\n    repo: acme/web\n    environments:\n" +
		"      - {name: a, runner: shell, shell: {command: x}, required_contexts: all, checks_timeout: 30m}\n" +
		"      - {name: b, runner: shell, shell: {command: x}, required_contexts: [ci/build, lint]}\n"
	c, err := config.Parse("deployq.yaml", []byte(y), kinds)
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Apps[0].Env("a"), c.Apps[0].Env("b")
	if len(a.RequiredContexts) != 1 || a.RequiredContexts[0] != "all" || a.ChecksTimeout != 30*time.Minute || len(b.RequiredContexts) != 2 {
		t.Fatalf("%+v %+v", a, b)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	_, err := config.Load("testdata/missing.yaml", kinds)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
	t.Setenv("ALICE_TOKEN", "example-token-0123456789")
	_, err = config.Load("../config.example.yaml", kinds)
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
}

func TestReleasePolicies(t *testing.T) {
	y := `admins: [root, "@sre"]
freeze:
  - {cron: "0 9 * * MON", duration: 1h, reason: release train}
apps:
  - name: web
    environments:
      - name: staging
        runner: shell
        shell: {command: x}
        promote: {to: production, when: success, soak: 30m, schedule: "0 10 * * 1-5"}
      - name: production
        runner: shell
        shell: {command: x}
        admins: [carol]
        approvals: {required: 2, from: ["@release"]}
        approval_timeout: 4h
        freeze:
          - {cron: "0 18 * * FRI", duration: 62h, reason: weekend}
`
	c, err := config.Parse("deployq.yaml", []byte(y), kinds)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Admins, ",") != "root,@sre" || len(c.Freeze) != 1 || c.Freeze[0].Reason != "release train" {
		t.Fatalf("top level: %+v %+v", c.Admins, c.Freeze)
	}
	st, prod := c.Apps[0].Env("staging"), c.Apps[0].Env("production")
	p := st.Promote
	if p == nil || p.To != "production" || p.Soak != 30*time.Minute || p.Schedule == nil {
		t.Fatalf("promote %+v", p)
	}
	// 10:00 on weekdays: from Friday 11:00 the next is Monday 10:00
	if next := p.Schedule.Next(time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)); !next.Equal(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("schedule next %v", next)
	}
	if prod.Approvals.Required != 2 || prod.Approvals.From[0] != "@release" || prod.Approvals.Timeout != 4*time.Hour ||
		prod.Admins[0] != "carol" || len(prod.Freeze) != 1 || prod.Freeze[0].Duration != 62*time.Hour {
		t.Fatalf("production %+v", prod)
	}
}
