package slack_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/queue"
)

// asEnvelope wraps an Events API body (a fixture) in a Socket Mode
// envelope of its own, with an event id of its own and the inner event
// changed by change.
func asEnvelope(t testing.TB, name, envelopeID string, change func(event map[string]any)) []byte {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(fixture(t, name), &body); err != nil {
		t.Fatal(err)
	}
	body["event_id"] = "Ev-" + envelopeID
	change(body["event"].(map[string]any))
	raw := withValue(t, fixture(t, "socket-mode.events_api.app_mention.json"), body, "payload")
	return withValue(t, raw, envelopeID, "envelope_id")
}

// Commands of bots and workflows are ignored, unless slack.allow_bots
// names the bot: a bot's mention (a bot's message of the fixture, turned
// into a mention) and a bot_message sent as a direct message.
func TestBotsAreIgnoredUnlessAllowed(t *testing.T) {
	allowed := "B07JWPS5Y5S" // the fixture's bot_message
	e := startConfigured(t, "socket", "true", func(c *slack.Config) { c.AllowBots = []string{allowed} }, nil, nil)
	c := e.fake.conn()
	send(t, e.fake, c, asEnvelope(t, "events-api.event_callback.message.bot.json", "env-bot-mention", func(ev map[string]any) {
		ev["type"], ev["text"] = "app_mention", "<@U111> deploy web@"+sha
	}))
	e.handled(t, c)
	if ds := e.deploys(t); len(ds) != 0 {
		t.Fatalf("a bot not allowed deployed: %+v", ds[0])
	}

	dm := func(ev map[string]any) {
		ev["channel_type"], ev["channel"], ev["text"] = "im", "D0442US94JD", "deploy web@"+sha2
	}
	send(t, e.fake, c, asEnvelope(t, "events-api.event_callback.message.bot_message.json", "env-bot-dm", dm))
	e.fake.waitFor(t, "the allowed bot's deploy", func() bool { return len(e.deploys(t)) == 1 })
	if d := e.deploys(t)[0]; d.User != "slack:"+allowed || d.SHA != sha2 {
		t.Fatalf("deploy %+v", d)
	}
}

// Without slack.allow_bots, no bot runs anything, however it writes.
func TestBotsAreIgnoredByDefault(t *testing.T) {
	e := start(t, "socket", "true", nil)
	c := e.fake.conn()
	for i, name := range []string{"events-api.event_callback.message.bot.json", "events-api.event_callback.message.bot_message.json"} {
		for j, change := range []func(map[string]any){
			func(ev map[string]any) { ev["type"], ev["text"] = "app_mention", "<@U111> deploy web@"+sha },
			func(ev map[string]any) { ev["channel_type"], ev["text"] = "im", "deploy web@"+sha },
		} {
			send(t, e.fake, c, asEnvelope(t, name, fmt.Sprintf("env-bot-%d-%d", i, j), change))
		}
	}
	e.handled(t, c)
	if ds := e.deploys(t); len(ds) != 0 {
		t.Fatalf("%d deploys by bots", len(ds))
	}
}

// deployq's own messages are never commands, even with its bot allowed.
func TestOwnMessagesAreNoCommands(t *testing.T) {
	const self = "B0SELF0001"
	e := startConfigured(t, "socket", "true", func(c *slack.Config) { c.AllowBots = []string{self} }, nil,
		func(f *fakeSlack, _ *queue.Environment) { f.botID = self })
	c := e.fake.conn() // deployq connects once auth.test answered
	send(t, e.fake, c, asEnvelope(t, "events-api.event_callback.message.bot_message.json", "env-own-dm", func(ev map[string]any) {
		ev["channel_type"], ev["bot_id"], ev["text"] = "im", self, "deploy web@"+sha
	}))
	e.handled(t, c)
	if ds := e.deploys(t); len(ds) != 0 {
		t.Fatalf("deployq's own message deployed: %+v", ds[0])
	}
}
