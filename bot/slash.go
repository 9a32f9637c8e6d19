package bot

import (
	"context"
	"strings"
)

// HandleSlash is Handle for the text of a slash command (Slack's
// /deploy), where the verb may be left out: "/deploy web to production"
// is "deploy web to production", "/deploy lock production" a lock. A
// first word that is an app (by name or repo) deploys it. One that is
// neither a verb nor an app, and is closer to a verb than to any app, is
// a typo of that verb: "/deploy lcok production" answers `unknown
// command "lcok"; did you mean "lock"?` with its usage line. Any other
// word is taken for an app, and the queue says which apps there are.
func (b *Bot) HandleSlash(ctx context.Context, m Message) Reply {
	m.Text = b.slashText(m.Text)
	return b.Handle(ctx, m)
}

// slashText is the command a slash command's text stands for.
func (b *Bot) slashText(text string) string {
	words := strings.Fields(strings.ReplaceAll(text, "\u00a0", " "))
	if len(words) == 0 || IsVerb(words[0]) {
		return text
	}
	first := strings.ToLower(words[0])
	app, _, _ := strings.Cut(first, "@")
	if verb, edits := closest(strings.TrimRight(first, "!")); verb != "" && !b.isApp(app) && edits < b.appDistance(app) {
		return text // Parse says which verb it looks like
	}
	return "deploy " + text
}

// isApp reports whether name names an app: its name, or its repo's
// owner/name.
func (b *Bot) isApp(name string) bool {
	for _, a := range b.svc.Apps() {
		if a.Name == name || a.Repo != "" && strings.EqualFold(a.Repo, name) {
			return true
		}
	}
	return false
}

// appDistance is how many edits name is from the nearest app's name or
// repo.
func (b *Bot) appDistance(name string) int {
	best := 99
	for _, a := range b.svc.Apps() {
		best = min(best, distance(name, a.Name))
		if a.Repo != "" {
			best = min(best, distance(name, strings.ToLower(a.Repo)))
		}
	}
	return best
}
