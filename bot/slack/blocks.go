package slack

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// Action ids of the buttons deployq puts on its messages.
const (
	ActionCancel   = "deployq_cancel"
	ActionRollback = "deployq_rollback"
	ActionContinue = "deployq_continue"
	ActionUnlock   = "deployq_unlock"
	ActionApprove  = "deployq_approve"
	ActionReject   = "deployq_reject"
)

var stateEmoji = map[queue.State]string{
	queue.StateWaiting:     ":hourglass:",
	queue.StateQueued:      ":hourglass_flowing_sand:",
	queue.StateRunning:     ":rocket:",
	queue.StateVerifying:   ":mag:",
	queue.StateSucceeded:   ":white_check_mark:",
	queue.StateFailed:      ":x:",
	queue.StateCanceled:    ":no_entry_sign:",
	queue.StateInterrupted: ":warning:",
	queue.StateSuperseded:  ":fast_forward:",
}

// DeployView is what a deploy message shows.
type DeployView struct {
	Deploy   *queue.Deploy
	Repo     string // GitHub owner/name, for the commit link
	LogURL   string
	Link     string // where the deploy is done outside deployq (a GitHub Actions run)
	Progress *queue.Progress
	Now      time.Time
	// NeedsApproval puts Approve and Reject buttons on a waiting deploy;
	// WaitingFor says why it waits.
	NeedsApproval bool
	WaitingFor    string
}

// ProgressBar draws "▓▓▓▓░░░░ 4/10 hosts, batch 2/4" (8 cells).
func ProgressBar(p queue.Progress) string {
	if p.Total <= 0 {
		return p.Message
	}
	done := min(max(p.Done, 0), p.Total)
	cells := done * 8 / p.Total
	s := strings.Repeat("▓", cells) + strings.Repeat("░", 8-cells)
	if p.Phase == queue.PhaseVerify {
		return s + " " + p.Message
	}
	s += fmt.Sprintf(" %d/%d", done, p.Total)
	if p.Phase != "" {
		s += " " + p.Phase
	}
	if p.Message != "" {
		s += ", " + p.Message
	}
	return s
}

// Escape makes text safe for Slack's mrkdwn.
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Slack's bounds on text, in characters: a section's text and a context
// element, a section's field (Slack refuses a block past them), and what
// deployq says in a message's text (Slack takes up to 40,000).
const (
	maxSection = 3000
	maxField   = 2000
	maxText    = 3000
)

// entityTail is an entity (&amp;) cut in two at the end of a text.
var entityTail = regexp.MustCompile(`&[a-z]{0,3}$`)

// clip bounds escaped text to n characters, ending it with "…" when it
// was longer; an entity is never cut in two.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-1]
	return entityTail.ReplaceAllString(string(r), "") + "…"
}

// plainText is a message's text: s escaped, and bounded.
func plainText(s string) slackgo.MsgOption {
	return slackgo.MsgOptionText(clip(Escape(s), maxText), false)
}

// Summary is the one-line text of a deploy message (notifications, and
// clients without blocks).
func Summary(v DeployView) string {
	d := v.Deploy
	s := fmt.Sprintf("%s #%d %s by %s: %s", stateEmoji[d.State], d.ID, d.Describe(), d.User, d.State)
	if d.Error != "" {
		s += ": " + d.Error
	}
	return clip(Escape(s), maxText)
}

