// Package client talks to a deployq server's HTTP API; the CLI commands
// are built on it.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/queue"
)

// Client is an API client.
type Client struct {
	Base  string // e.g. http://127.0.0.1:8080
	Token string // bearer token, optional
	User  string // sent as X-Deployq-User (open servers only)
	HTTP  *http.Client
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Base, "/")+path, rd)
	if err != nil {
		return err
	}
	c.header(req)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach deployq at %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return readError(resp)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *Client) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) header(req *http.Request) {
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.User != "" {
		req.Header.Set("X-Deployq-User", c.User)
	}
}

func readError(resp *http.Response) error {
	var e struct {
		Error struct {
			Code    queue.Code `json:"code"`
			Message string     `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
		return queue.Errorf(queue.EInternal, "%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return &queue.Error{Code: e.Error.Code, Message: e.Error.Message}
}

// Deploy asks for a deploy.
func (c *Client) Deploy(ctx context.Context, app, env, ref string, force, overrideFreeze bool, params map[string]string) (*api.Deploy, error) {
	var d api.Deploy
	body := map[string]any{"app": app, "env": env, "ref": ref, "force": force, "override_freeze": overrideFreeze}
	if len(params) > 0 {
		body["params"] = params
	}
	err := c.do(ctx, "POST", "/api/v1/deploys", body, &d)
	return &d, err
}

// Rollback asks for a rollback; to is "", a ref or "#N".
func (c *Client) Rollback(ctx context.Context, app, env, to string) (*api.Deploy, error) {
	var d api.Deploy
	err := c.do(ctx, "POST", "/api/v1/rollbacks", map[string]any{"app": app, "env": env, "to": to}, &d)
	return &d, err
}

// Operate queues an app operation: scale (to instances), restart, stop
// or start. It is a deploy record with Op set.
func (c *Client) Operate(ctx context.Context, app, env, op string, instances int) (*api.Deploy, error) {
	body := map[string]any{"app": app, "env": env, "op": op}
	if op == "scale" {
		body["instances"] = instances
	}
	var d api.Deploy
	err := c.do(ctx, "POST", "/api/v1/operations", body, &d)
	return &d, err
}

// Cancel cancels a deploy.
func (c *Client) Cancel(ctx context.Context, id int64) (*api.Deploy, error) {
	var d api.Deploy
	err := c.do(ctx, "POST", fmt.Sprintf("/api/v1/deploys/%d/cancel", id), nil, &d)
	return &d, err
}

// Get returns one deploy.
func (c *Client) Get(ctx context.Context, id int64) (*api.Deploy, error) {
	var d api.Deploy
	err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/deploys/%d", id), nil, &d)
	return &d, err
}

// Deploys lists deploys.
func (c *Client) Deploys(ctx context.Context, q url.Values) ([]api.Deploy, error) {
	var ds []api.Deploy
	err := c.do(ctx, "GET", "/api/v1/deploys?"+q.Encode(), nil, &ds)
	return ds, err
}

// Lock takes a lock; ttl is a duration like "2h" or "".
func (c *Client) Lock(ctx context.Context, env, app, reason, ttl string, steal bool) (*api.Lock, error) {
	var l api.Lock
	err := c.do(ctx, "POST", "/api/v1/locks", map[string]any{"env": env, "app": app, "reason": reason, "ttl": ttl, "steal": steal}, &l)
	return &l, err
}

// Unlock removes a lock.
func (c *Client) Unlock(ctx context.Context, env, app string) (*api.Lock, error) {
	var l api.Lock
	path := "/api/v1/locks/" + url.PathEscape(env)
	if app != "" {
		path += "?app=" + url.QueryEscape(app)
	}
	err := c.do(ctx, "DELETE", path, nil, &l)
	return &l, err
}

// Environments returns what runs where.
func (c *Client) Environments(ctx context.Context) ([]api.Environment, error) {
	var es []api.Environment
	err := c.do(ctx, "GET", "/api/v1/environments", nil, &es)
	return es, err
}

// Prune prunes the logs of deploys that ended more than olderThan ("90d",
// "12h") ago to their last lines; dryRun only counts. Admins only.
func (c *Client) Prune(ctx context.Context, olderThan string, dryRun bool) (*api.Pruned, error) {
	var p api.Pruned
	err := c.do(ctx, "POST", "/api/v1/prune", map[string]any{"logs_older_than": olderThan, "dry_run": dryRun}, &p)
	return &p, err
}

// AuditEntry is one thing someone did.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail"`
}

// Audit returns who did what, newest first.
func (c *Client) Audit(ctx context.Context) ([]AuditEntry, error) {
	var es []AuditEntry
	err := c.do(ctx, "GET", "/api/v1/audit", nil, &es)
	return es, err
}

// ChatReply is the chat endpoint's answer.
type ChatReply struct {
	Reply  string      `json:"reply"`
	Deploy *api.Deploy `json:"deploy"`
	Error  *struct {
		Code    queue.Code `json:"code"`
		Message string     `json:"message"`
	} `json:"error"`
}

// Chat sends one chat command.
func (c *Client) Chat(ctx context.Context, text string) (*ChatReply, error) {
	var r ChatReply
	err := c.do(ctx, "POST", "/api/v1/chat", map[string]string{"text": text}, &r)
	return &r, err
}

// Log copies a deploy's log as text to w; follow streams it until the
// deploy ends. It returns the deploy as it is afterwards.
func (c *Client) Log(ctx context.Context, id int64, follow bool, w io.Writer) (*api.Deploy, error) {
	path := fmt.Sprintf("%s/api/v1/deploys/%d/log", strings.TrimRight(c.Base, "/"), id)
	if follow {
		path += "?follow=1"
	}
	req, err := http.NewRequestWithContext(ctx, "GET", path, nil)
	if err != nil {
		return nil, err
	}
	c.header(req)
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach deployq at %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return nil, readError(resp)
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if _, werr := w.Write(line); werr != nil {
				return nil, werr
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if t := resp.Trailer.Get(api.DeployTrailer); t != "" {
		var d api.Deploy
		if err := json.Unmarshal([]byte(t), &d); err == nil {
			return &d, nil
		}
	}
	return c.Get(context.WithoutCancel(ctx), id)
}
