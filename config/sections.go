package config

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/deployq/deployq/queue"
	"gopkg.in/yaml.v3"
)

func (d *decoder) validateServer(root *yaml.Node, s *Server) error {
	at := func(key string) *yaml.Node { return findOr(root, "server", key) }
	if s.Listen == "" {
		s.Listen = "127.0.0.1:8080"
	}
	host, _, err := net.SplitHostPort(s.Listen)
	if err != nil {
		return d.errf(at("listen"), "server.listen", "want host:port, got %q", s.Listen)
	}
	if s.DataDir == "" {
		s.DataDir = "./data"
	}
	if s.BaseURL == "" {
		h := s.Listen
		if host == "" || host == "0.0.0.0" || host == "::" {
			_, port, _ := net.SplitHostPort(s.Listen)
			h = net.JoinHostPort("127.0.0.1", port)
		}
		s.BaseURL = "http://" + h
	}
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	if s.MaxParallel == 0 {
		s.MaxParallel = 8
	}
	if s.MaxParallel < 1 {
		return d.errf(at("max_parallel"), "server.max_parallel", "must be at least 1")
	}
	names, tokens := map[string]bool{}, map[string]bool{}
	for i, t := range s.APITokens {
		key := fmt.Sprintf("server.api_tokens[%d]", i)
		n := find(root, "server", "api_tokens", i)
		switch {
		case !queue.ValidName(t.Name):
			return d.errf(n, key+".name", "want a lower-case name, got %q", t.Name)
		case names[t.Name]:
			return d.errf(n, key+".name", "duplicate token name %q", t.Name)
		case len(t.Token) < 16:
			return d.errf(n, key+".token", "a token needs at least 16 characters")
		case tokens[t.Token]:
			return d.errf(n, key+".token", "two tokens are the same")
		}
		names[t.Name], tokens[t.Token] = true, true
	}
	if len(s.APITokens) == 0 && !isLoopback(host) {
		return d.errf(at("listen"), "server.listen",
			"%s is not a loopback address: set server.api_tokens, or listen on 127.0.0.1", s.Listen)
	}
	for _, l := range []struct {
		key      string
		negative bool
	}{{"max_followers", s.MaxFollowers < 0}, {"max_followers_per_deploy", s.MaxFollowersPerDeploy < 0}} {
		if l.negative {
			return d.errf(at(l.key), "server."+l.key, "cannot be negative (0: the default)")
		}
	}
	return d.validateGitHubOAuth(root, s.GitHubOAuth)
}

// githubNameRe is a GitHub login or organization: letters, digits and
// single hyphens, at most 39 characters.
var githubNameRe = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}$`)

// teamSlugRe is a team's slug.
var teamSlugRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// validateGitHubOAuth checks the dashboard's GitHub sign-in: an OAuth
// app, and who it lets in, which must be said.
func (d *decoder) validateGitHubOAuth(root *yaml.Node, g *GitHubOAuth) error {
	if g == nil {
		return nil
	}
	at := func(path ...any) *yaml.Node {
		if n := find(root, append([]any{"server", "github_oauth"}, path...)...); n != nil {
			return n
		}
		return find(root, "server", "github_oauth")
	}
	const key = "server.github_oauth"
	switch {
	case g.ClientID == "":
		return d.errf(at("client_id"), key+".client_id", "required: the OAuth app's client id")
	case g.ClientSecret == "":
		return d.errf(at("client_secret"), key+".client_secret", "required: the OAuth app's client secret")
	case len(g.Allow.Orgs)+len(g.Allow.Teams)+len(g.Allow.Logins) == 0:
		return d.errf(at("allow"), key+".allow",
			"say who may sign in (orgs, teams as org/team-slug, logins): without it any GitHub account could")
	}
	for _, list := range []struct {
		field string
		names []string
	}{{"orgs", g.Allow.Orgs}, {"logins", g.Allow.Logins}} {
		for i, n := range list.names {
			if !githubNameRe.MatchString(n) {
				return d.errf(at("allow", list.field, i), fmt.Sprintf("%s.allow.%s[%d]", key, list.field, i), "not a GitHub name: %q", n)
			}
		}
	}
	for i, t := range g.Allow.Teams {
		org, slug, ok := strings.Cut(t, "/")
		if !ok || !githubNameRe.MatchString(org) || !teamSlugRe.MatchString(slug) {
			return d.errf(at("allow", "teams", i), fmt.Sprintf("%s.allow.teams[%d]", key, i), "want org/team-slug, got %q", t)
		}
	}
	return nil
}

func (d *decoder) validateSlack(root *yaml.Node, s *Slack) error {
	if s == nil {
		return nil
	}
	at := func(key string) *yaml.Node { return findOr(root, "slack", key) }
	if s.Mode == "" {
		s.Mode = "socket"
	}
	switch {
	case s.Mode != "socket" && s.Mode != "http":
		return d.errf(at("mode"), "slack.mode", "want socket or http, got %q", s.Mode)
	case s.BotToken == "":
		return d.errf(at("bot_token"), "slack.bot_token", "required (xoxb-...)")
	case s.Mode == "socket" && s.AppToken == "":
		return d.errf(at("app_token"), "slack.app_token", "socket mode needs an app-level token (xapp-...)")
	case s.Mode == "http" && s.SigningSecret == "":
		return d.errf(at("signing_secret"), "slack.signing_secret", "http mode needs the app's signing secret")
	}
	if s.APIURL != "" && !strings.HasSuffix(s.APIURL, "/") {
		s.APIURL += "/"
	}
	for i, id := range s.AllowBots {
		if !botID.MatchString(id) {
			return d.errf(find(root, "slack", "allow_bots", i), fmt.Sprintf("slack.allow_bots[%d]", i),
				"want a bot id like B0123ABCD, got %q", id)
		}
	}
	return nil
}

// botID is a Slack bot id: a bot's messages carry it as bot_id.
var botID = regexp.MustCompile(`^B[A-Z0-9]{2,20}$`)

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
