package config

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// NotifySink is one place deploys, locks and freezes are announced
// beyond Slack (the notify sections: top-level, or an environment's).
type NotifySink struct {
	Name   string `yaml:"name"` // default: KIND-N (top-level) or APP-ENV-KIND-N
	Kind   string `yaml:"kind"` // webhook, mattermost, discord, teams
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"` // webhook: the key of the signature
	// Token and Channel (its id) make a mattermost sink a bot that edits
	// a deploy's post in place; URL is then the server's.
	Token   string   `yaml:"token"`
	Channel string   `yaml:"channel"`
	Events  []string `yaml:"events"` // default: every event
	// App and Env limit an environment's sink to it (set from where it
	// is written).
	App string `yaml:"-"`
	Env string `yaml:"-"`
}

// NotifyKinds and NotifyEvents are what sinks may be and hear of.
var (
	NotifyKinds  = []string{"webhook", "mattermost", "discord", "teams"}
	NotifyEvents = []string{"queued", "waiting", "started", "verifying", "succeeded", "failed", "canceled",
		"interrupted", "superseded", "rolled_back", "locked", "unlocked", "frozen", "unfrozen"}
)

// notifySinks checks the sinks written at n (key is where, for errors)
// and keeps them, named, scoped to app and env when they are an
// environment's.
func (d *decoder) notifySinks(sinks []NotifySink, n *yaml.Node, key, app, env string) {
	for i, s := range sinks {
		at := func(field string) *yaml.Node { return closest(n, i, field) }
		skey := fmt.Sprintf("%s[%d]", key, i)
		s.App, s.Env = app, env
		if s.Name == "" {
			s.Name = fmt.Sprintf("%s-%d", s.Kind, i+1)
			if env != "" {
				s.Name = strings.TrimPrefix(fmt.Sprintf("%s-%s-%s-%d", app, env, s.Kind, i+1), "-")
			}
		}
		ok := true
		if !validSinkName(s.Name) {
			d.fail(at("name"), skey+".name", "want a name of letters, digits, '-', '_' or '.', got %q", s.Name)
			ok = false
		}
		if !slices.Contains(NotifyKinds, s.Kind) {
			d.fail(at("kind"), skey+".kind", "want %s, got %q", strings.Join(NotifyKinds, ", "), s.Kind)
			ok = false
		}
		if err := checkURL(s.URL); err != nil || s.URL == "" {
			d.fail(at("url"), skey+".url", "want the http or https URL to post to, got %q", s.URL)
			ok = false
		}
		if s.Secret != "" && s.Kind != "webhook" {
			d.fail(at("secret"), skey+".secret", "only a webhook signs what it sends")
			ok = false
		}
		switch {
		case s.Kind != "mattermost" && (s.Token != "" || s.Channel != ""):
			field := "token"
			if s.Token == "" {
				field = "channel"
			}
			d.fail(at(field), skey+"."+field, "only a mattermost bot has a token and a channel")
			ok = false
		case s.Token != "" && !mattermostID(s.Channel):
			d.fail(at("channel"), skey+".channel", "want the id of the channel the bot posts to (26 letters and digits), got %q", s.Channel)
			ok = false
		case s.Token == "" && s.Channel != "":
			d.fail(at("token"), skey+".token", "a channel needs the bot's token; an incoming webhook's url names its channel")
			ok = false
		}
		for j, e := range s.Events {
			if !slices.Contains(NotifyEvents, e) {
				d.fail(closest(n, i, "events", j), fmt.Sprintf("%s.events[%d]", skey, j), "want one of %s, got %q", strings.Join(NotifyEvents, ", "), e)
				ok = false
			}
		}
		for _, o := range d.notify {
			if o.Name == s.Name {
				d.fail(at("name"), skey+".name", "sink %q twice: give each a name of its own", s.Name)
				ok = false
			}
		}
		if ok {
			d.notify = append(d.notify, s)
		}
	}
}

func validSinkName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// mattermostID reports whether s looks like a Mattermost id: 26
// lowercase letters and digits.
func mattermostID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