// DeployBlocks renders a deploy message.
func DeployBlocks(v DeployView) []slackgo.Block {
	d := v.Deploy
	head := fmt.Sprintf("%s *%s* to *%s*: %s", stateEmoji[d.State], Escape(d.App), Escape(d.Env), d.State)
	if d.Op != "" {
		head = fmt.Sprintf("%s *%s*: %s", stateEmoji[d.State], Escape(d.Describe()), d.State)
	}
	switch {
	case d.State.Terminal() && !d.StartedAt.IsZero() && !d.FinishedAt.IsZero():
		head += " in " + d.FinishedAt.Sub(d.StartedAt).Round(time.Second).String()
	case d.State.Holds() && !d.StartedAt.IsZero():
		head += " for " + queue.Age(v.Now.Sub(d.StartedAt))
	}
	if d.Error != "" {
		head += "\n" + Escape(d.Error)
	}
	if d.State == queue.StateWaiting && v.WaitingFor != "" {
		head += "\n" + Escape(v.WaitingFor)
	}
	sha := "`" + queue.ShortSHA(d.SHA) + "`"
	if v.Repo != "" {
		sha = fmt.Sprintf("<https://github.com/%s/commit/%s|%s>", v.Repo, d.SHA, queue.ShortSHA(d.SHA))
	}
	fields := []*slackgo.TextBlockObject{
		field("*Ref*\n`" + Escape(d.Ref) + "`"),
		field("*Commit*\n" + sha),
		field("*By*\n" + Escape(d.User)),
		field(fmt.Sprintf("*Deploy*\n#%d (%s)", d.ID, d.Source)),
	}
	if d.Op != "" {
		fields = []*slackgo.TextBlockObject{
			field("*Running*\n" + sha),
			field("*By*\n" + Escape(d.User)),
			field(fmt.Sprintf("*Operation*\n#%d (%s)", d.ID, d.Source)),
		}
	}
	blocks := []slackgo.Block{
		slackgo.NewSectionBlock(mrkdwn(head), fields, nil, slackgo.SectionBlockOptionBlockID("deploy")),
	}
	if v.Progress != nil && d.State.Holds() {
		if bar := ProgressBar(*v.Progress); bar != "" {
			blocks = append(blocks, slackgo.NewContextBlock("progress", mrkdwn("`"+Escape(bar)+"`")))
		}
	}
	var buttons []slackgo.BlockElement
	id := fmt.Sprint(d.ID)
	if d.State == queue.StateRunning && v.Progress != nil && v.Progress.Phase == queue.PhasePaused {
		buttons = append(buttons, slackgo.NewButtonBlockElement(ActionContinue, id, plain("Continue")).WithStyle(slackgo.StylePrimary))
	}
	if v.NeedsApproval && d.State == queue.StateWaiting {
		buttons = append(buttons, slackgo.NewButtonBlockElement(ActionApprove, id, plain("Approve")).WithStyle(slackgo.StylePrimary),
			slackgo.NewButtonBlockElement(ActionReject, id, plain("Reject")))
	}
	switch d.State {
	case queue.StateWaiting, queue.StateQueued, queue.StateRunning, queue.StateVerifying:
		buttons = append(buttons, slackgo.NewButtonBlockElement(ActionCancel, id, plain("Cancel")).WithStyle(slackgo.StyleDanger))
	case queue.StateSucceeded, queue.StateFailed, queue.StateInterrupted:
		if d.Op != "" {
			break // nothing to roll back to: an operation changes no version
		}
		buttons = append(buttons, slackgo.NewButtonBlockElement(ActionRollback, id, plain("Roll back")))
	}
	if v.LogURL != "" {
		buttons = append(buttons, slackgo.NewButtonBlockElement("deployq_log", id, plain("Full log")).WithURL(v.LogURL))
	}
	if v.Link != "" && d.Source == queue.SourceActions {
		buttons = append(buttons, slackgo.NewButtonBlockElement("deployq_run", id, plain("Actions run")).WithURL(v.Link))
	}
	if len(buttons) > 0 {
		blocks = append(blocks, slackgo.NewActionBlock("actions", buttons...))
	}
	return blocks
}

// LockBlocks renders a lock announcement: holder, reason, since, expiry,
// and an Unlock button while it holds.
func LockBlocks(l *queue.Lock, locked bool, now time.Time) []slackgo.Block {
	if !locked {
		return []slackgo.Block{slackgo.NewSectionBlock(mrkdwn(fmt.Sprintf(":unlock: *%s* is unlocked (was held by %s)",
			Escape(l.Scope()), Escape(l.Owner))), nil, nil)}
	}
	text := fmt.Sprintf(":lock: *%s* is locked by %s", Escape(l.Scope()), Escape(l.Owner))
	if l.Reason != "" {
		text += ": " + Escape(l.Reason)
	}
	meta := fmt.Sprintf("since %s (%s ago)", l.CreatedAt.UTC().Format("15:04 MST"), queue.Age(now.Sub(l.CreatedAt)))
	if !l.ExpiresAt.IsZero() {
		meta += fmt.Sprintf(", expires %s", l.ExpiresAt.UTC().Format("15:04 MST"))
	}
	return []slackgo.Block{
		slackgo.NewSectionBlock(mrkdwn(text), nil, nil),
		slackgo.NewContextBlock("", mrkdwn(meta)),
		slackgo.NewActionBlock("lock", slackgo.NewButtonBlockElement(ActionUnlock, lockValue(l), plain("Unlock"))),
	}
}

// mrkdwn is the text of a section or a context element, bounded.
func mrkdwn(s string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.MarkdownType, clip(s, maxSection), false, false)
}

// field is a section's field, bounded.
func field(s string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.MarkdownType, clip(s, maxField), false, false)
}

func plain(s string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.PlainTextType, s, false, false)
}
