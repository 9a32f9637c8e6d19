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
  - {kind: mattermost, url: "https://chat.example.com", token: t0ken, channel: 4xp9fdt77pncbef59f4k1qe83o}
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
	if len(c.Notify) != 3 || c.Notify[0].Name != "webhook-1" || c.Notify[0].Env != "" || c.Notify[1].Token != "t0ken" ||
		c.Notify[1].Channel != "4xp9fdt77pncbef59f4k1qe83o" || c.Notify[2].Name != "prod-discord" ||
		c.Notify[2].App != "web" || c.Notify[2].Env != "production" {
		t.Fatalf("%+v", c.Notify)
	}
	_, err = config.Parse("deployq.yaml", []byte(`notify:
  - {kind: pager, url: "https://x"}
  - {kind: discord, url: "ftp://x", secret: nope}
  - {kind: webhook, url: "https://x", events: [deployed]}
  - {kind: mattermost, url: "https://chat.example.com", token: t0ken, channel: town-square}
  - {kind: mattermost, url: "https://chat.example.com/hooks/x", channel: 4xp9fdt77pncbef59f4k1qe83o}
  - {kind: discord, url: "https://x", token: t0ken}
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
		`deployq.yaml:5: notify[3].channel: want the id of the channel the bot posts to (26 letters and digits), got "town-square"`,
		`deployq.yaml:6: notify[4].token: a channel needs the bot's token; an incoming webhook's url names its channel`,
		`deployq.yaml:7: notify[5].token: only a mattermost bot has a token and a channel`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant %s", err, want)
		}
	}
}
