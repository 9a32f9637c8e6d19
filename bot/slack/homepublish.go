package slack

import (
	"context"
	"strings"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// Showing a user their Home tab, and the buttons on it.

// publishHome shows a Slack user their Home tab as deployq is now.
func (a *Adapter) publishHome(ctx context.Context, id string) {
	user, err := a.who(ctx, id)
	if err != nil {
		a.log.Warn("slack: a Home tab for a user deployq cannot take", "user", id, "err", err)
		return
	}
	h := home{User: user, Dashboard: strings.TrimRight(a.cfg.BaseURL, "/"), Now: a.now()}
	lanes, err := a.svc.Environments(ctx)
	if err != nil {
		a.log.Error("slack: the Home tab's environments", "err", err)
		return
	}
	h.Lanes = byEnvironment(a.svc.Apps(), lanes)
	waiting, err := a.svc.Deploys(ctx, queue.DeployFilter{States: []queue.State{queue.StateWaiting}, Limit: 200})
	if err == nil {
		for _, d := range waiting {
			if a.svc.View(d).NeedsApproval && a.svc.MayApprove(ctx, d, user) {
				h.Approvals = append(h.Approvals, d)
			}
		}
	}
	recent, err := a.svc.Deploys(ctx, queue.DeployFilter{Limit: 200})
	if err == nil {
		for _, d := range recent {
			if d.User == user && len(h.Recent) < homeRecent {
				h.Recent = append(h.Recent, d)
			}
		}
	}
	view := slackgo.HomeTabViewRequest{Type: slackgo.VTHomeTab, CallbackID: CallbackHome, Blocks: slackgo.Blocks{BlockSet: homeBlocks(h)}}
	err = a.retry(ctx, func() error {
		_, err := a.api.PublishViewContext(ctx, slackgo.PublishViewContextRequest{UserID: id, View: view})
		return err
	})
	if err != nil {
		a.log.Error("slack: views.publish", "user", id, "err", err)
	}
}

// homeButton carries out a deploy's or a lock's button on the Home tab
// (Approve, Reject, Unlock) as the command it stands for, for the user
// who clicked; a refusal is told by DM, and the tab shows what changed.
func (a *Adapter) homeButton(cb slackgo.InteractionCallback, act *slackgo.BlockAction) {
	c, ok := buttonCommand(act.ActionID, act.Value)
	key := deliveryKey("action", cb.TriggerID, act.ActionID, act.ActionTs)
	if !ok || !a.fresh(key) {
		return
	}
	user := cb.User.ID
	m, refused := a.from(user, user, "")
	if refused != nil {
		a.tell(user, "", refused.Text)
		return
	}
	if r, ran := a.once(key, func(ctx context.Context) bot.Reply { return a.bot.Do(ctx, c, m) }); ran && r.Err != nil {
		a.tell(user, "", r.Text)
	}
	a.publishHome(a.ctx, user)
}
