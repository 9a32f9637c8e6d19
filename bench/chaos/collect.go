package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
)

// results is what the run left: every deploy as the API shows it, the
// marks, and the logs of the interrupted deploys.
type results struct {
	deploys map[int64]*apiDeploy
	marks   *marks
	logs    map[int64][]logLine
	exits   []string // servers that exited by themselves
}

// collect reads the results once the deploys ended (or the deadline
// passed).
func collect(ctx context.Context, c *cluster, r *runResult) (*results, error) {
	res := &results{deploys: map[int64]*apiDeploy{}, logs: map[int64][]logLine{}}
	for _, s := range c.servers {
		res.exits = append(res.exits, s.unexpectedExits()...)
	}
	for _, l := range c.lanes {
		ds, err := r.api.laneDeploys(ctx, l)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			res.deploys[d.ID] = d
		}
	}
	// An acknowledged deploy listed in no lane: read it alone, in case it
	// is somewhere else.
	for _, a := range r.load.acks {
		if res.deploys[a.id] != nil {
			continue
		}
		var d apiDeploy
		err := r.api.read(ctx, nil, "/api/v1/deploys/"+strconv.FormatInt(a.id, 10), &d)
		var se *statusError
		switch {
		case err == nil:
			res.deploys[d.ID] = &d
		case errors.As(err, &se) && se.status == http.StatusNotFound:
		default:
			return nil, err
		}
	}
	ms, err := readMarks(c.marks)
	if err != nil {
		return nil, err
	}
	res.marks = ms
	for id, d := range res.deploys {
		if d.State != "interrupted" {
			continue
		}
		lines, err := r.api.deployLog(ctx, id)
		if err != nil {
			return nil, err
		}
		res.logs[id] = lines
	}
	return res, nil
}
