package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/config"
)

// slackGrace bounds how long a stopping server waits for Slack to show
// the last states of the deploys.
const slackGrace = 3 * time.Second

// newSlack returns the Slack adapter of the slack section, or nil without
// one. It is a notifier of the queue; startSlack starts it.
func newSlack(c *config.Slack, baseURL string, log *slog.Logger) *slack.Adapter {
	if c == nil {
		return nil
	}
	return slack.New(slack.Config{Mode: c.Mode, BotToken: c.BotToken, AppToken: c.AppToken,
		SigningSecret: c.SigningSecret, Channel: c.Channel, Channels: c.Channels, APIURL: c.APIURL, BaseURL: baseURL,
		LockNagAfter: c.LockNagAfter, AllowBots: c.AllowBots}, log)
}

// startSlack starts the Slack adapter, if there is one, once the queue
// runs. It does not wait for Slack: a Slack that does not answer leaves
// deployq running, degraded (/healthz), until it does. It never fails.
func (m *Main) startSlack(b *bot.Bot) error {
	if m.slack == nil {
		return nil
	}
	ctx, stop := context.WithCancel(m.life)
	m.slack.SetPeople(m.Config.People)
	m.slack.Start(ctx, m.Service, b)
	m.stopSlack = stop
	m.Logger.Info("slack started", "mode", m.Config.Slack.Mode)
	return nil
}

// stopSlackAdapter lets the last states of the deploys reach Slack,
// within slackGrace, then disconnects.
func (m *Main) stopSlackAdapter() {
	if m.stopSlack == nil {
		return
	}
	t := time.AfterFunc(slackGrace, m.stopSlack)
	defer t.Stop()
	m.slack.Idle()
	m.stopSlack()
	m.slack.Wait()
}
