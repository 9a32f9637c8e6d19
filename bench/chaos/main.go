// Command chaos runs several deployq servers, real processes, on one
// PostgreSQL database and breaks them while deploys go through: it kills
// a server (kill -9) and starts it again under the same name, stops one
// (SIGSTOP) past its lease and lets it go on, ends one server's database
// connections (pg_terminate_backend) and restarts PostgreSQL itself.
// Every deploy's command appends "start ID" and "end ID" marks to one
// shared file, with the time and the server that ran it. Then it checks
// what must hold whatever happened: every acknowledged request exists and
// ends; no deploy ran twice; the deploys of a lane never overlapped and
// started in their order; a dead server's deploys were interrupted by
// another within lease + one poll; a server stopped past its lease and
// continued changed nothing; every deploy that ended has a GitHub
// deployment whose last status is its end, and a Slack card that shows
// it (a fake GitHub and a fake Slack, started here, hear them). It
// prints the figures and exits 1 on any violation.
//
//	make chaos                                    # 3 servers, 300 requests, every fault (a few minutes)
//	go run ./bench/chaos -servers 1 -faults none  # one server, nothing broken
//	go run ./bench/chaos -seed 7 -keep            # a seed's requests and fault order again; keep the logs and marks
//
// Run it from the repository's root: it builds deployq there.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	o := options{}
	flag.IntVar(&o.servers, "servers", 3, "deployq servers sharing the database")
	flag.IntVar(&o.requests, "requests", 300, "deploy requests to send")
	flag.IntVar(&o.lanes, "lanes", 5, "lanes (apps, one environment each) the requests go to")
	flag.DurationVar(&o.lease, "lease", 2*time.Second, "store.lease of the servers")
	flag.DurationVar(&o.poll, "poll", 0, "how often a server looks for ended leases: the failover bound is lease + poll (default lease/3)")
	flag.DurationVar(&o.sleep, "sleep", time.Second, "how long a deploy's command sleeps between its start and end marks")
	flag.Float64Var(&o.rate, "rate", 4, "requests sent per second")
	flag.StringVar(&o.faults, "faults", strings.Join(faultKinds, ","), "faults to inject, comma-separated ("+strings.Join(faultKinds, ", ")+"), or none")
	flag.DurationVar(&o.gap, "gap", 3*time.Second, "time between two faults (give or take half)")
	flag.DurationVar(&o.pause, "pause", 0, "how long a stopped server stays stopped (default lease * 1.75)")
	flag.DurationVar(&o.duration, "duration", 3*time.Minute, "faults stop after this even if deploys remain")
	flag.DurationVar(&o.wait, "wait", 2*time.Minute, "deadline for the acknowledged deploys to end once the faults stopped")
	flag.Int64Var(&o.seed, "seed", 0, "random seed (default: from the clock; printed)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory: the servers' logs, configs and the marks, and what the fake Slack and GitHub heard")
	flag.Parse()
	if err := o.complete(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ok, err := run(ctx, o)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case err != nil && interrupted:
		fmt.Fprintln(os.Stderr, "chaos: interrupted; the servers and PostgreSQL it started are stopped")
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	case !ok:
		os.Exit(1)
	}
}

// options are the flags.
type options struct {
	servers, requests, lanes int
	lease, poll, sleep       time.Duration
	rate                     float64
	faults                   string
	kinds                    []string // faults, parsed
	gap, pause               time.Duration
	duration, wait           time.Duration
	seed                     int64
	keep                     bool
}

// complete fills the defaults that depend on other flags and checks them.
func (o *options) complete() error {
	if o.poll == 0 {
		o.poll = o.lease / 3
	}
	if o.pause == 0 {
		o.pause = o.lease * 7 / 4
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano() % 1e6
	}
	kinds, err := parseFaults(o.faults)
	if err != nil {
		return err
	}
	o.kinds = kinds
	switch {
	case o.servers < 1 || o.lanes < 1 || o.requests < 1:
		return errors.New("-servers, -lanes and -requests must be at least 1")
	case o.lease < time.Second:
		return errors.New("-lease must be at least 1s (deployq's minimum)")
	case o.rate <= 0 || o.gap <= 0 || o.sleep <= 0:
		return errors.New("-rate, -gap and -sleep must be positive")
	case o.pause <= o.lease:
		return fmt.Errorf("-pause %s must be longer than the lease %s: a server stopped within its lease loses nothing", o.pause, o.lease)
	}
	return nil
}

// run starts PostgreSQL and the servers, sends the requests while the
// faults go on, waits for the deploys to end, checks them and prints the
// figures. ok is false when a check failed; err says why the run itself
// could not go on. Whatever happens, the servers and PostgreSQL are
// stopped and nothing started here is left running.
func run(ctx context.Context, o options) (ok bool, err error) {
	fmt.Printf("chaos: %d servers, %d requests over %d lanes, lease %s, faults %s, seed %d\n",
		o.servers, o.requests, o.lanes, o.lease, cmp.Or(strings.Join(o.kinds, ","), "none"), o.seed)
	dir, err := os.MkdirTemp("", "deployq-chaos-")
	if err != nil {
		return false, err
	}
	defer func() {
		if o.keep {
			fmt.Println("kept", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	c, err := openCluster(ctx, dir, o)
	if c != nil {
		defer func() { err = errors.Join(err, c.close()) }()
	}
	if err != nil {
		return false, err
	}
	start := time.Now()
	r, err := exercise(ctx, c, o)
	if err != nil {
		return false, err
	}
	res, err := collect(ctx, c, r)
	if err != nil {
		return false, err
	}
	ow := awaitOwed(ctx, c, r, res, o)
	if err := ctx.Err(); err != nil {
		return false, err
	}
	v := check(o, r, res, ow)
	v.print(o, r, res, c, time.Since(start))
	if o.keep {
		err := errors.Join(c.slack.keep(filepath.Join(dir, "slack.heard")), c.github.keep(filepath.Join(dir, "github.heard")))
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos: keeping what the fakes heard:", err)
		}
	}
	return v.ok(), nil
}
