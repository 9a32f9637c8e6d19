package marathon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// put PUTs a definition. A 409 "locked by deployment" waits for the
// deployments on the app to clear, then tries again, up to
// locked_timeout; a 5xx or a connection error is retried a few times.
func (x *run) put(ctx context.Context, def *AppDefinition, force bool) (DeploymentResult, error) {
	force = force || x.st.Force
	lockedSince := time.Time{}
	fails := 0
	for {
		res, err := x.c.PutApp(ctx, def, force)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if ae, ok := Locked(err); ok {
			if lockedSince.IsZero() {
				lockedSince = time.Now()
				x.logf("%s is locked by deployment %s: waiting up to %s for it to clear (%s)", def.ID,
					strings.Join(ae.Deployments, ", "), x.st.lockedWait(), ae.Message)
			}
			if time.Since(lockedSince) > x.st.lockedWait() {
				return res, fmt.Errorf("locked by deployment %s for more than %s", strings.Join(ae.Deployments, ", "), x.st.lockedWait())
			}
			if err := x.waitClear(ctx, def.ID, lockedSince.Add(x.st.lockedWait())); err != nil {
				return res, err
			}
			continue
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status < 500 {
			return res, err
		}
		fails++
		if fails > 4 {
			return res, err
		}
		x.logf("%s: %v: retrying", def.ID, err)
		if err := x.sleep(ctx, time.Duration(fails)*x.st.pollInterval()); err != nil {
			return res, err
		}
	}
}

// waitClear waits until no deployment affects app id.
func (x *run) waitClear(ctx context.Context, id string, until time.Time) error {
	for time.Now().Before(until) {
		ds, err := x.c.Deployments(ctx)
		if err == nil && !affects(ds, id, "") {
			return nil
		}
		if err := x.sleep(ctx, x.st.pollInterval()); err != nil {
			return err
		}
	}
	return nil
}

func affects(ds []Deployment, app, id string) bool {
	for _, d := range ds {
		if id != "" && d.ID == id {
			return true
		}
		if id == "" {
			for _, a := range d.AffectedApps {
				if a == app {
					return true
				}
			}
		}
	}
	return false
}
