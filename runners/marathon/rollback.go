package marathon

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// rollback takes every changed app back, newest first, and waits until
// each is healthy on its previous version.
func (x *run) rollback(ctx context.Context, why string) string {
	if len(x.changed) == 0 {
		return ""
	}
	x.logf("rolling back %d app(s): %s", len(x.changed), why)
	var back, notBack []string
	for i := len(x.changed) - 1; i >= 0; i-- {
		ch := x.changed[i]
		if err := x.rollbackApp(ctx, ch); err != nil {
			ch.state = "rollback failed: " + err.Error()
			x.logf("%s: rollback failed: %v", ch.id, err)
			notBack = append(notBack, ch.id)
			continue
		}
		ch.state = "rolled back"
		back = append(back, ch.id)
	}
	var parts []string
	if len(back) > 0 {
		parts = append(parts, "rolled back: "+strings.Join(back, ", "))
	}
	if len(notBack) > 0 {
		parts = append(parts, "NOT rolled back: "+strings.Join(notBack, ", "))
	}
	return strings.Join(parts, "; ")
}

// rollbackApp cancels the app's deployment the Marathon way (DELETE
// /v2/deployments/{id}: Marathon takes the app back) while it runs, or
// PUTs the previous definition once it is over.
func (x *run) rollbackApp(ctx context.Context, ch *change) error {
	ds, err := x.c.Deployments(ctx)
	if err != nil {
		return err
	}
	var res DeploymentResult
	if affects(ds, ch.id, ch.deployment) {
		x.logf("%s: rolling back deployment %s", ch.id, ch.deployment)
		res, err = x.c.RollbackDeployment(ctx, ch.deployment)
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			err = errPutPrevious // it ended meanwhile
		}
	} else {
		err = errPutPrevious
	}
	if errors.Is(err, errPutPrevious) {
		x.logf("%s: restoring the previous definition", ch.id)
		res, err = x.put(ctx, ch.prev, false)
	}
	if err != nil {
		return err
	}
	back := &change{id: ch.id, deployment: res.DeploymentID, version: res.Version,
		instances: instancesOf(ch.prev), checks: len(ch.prev.HealthChecks)}
	return x.follow(ctx, back, x.st.timeout(), "rollback")
}

var errPutPrevious = errors.New("put the previous definition")

// table ends the log with where each app stands.
func (x *run) table() {
	if len(x.changed) == 0 {
		return
	}
	width := 3
	for _, ch := range x.changed {
		width = max(width, len(ch.id))
	}
	x.logf("%-*s  %s", width, "APP", "STATE")
	for _, ch := range x.changed {
		x.logf("%-*s  %s", width, ch.id, ch.state)
	}
}
