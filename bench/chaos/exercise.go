package main

import (
	"context"
	"fmt"
	"time"
)

// runResult is what was done to the cluster: the requests and the
// faults.
type runResult struct {
	api    *client
	load   *loadResult
	faults []*fault
	start  time.Time
}

// exercise sends the requests while the faults go on, and goes on with
// the faults while acknowledged deploys have not ended (up to
// o.duration); then it brings every server back and waits, up to o.wait,
// for the acknowledged deploys to end.
func exercise(ctx context.Context, c *cluster, o options) (*runResult, error) {
	r := &runResult{api: newClient(c.servers), start: time.Now()}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := newInjector(c, r.api, o, r.start)
	stop := make(chan struct{})
	injected := make(chan error, 1)
	go func() {
		err := in.run(ctx, stop)
		if err != nil {
			cancel() // the load stops too
		}
		injected <- err
	}()
	r.load = sendLoad(ctx, r.api, c.lanes, o)
	fmt.Printf("%7.1fs %d requests sent, %d acknowledged\n", time.Since(r.start).Seconds(), r.load.sent, len(r.load.acks))
	for ctx.Err() == nil && time.Since(r.start) < o.duration {
		n, err := unfinished(ctx, r.api, c.lanes, r.load.acks)
		if err == nil && n == 0 {
			break
		}
		sleep(ctx, 2*time.Second)
	}
	close(stop)
	err := <-injected
	r.faults = in.faults
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.revive(ctx); err != nil {
		return nil, err
	}
	fmt.Printf("%7.1fs faults over (%d); waiting up to %s for the acknowledged deploys to end\n", time.Since(r.start).Seconds(), len(r.faults), o.wait)
	deadline := time.Now().Add(o.wait)
	for {
		n, err := unfinished(ctx, r.api, c.lanes, r.load.acks)
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			fmt.Printf("%7.1fs deadline: %d acknowledged deploys have not ended (%v)\n", time.Since(r.start).Seconds(), n, err)
			break
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
	fmt.Printf("%7.1fs done\n", time.Since(r.start).Seconds())
	return r, nil
}

// unfinished counts the acknowledged deploys that have not ended.
func unfinished(ctx context.Context, api *client, lanes []lane, acks []ack) (int, error) {
	ended := map[int64]bool{}
	for _, l := range lanes {
		ds, err := api.laneDeploys(ctx, l)
		if err != nil {
			return -1, err
		}
		for _, d := range ds {
			ended[d.ID] = d.terminal()
		}
	}
	n := 0
	for _, a := range acks {
		if !ended[a.id] {
			n++
		}
	}
	return n, nil
}
