package slack

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// The Home tab: what runs where, how long each lane's queue is, the locks
// (the user's own with an Unlock button), the deploys waiting for an
// approval, and the user's recent deploys.

// How many of each the Home tab shows.
const (
	homeApprovals = 10
	homeRecent    = 5
)

// home is what one user's Home tab shows.
type home struct {
	User      string            // the deployq user
	Lanes     []queue.EnvStatus // app by environment
	Approvals []*queue.Deploy   // waiting for an approval, asked by others
	Recent    []*queue.Deploy   // the user's, newest first
	Dashboard string            // deployq's URL ("": none)
	Now       time.Time
}

// homeBlocks renders a Home tab: at most maxBlocks blocks; lanes that do
// not fit are counted in a last line that points to the dashboard.
func homeBlocks(h home) []slackgo.Block {
	top := []slackgo.BlockElement{
		slackgo.NewButtonBlockElement(ActionOpenDeploy, "deploy", plain("Deploy…")).WithStyle(slackgo.StylePrimary),
		slackgo.NewButtonBlockElement(ActionOpenLock, "", plain("Lock…")),
	}
	if h.Dashboard != "" {
		top = append(top, slackgo.NewButtonBlockElement("deployq_dashboard", "dashboard", plain("Dashboard")).WithURL(h.Dashboard))
	}
	blocks := []slackgo.Block{slackgo.NewHeaderBlock(plain("Deploys")), slackgo.NewActionBlock("home", top...)}
	if len(h.Approvals) > 0 {
		blocks = append(blocks, slackgo.NewSectionBlock(mrkdwn("*Waiting for approval*"), nil, nil))
		for _, d := range h.Approvals[:min(len(h.Approvals), homeApprovals)] {
			id := fmt.Sprint(d.ID)
			blocks = append(blocks, slackgo.NewSectionBlock(mrkdwn(fmt.Sprintf("#%d %s by %s", d.ID, Escape(d.Describe()), Escape(d.User))), nil, nil),
				slackgo.NewActionBlock("approve:"+id,
					slackgo.NewButtonBlockElement(ActionApprove, id, plain("Approve")).WithStyle(slackgo.StylePrimary),
					slackgo.NewButtonBlockElement(ActionReject, id, plain("Reject"))))
		}
	}
	recent := "Nothing yet: deploy with /deploy, or the button above."
	if len(h.Recent) > 0 {
		var lines []string
		for _, d := range h.Recent[:min(len(h.Recent), homeRecent)] {
			lines = append(lines, fmt.Sprintf("%s #%d %s: %s, %s ago", stateEmoji[d.State], d.ID, Escape(d.Describe()), d.State, queue.Age(h.Now.Sub(d.CreatedAt))))
		}
		recent = strings.Join(lines, "\n")
	}
	blocks = append(blocks, slackgo.NewSectionBlock(mrkdwn("*Your recent deploys*\n"+recent), nil, nil),
		slackgo.NewDividerBlock(), slackgo.NewSectionBlock(mrkdwn("*Environments*"), nil, nil))
	for i, l := range h.Lanes {
		if len(blocks) == maxBlocks-1 && i < len(h.Lanes)-1 {
			more := fmt.Sprintf("and %d more", len(h.Lanes)-i)
			if h.Dashboard != "" {
				more += fmt.Sprintf(": <%s|open the dashboard>", h.Dashboard)
			}
			return append(blocks, slackgo.NewContextBlock("more", mrkdwn(more)))
		}
		blocks = append(blocks, laneBlock(l, h.User, h.Now))
	}
	return blocks
}

// laneBlock is one app in one environment: what runs there, its queue,
// its lock; a Lock button, or Unlock on the user's own lock.
func laneBlock(l queue.EnvStatus, user string, now time.Time) slackgo.Block {
	text := fmt.Sprintf("*%s* · %s\n", Escape(l.Env), Escape(l.App))
	if c := l.Current; c != nil {
		text += fmt.Sprintf("`%s` #%d by %s, %s ago", queue.ShortSHA(c.SHA), c.ID, Escape(c.User), queue.Age(now.Sub(c.FinishedAt)))
	} else {
		text += "nothing deployed yet"
	}
	if r := l.Running; r != nil {
		text += fmt.Sprintf("\n%s #%d %s `%s` by %s", stateEmoji[r.State], r.ID, r.State, queue.ShortSHA(r.SHA), Escape(r.User))
	}
	switch n := l.Queued + l.Waiting; {
	case l.Waiting > 0:
		text += fmt.Sprintf("\n%d in the queue (%d waiting)", n, l.Waiting)
	case n > 0:
		text += fmt.Sprintf("\n%d in the queue", n)
	}
	if l.Freeze != "" {
		text += "\n:snowflake: " + Escape(l.Freeze)
	}
	button := slackgo.NewButtonBlockElement(ActionOpenLock, l.App+" in "+l.Env, plain("Lock…"))
	if k := l.Lock; k != nil {
		text += fmt.Sprintf("\n:lock: locked by %s", Escape(k.Owner))
		if k.Reason != "" {
			text += ": " + Escape(k.Reason)
		}
		button = nil
		if strings.EqualFold(k.Owner, user) {
			button = slackgo.NewButtonBlockElement(ActionUnlock, lockValue(k), plain("Unlock"))
		}
	}
	var acc *slackgo.Accessory
	if button != nil {
		acc = slackgo.NewAccessory(button)
	}
	return slackgo.NewSectionBlock(mrkdwn(text), nil, acc, slackgo.SectionBlockOptionBlockID("lane:"+l.App+":"+l.Env))
}

// byEnvironment orders lanes environment by environment, in the order of
// the config.
func byEnvironment(apps []*queue.App, lanes []queue.EnvStatus) []queue.EnvStatus {
	order := envNames(apps)
	lanes = slices.Clone(lanes)
	slices.SortStableFunc(lanes, func(x, y queue.EnvStatus) int {
		return cmp.Compare(slices.Index(order, x.Env), slices.Index(order, y.Env))
	})
	return lanes
}
