package main

import (
	"context"
	"net/http"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/github"
)

// newGitHub builds the GitHub API client and the reporter of deployments,
// when the github section gives deployq access to GitHub's API.
func (m *Main) newGitHub() error {
	g := m.Config.GitHub
	if !g.HasAPI() {
		return nil
	}
	var c *github.Client
	var err error
	if g.Token != "" {
		c, err = github.NewClient(g.Token, g.APIURL)
	} else {
		c, err = github.NewAppClient(int64(g.AppID), int64(g.InstallationID), g.PrivateKeyFile, g.APIURL)
	}
	if err != nil {
		return err
	}
	m.github = c
	m.reporter = github.NewReporter(c, m.URL, m.Logger)
	if g.WebhookSecret != "" { // comments come as webhooks
		m.prComments = github.NewPRComments(c, m.URL, m.Logger)
	}
	for _, a := range m.Config.Apps {
		for _, e := range a.Environments {
			if e.Runner == github.ActionsRunner && m.actions == nil {
				m.actions = github.NewActions(c, m.Logger)
			}
		}
	}
	return nil
}

// startReporter starts sending what the outbox holds to GitHub. Call it
// before the queue starts: recovery's statuses must reach GitHub too.
func (m *Main) startReporter() {
	if m.reporter == nil {
		return
	}
	m.gitHubCtx, m.stopGitHub = context.WithCancel(m.life)
	m.reporter.Start(m.gitHubCtx, m.Service)
	if m.actions != nil {
		m.actions.Start(m.gitHubCtx, m.Service)
	}
	if m.prComments != nil {
		m.prComments.Start(m.gitHubCtx, m.Service)
	}
}

// startPoller polls GitHub in place of webhooks, in poll mode (which
// needs GitHub's API, so the reporter runs).
func (m *Main) startPoller() {
	g := m.Config.GitHub
	if g == nil || g.Mode != "poll" {
		return
	}
	m.poller = github.NewPoller(m.github, m.Service, m.Config.People, g.PollInterval, m.Logger)
	m.poller.Start(m.gitHubCtx)
	m.Logger.Info("polling GitHub", "every", g.PollInterval)
}

// webhooks returns the receiver of GitHub's webhooks, or nil without a
// webhook secret. With GitHub's API, it asks GitHub whether a pushed sha
// is still its branch's head before deploying it.
func (m *Main) webhooks() http.Handler {
	g := m.Config.GitHub
	if g == nil || g.WebhookSecret == "" {
		return nil
	}
	rc := github.NewReceiver(g.WebhookSecret, m.Service, m.Config.People, m.github, m.Logger).WithActions(m.actions)
	if m.prComments != nil {
		rc.WithPRCommands(g.PRPrefix, chatCommands{m.bot})
	}
	return rc
}

// chatCommands carries out commands in pull requests in the chat grammar.
type chatCommands struct{ b *bot.Bot }

// Command implements github.Commander.
func (c chatCommands) Command(ctx context.Context, user, text string) (string, error) {
	r := c.b.Handle(ctx, bot.Message{User: user, Text: text})
	return r.Text, r.Err
}

// stopGitHubAdapters stops the poller and the reporter; what the reporter
// did not send stays in the outbox for the next start.
func (m *Main) stopGitHubAdapters() {
	if m.stopGitHub == nil {
		return
	}
	m.stopGitHub()
	if m.poller != nil {
		m.poller.Wait()
	}
	m.reporter.Wait()
	if m.actions != nil {
		m.actions.Wait()
	}
	if m.prComments != nil {
		m.prComments.Wait()
	}
}
