package client

import (
	"context"
	"fmt"
	"net/url"

	"github.com/deployq/deployq/api"
)

// The calls of the release policies: promotions, approvals, paused
// deploys, freezes, and unlocking everything.

// Promote deploys what runs in env from to env to.
func (c *Client) Promote(ctx context.Context, app, from, to string) (*api.Deploy, error) {
	var d api.Deploy
	err := c.do(ctx, "POST", "/api/v1/promotions", map[string]string{"app": app, "from": from, "to": to}, &d)
	return &d, err
}

// Continue lets a paused deploy go on.
func (c *Client) Continue(ctx context.Context, id int64) (*api.Deploy, error) {
	var d api.Deploy
	err := c.do(ctx, "POST", fmt.Sprintf("/api/v1/deploys/%d/continue", id), nil, &d)
	return &d, err
}

// Approve approves a deploy that waits for approvals.
func (c *Client) Approve(ctx context.Context, id int64) (*api.Deploy, error) {
	var d api.Deploy
	err := c.do(ctx, "POST", fmt.Sprintf("/api/v1/deploys/%d/approve", id), nil, &d)
	return &d, err
}

// Reject rejects a deploy that waits for approvals; reason may be "".
func (c *Client) Reject(ctx context.Context, id int64, reason string) (*api.Deploy, error) {
	var d api.Deploy
	err := c.do(ctx, "POST", fmt.Sprintf("/api/v1/deploys/%d/reject", id), map[string]string{"reason": reason}, &d)
	return &d, err
}

// Freeze freezes an environment; ttl is a duration like "2h", or "" for
// until unfrozen.
func (c *Client) Freeze(ctx context.Context, env, reason, ttl string) (*api.Freeze, error) {
	var f api.Freeze
	err := c.do(ctx, "POST", "/api/v1/freezes", map[string]string{"env": env, "reason": reason, "ttl": ttl}, &f)
	return &f, err
}

// Unfreeze lifts an environment's freeze and returns it.
func (c *Client) Unfreeze(ctx context.Context, env string) (*api.Freeze, error) {
	var f api.Freeze
	err := c.do(ctx, "DELETE", "/api/v1/freezes/"+url.PathEscape(env), nil, &f)
	return &f, err
}

// Freezes is what freezes environments now.
type Freezes struct {
	// Frozen are the environments frozen now, by a freeze window of the
	// config or a one-off freeze, each with what says so.
	Frozen []struct {
		Env    string `json:"env"`
		Status string `json:"status"`
	} `json:"frozen"`
	// OneOff are the freezes people asked for.
	OneOff []api.Freeze `json:"one_off"`
}

// Freezes returns what freezes environments now.
func (c *Client) Freezes(ctx context.Context) (*Freezes, error) {
	var f Freezes
	err := c.do(ctx, "GET", "/api/v1/freezes", nil, &f)
	return &f, err
}

// UnlockAll removes every lock (admins) and returns them.
func (c *Client) UnlockAll(ctx context.Context) ([]api.Lock, error) {
	var ls []api.Lock
	err := c.do(ctx, "DELETE", "/api/v1/locks", nil, &ls)
	return ls, err
}

// MarkBad marks an app's ref bad and returns the mark.
func (c *Client) MarkBad(ctx context.Context, app, ref, reason string) (*api.BadSHA, error) {
	var b api.BadSHA
	err := c.do(ctx, "POST", "/api/v1/bad-shas", map[string]string{"app": app, "ref": ref, "reason": reason}, &b)
	return &b, err
}

// UnmarkBad removes the mark of an app's ref and returns it.
func (c *Client) UnmarkBad(ctx context.Context, app, ref string) (*api.BadSHA, error) {
	var b api.BadSHA
	err := c.do(ctx, "DELETE", "/api/v1/bad-shas/"+url.PathEscape(app)+"/"+url.PathEscape(ref), nil, &b)
	return &b, err
}
