package slack

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// refsWithin bounds the listing of an app's refs: Slack waits 3 s for
// the options of a select.
const refsWithin = 2 * time.Second

// refOptions are the options of a deploy form's ref field as the user
// types q: q itself when it is a ref (a sha, or a branch or tag not
// listed), then the app's branches and tags that contain it, the app's
// default ref first.
func (a *Adapter) refOptions(cb slackgo.InteractionCallback) *slackgo.OptionsResponse {
	out := &slackgo.OptionsResponse{Options: []*slackgo.OptionBlockObject{}}
	name, ok := strings.CutPrefix(cb.BlockID, refBlock(""))
	if !ok || findApp(a.svc.Apps(), name) == nil {
		return out
	}
	q := strings.TrimSpace(bounded(cb.Value, maxOptionValue))
	ctx, cancel := context.WithTimeout(a.ctx, refsWithin)
	defer cancel()
	refs, err := a.svc.Refs(ctx, name, q)
	if err != nil {
		a.log.Warn("slack: listing the refs of an app", "app", name, "err", err)
	}
	if q != "" && queue.ValidRef(q) && !slices.Contains(refs, q) {
		out.Options = append(out.Options, option(q, q))
	}
	for _, r := range refs {
		if len(out.Options) == maxOptions {
			break
		}
		if len(r) <= maxOptionValue {
			out.Options = append(out.Options, option(r, r))
		}
	}
	return out
}
