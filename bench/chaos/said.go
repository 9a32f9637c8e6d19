package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// What deployq says of a deploy, read back from what the fakes heard.

// githubStateOf is the GitHub deployment status of each end state, as
// deployq's reporter maps them (github/report.go, statusOf).
var githubStateOf = map[string]string{
	"succeeded":   "success",
	"failed":      "failure",
	"canceled":    "error",
	"interrupted": "error",
	"superseded":  "inactive",
}

// cardEmoji is the emoji a deploy card's text starts with, by state
// (bot/slack/blocks.go, stateEmoji).
var cardEmoji = map[string]string{
	"waiting":     ":hourglass:",
	"queued":      ":hourglass_flowing_sand:",
	"running":     ":rocket:",
	"succeeded":   ":white_check_mark:",
	"failed":      ":x:",
	"canceled":    ":no_entry_sign:",
	"interrupted": ":warning:",
	"superseded":  ":fast_forward:",
}

// cardStates are the states, in the order a card is read against them.
var cardStates = []string{"waiting", "queued", "running", "succeeded", "failed", "canceled", "interrupted", "superseded"}

// cardIDRe reads the deploy a card's text is about: ":rocket: #12 ...".
var cardIDRe = regexp.MustCompile(`^:[a-z_]+: #([0-9]+) `)

// cardDeploy is the deploy a top-level message is the card of, or 0: a
// card has the section block "deploy", and its text names the deploy
// after the state's emoji.
func cardDeploy(m slackMessage) int64 {
	if m.threadTS != "" || !strings.Contains(m.blocks, `"block_id":"deploy"`) {
		return 0
	}
	sub := cardIDRe.FindStringSubmatch(m.text)
	if sub == nil {
		return 0
	}
	id, _ := strconv.ParseInt(sub[1], 10, 64)
	return id
}

// slackEscape is how deployq escapes text for Slack's mrkdwn.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// cardText is the start of the text of d's card when it shows state, up
// to the state (bot/slack/blocks.go, Summary): ":x: #12 app1@SHA
// (abc1234) to prod by alice: failed". The error, if any, follows after
// ": ".
func cardText(d *apiDeploy, state string) string {
	short := d.SHA
	if len(short) > 7 {
		short = short[:7]
	}
	return slackEscape(fmt.Sprintf("%s #%d %s@%s (%s) to %s by %s: %s", cardEmoji[state], d.ID, d.App, d.Ref, short, d.Env, d.User, state))
}

// cardShows is the state a card's text shows of d, or "" when the text is
// not d's card in any state.
func cardShows(d *apiDeploy, text string) string {
	for _, st := range cardStates {
		p := cardText(d, st)
		if text == p || strings.HasPrefix(text, p+": ") {
			return st
		}
	}
	return ""
}
