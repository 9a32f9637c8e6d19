package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/deployq/deployq/config"
)

// Three mistakes in three places are all reported, in the order of the
// file (not the order they are checked in: the top-level freeze windows
// are read first, the server section next, the apps last), one a line.
func TestEveryErrorAtOnce(t *testing.T) {
	y := `server:
  max_parallel: -1
apps:
  - name: web
    git: /srv/git/web.git
    environments:
      - name: staging
        runner: shel
      - name: production
        runner: shell
        shell: {command: "deploy {env}"}
freeze:
  - {cron: "0 18 * * FRIDAY", duration: 62h}
`
	_, err := config.Parse("deployq.yaml", []byte(y), kinds)
	want := `deployq.yaml:2: server.max_parallel: must be at least 1
deployq.yaml:8: apps[web].environments[staging].runner: unknown runner "shel" (runners: shell)
deployq.yaml:13: freeze[0].cron: bad cron expression "0 18 * * FRIDAY": "FRIDAY" is not a day: use FRI or 5`
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
	var list config.Errors
	if !errors.As(err, &list) || len(list) != 3 || list[1].Line != 8 || list[1].Key != "apps[web].environments[staging].runner" {
		t.Fatalf("errors %+v", list)
	}
	var one *config.Error
	if !errors.As(err, &one) || one.Line != 2 {
		t.Fatalf("errors.As finds the first: %+v", one)
	}
}

// A value that could not be read is one error, not also every check that
// its absence fails; an unset variable is one error too.
func TestNoCascades(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"RunnerNotAString", "apps:\n  - name: web\n    environments:\n      - {name: s, runner: [shell], shell: {command: x}}\n",
			`deployq.yaml:4: apps[web].environments[s].runner: want a single value, got a list`},
		{"UnsetToken", "slack:\n  bot_token: ${DEPLOYQ_UNSET_SLACK_TOKEN}\n  app_token: xapp-1\n",
			`deployq.yaml:2: slack.bot_token: ${DEPLOYQ_UNSET_SLACK_TOKEN} is not set in the environment`},
		{"TopLevelEnvOncePerMistake", "apps:\n  - {name: web, environments: [{name: s, runner: shell, shell: {command: x}}]}\n  - {name: api, environments: [{name: s, runner: shell, shell: {command: x}}]}\n" +
			"environments:\n  - {name: production, apps: [web, api], runner: shell, shell: {command: \"x {nope}\"}}\n",
			`deployq.yaml:5: environments[production].shell: command: unknown placeholder {nope} (known: {app} {env} {sha} {short_sha} {ref} {previous_sha} {id} {user} {param.NAME})`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("deployq.yaml", []byte(c.yaml), kinds)
			if err == nil || err.Error() != c.want {
				t.Fatalf("got\n%v\nwant\n%s", err, c.want)
			}
		})
	}
}

// A runner's settings with several problems give an error for each.
func TestRunnerProblemsEachAnError(t *testing.T) {
	y := "apps:\n  - name: web\n    environments:\n      - name: s\n        runner: shell\n        shell:\n          command: \"x {nope}\"\n          dir: /abs\n"
	_, err := config.Parse("deployq.yaml", []byte(y), kinds)
	want := []string{
		`deployq.yaml:7: apps[web].environments[s].shell: command: unknown placeholder {nope}`,
		`deployq.yaml:7: apps[web].environments[s].shell: dir "/abs" must be a relative path inside the workspace`,
	}
	lines := strings.Split(errString(err), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], want[0]) || lines[1] != want[1] {
		t.Fatalf("got\n%v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
