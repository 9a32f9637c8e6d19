package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// apiDeploy is a deploy as the HTTP API shows it: what the checks read.
type apiDeploy struct {
	ID         int64      `json:"id"`
	App        string     `json:"app"`
	Env        string     `json:"env"`
	Ref        string     `json:"ref"`
	SHA        string     `json:"sha"`
	User       string     `json:"user"` // who asked for it
	Op         string     `json:"op"`   // an operation (scale, restart...), not a deploy
	State      string     `json:"state"`
	Server     string     `json:"server"` // the server that runs it, or ran it
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      string     `json:"error"`
}

func (d *apiDeploy) lane() lane { return lane{app: d.App, env: d.Env} }

func (d *apiDeploy) terminal() bool {
	switch d.State {
	case "succeeded", "failed", "canceled", "interrupted", "superseded":
		return true
	}
	return false
}

// deployRequest is the body of POST /api/v1/deploys.
type deployRequest struct {
	App string `json:"app"`
	Env string `json:"env"`
	Ref string `json:"ref"`
}

// attemptTimeout bounds one HTTP call: a stopped server answers nothing.
const attemptTimeout = 3 * time.Second

// client calls the servers' API.
type client struct {
	http    *http.Client
	servers []*server
}

func newClient(servers []*server) *client {
	return &client{http: &http.Client{Timeout: attemptTimeout}, servers: servers}
}

// statusError is an answer other than the one expected.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%d %s", e.status, strings.TrimSpace(e.body))
}

// do calls one server; out, if not nil, takes the JSON answer.
func (c *client) do(ctx context.Context, s *server, method, path string, body any, want int, out any) error {
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base()+path, in)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return &statusError{status: resp.StatusCode, body: string(b)}
	}
	if out == nil {
		return nil
	}
	if bs, ok := out.(*[]byte); ok {
		*bs = b
		return nil
	}
	return json.Unmarshal(b, out)
}

// read GETs path from the first server that answers, avoiding avoid
// (the one a fault is about to hit) while another is there, and tries
// them all again for a while when none answers (PostgreSQL restarting).
func (c *client) read(ctx context.Context, avoid *server, path string, out any) error {
	var last error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range c.order(avoid) {
			err := c.do(ctx, s, http.MethodGet, path, nil, http.StatusOK, out)
			if err == nil {
				return nil
			}
			var se *statusError
			if errors.As(err, &se) && se.status == http.StatusNotFound {
				return err
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("GET %s: no server answered: %w", path, last)
}

// order is the servers, avoid last.
func (c *client) order(avoid *server) []*server {
	var out []*server
	for _, s := range c.servers {
		if s != avoid {
			out = append(out, s)
		}
	}
	if avoid != nil {
		out = append(out, avoid)
	}
	return out
}

// running lists the running deploys.
func (c *client) running(ctx context.Context, avoid *server) ([]*apiDeploy, error) {
	var ds []*apiDeploy
	err := c.read(ctx, avoid, "/api/v1/deploys?state=running&limit=1000", &ds)
	return ds, err
}

// laneLimit is the most deploys the API lists at once.
const laneLimit = 1000

// laneDeploys lists every deploy of a lane.
func (c *client) laneDeploys(ctx context.Context, l lane) ([]*apiDeploy, error) {
	var ds []*apiDeploy
	q := url.Values{"app": {l.app}, "env": {l.env}, "limit": {strconv.Itoa(laneLimit)}}
	if err := c.read(ctx, nil, "/api/v1/deploys?"+q.Encode(), &ds); err != nil {
		return nil, err
	}
	if len(ds) >= laneLimit {
		return nil, fmt.Errorf("%s has %d deploys or more, more than the API lists at once: fewer -requests, or more -lanes", l, laneLimit)
	}
	return ds, nil
}

// logLine is a line of a deploy's log.
type logLine struct {
	stream, text string
}

// runner reports whether the line is the runner's output (not deployq's).
func (l logLine) runner() bool { return l.stream == "stdout" || l.stream == "stderr" }

// deployLog reads a deploy's whole log, in order, from its text form
// ("TIME STREAM [host] text" a line).
func (c *client) deployLog(ctx context.Context, id int64) ([]logLine, error) {
	var b []byte
	if err := c.read(ctx, nil, fmt.Sprintf("/api/v1/deploys/%d/log", id), &b); err != nil {
		return nil, err
	}
	var lines []logLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 2)
		if len(f) < 2 {
			continue
		}
		rest := strings.TrimLeft(f[1], " ")
		stream, text, _ := strings.Cut(rest, " ")
		lines = append(lines, logLine{stream: stream, text: strings.TrimLeft(text, " ")})
	}
	return lines, sc.Err()
}
