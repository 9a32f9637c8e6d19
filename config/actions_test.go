package config_test

import (
	"strings"
	"testing"

	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/github"
	"github.com/deployq/deployq/runners/shell"
)

var actionsKinds = config.Kinds{"shell": func() any { return &shell.Settings{} },
	github.ActionsRunner: func() any { return &github.ActionsSettings{} }}

// An environment deployed by Actions jobs: its settings may be left out;
// it needs the app's repo, GitHub's webhooks and API, and says that a
// token (not an App) may see its answers refused.
func TestActionsRunnerNeeds(t *testing.T) {
	app := func(repo, settings string) string {
		return "apps:\n  - name: web\n" + repo + "    environments:\n      - name: production\n        runner: actions\n" + settings
	}
	const api = "github:\n  webhook_secret: 0123456789abcdef\n  token: t0ken\n"
	c, err := config.Parse("deployq.yaml", []byte(api+app("    repo: acme/web\n", "")), actionsKinds)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := c.Apps[0].Environments[0].Settings.(*github.ActionsSettings); !ok || s.Environment != "" {
		t.Fatalf("settings %#v", c.Apps[0].Environments[0].Settings)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].Error(), "GitHub takes the answer to an Actions job only from the App") {
		t.Fatalf("warnings %v", c.Warnings)
	}
	for name, tc := range map[string]struct{ cfg, want string }{
		"no repo":    {api + app("", ""), `deployq.yaml:8: apps[web].environments[production].actions: the actions runner gates the jobs of the app's repository: set web's repo`},
		"no webhook": {app("    repo: acme/web\n", ""), `deployq.yaml:6: apps[web].environments[production].runner: the actions runner hears Actions jobs by webhook: set github.webhook_secret`},
		"no API": {"github:\n  webhook_secret: 0123456789abcdef\n" + app("    repo: acme/web\n", ""),
			`deployq.yaml:8: apps[web].environments[production].runner: the actions runner answers Actions jobs through GitHub's API`},
		"short poll": {api + app("    repo: acme/web\n", "        actions: {poll: 10ms}\n"),
			`apps[web].environments[production].actions: poll: at least 1s, got 10ms`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse("deployq.yaml", []byte(tc.cfg), actionsKinds)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}
