package config_test

import (
	"strings"
	"testing"

	"github.com/deployq/deployq/config"
)

// Notify sinks are read and checked, top-level and an environment's,
// every error naming its line and key.
func TestNotifySinks(t *testing.T) {
	c, err := config.Parse("deployq.yaml", []byte(`notify:
  - {kind: webhook, url: "https://hooks.example.com/deployq", secret: s3cret, events: [failed, rolled_back]}
apps:
  - name: web
    environments:
      - name: production
        runner: shell
        shell: {command: x}
        notify:
          - {name: prod-discord, kind: discord, url: "https://discord.com/api/webhooks/1/abc"}
`), kinds)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notify) != 2 || c.Notify[0].Name != "webhook-1" || c.Notify[0].Env != "" || c.Notify[1].Name != "prod-discord" ||
		c.Notify[1].App != "web" || c.Notify[1].Env != "production" {
		t.Fatalf("%+v", c.Notify)
	}
	_, err = config.Parse("deployq.yaml", []byte(`notify:
  - {kind: pager, url: "https://x"}
  - {kind: discord, url: "ftp://x", secret: nope}
  - {kind: webhook, url: "https://x", events: [deployed]}
apps:
  - name: web
    environments:
      - name: production
        runner: shell
        shell: {command: x}
`), kinds)
	for _, want := range []string{
		`deployq.yaml:2: notify[0].kind: want webhook, mattermost, discord, teams, got "pager"`,
		`deployq.yaml:3: notify[1].url: want the http or https URL to post to, got "ftp://x"`,
		`deployq.yaml:3: notify[1].secret: only a webhook signs what it sends`,
		`deployq.yaml:4: notify[2].events[0]: want one of queued,`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant %s", err, want)
		}
	}
}
