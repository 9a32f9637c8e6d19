package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// injector injects the faults one at a time, in rounds of every kind in
// a random order, a random gap apart.
type injector struct {
	c      *cluster
	api    *client
	o      options
	rnd    *rand.Rand
	start  time.Time
	faults []*fault
}

func newInjector(c *cluster, api *client, o options, start time.Time) *injector {
	return &injector{c: c, api: api, o: o, rnd: rand.New(rand.NewPCG(uint64(o.seed), 2)), start: start}
}

// kinds are the faults this cluster can take: a stopped server fails
// over only to another.
func (in *injector) kinds() []string {
	var ks []string
	for _, k := range in.o.kinds {
		if k == faultStop && len(in.c.servers) < 2 {
			fmt.Println("no stop faults: with one server, nobody takes over from a stopped one")
			continue
		}
		ks = append(ks, k)
	}
	return ks
}

// run injects faults until stop is closed; the fault under way is
// finished (the server back) first.
func (in *injector) run(ctx context.Context, stop <-chan struct{}) error {
	kinds := in.kinds()
	if len(kinds) == 0 {
		return nil
	}
	var round []string
	for {
		gap := in.o.gap/2 + time.Duration(in.rnd.Int64N(int64(in.o.gap)))
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(gap):
		}
		if err := in.c.revive(ctx); err != nil {
			return err
		}
		if len(round) == 0 {
			round = slices.Clone(kinds)
			in.rnd.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		}
		f, err := in.inject(ctx, round[0])
		round = round[1:]
		if err != nil {
			return err
		}
		in.faults = append(in.faults, f)
		fmt.Println(in.describe(f))
	}
}

// inject injects one fault and waits until it is over.
func (in *injector) inject(ctx context.Context, kind string) (*fault, error) {
	f := &fault{kind: kind}
	if kind != faultDBRestart {
		s, err := in.target(ctx, kind)
		if err != nil {
			return nil, err
		}
		f.server = s
	}
	switch kind {
	case faultKill:
		return f, in.kill(ctx, f)
	case faultStop:
		return f, in.stop(ctx, f)
	case faultTerminate:
		return f, in.terminate(ctx, f)
	default:
		return f, in.restartDB(ctx, f)
	}
}

// target picks the server a fault hits: for a kill or a stop, one that
// runs a deploy if any does (that is what must fail over); else any.
func (in *injector) target(ctx context.Context, kind string) (*server, error) {
	anyone := in.c.servers[in.rnd.IntN(len(in.c.servers))]
	if kind != faultKill && kind != faultStop {
		return anyone, nil
	}
	ds, err := in.api.running(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("before a %s: %w", kind, err)
	}
	var busy []*server
	for _, s := range in.c.servers {
		if slices.ContainsFunc(ds, func(d *apiDeploy) bool { return d.Server == s.name }) {
			busy = append(busy, s)
		}
	}
	if len(busy) == 0 {
		return anyone, nil
	}
	return busy[in.rnd.IntN(len(busy))], nil
}

// kill kills the server with SIGKILL and starts it again: at once every
// other time, else once another server should have taken its deploys
// over (lease + poll, and a second), so that both are seen.
func (in *injector) kill(ctx context.Context, f *fault) error {
	if err := in.runningOn(ctx, f); err != nil {
		return err
	}
	kills := 0
	for _, g := range in.faults {
		if g.kind == faultKill {
			kills++
		}
	}
	f.back = 300 * time.Millisecond
	if kills%2 == 1 && len(in.c.servers) > 1 {
		f.back = in.o.lease + in.o.poll + time.Second
	}
	f.at = time.Now()
	f.server.kill()
	if err := sleep(ctx, f.back); err != nil {
		return err
	}
	var err error
	for range 3 {
		if err = f.server.start(ctx); err == nil {
			break
		}
		fmt.Printf("%s did not start again after a kill -9: %v\n", f.server.name, err)
	}
	f.back = time.Since(f.at)
	return err
}

// stop stops the server (SIGSTOP) for o.pause, past its lease, then lets
// it go on (SIGCONT).
func (in *injector) stop(ctx context.Context, f *fault) error {
	if err := in.runningOn(ctx, f); err != nil {
		return err
	}
	f.at = time.Now()
	f.server.pause()
	err := sleep(ctx, in.o.pause)
	f.server.resume()
	f.back = time.Since(f.at)
	return err
}

// terminate ends the server's database connections, found by their
// application_name.
func (in *injector) terminate(ctx context.Context, f *fault) error {
	conn, err := pgx.Connect(ctx, in.c.db.SuperDSN("postgres"))
	if err != nil {
		return fmt.Errorf("terminate: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// After a restart of PostgreSQL, the server may not have connected
	// again yet: wait a little for a connection to end.
	for deadline := time.Now().Add(in.o.lease); time.Now().Before(deadline); {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, f.server.name).Scan(&n)
		if err != nil {
			return fmt.Errorf("terminate: %w", err)
		}
		if n > 0 {
			break
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	f.at = time.Now()
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		f.server.name).Scan(&f.terminated)
	if err != nil {
		return fmt.Errorf("terminate: %w", err)
	}
	return nil
}

// restartDB restarts PostgreSQL: a fast shutdown, or every other time an
// immediate one (a crash: recovery from the write-ahead log).
func (in *injector) restartDB(ctx context.Context, f *fault) error {
	restarts := 0
	for _, g := range in.faults {
		if g.kind == faultDBRestart {
			restarts++
		}
	}
	f.crash = restarts%2 == 1
	f.at = time.Now()
	var err error
	if f.crash {
		err = in.c.db.Crash()
	} else {
		err = in.c.db.Stop()
	}
	if err == nil {
		err = in.c.db.Start(ctx)
	}
	f.back = time.Since(f.at)
	if err != nil {
		return fmt.Errorf("restarting PostgreSQL: %w", err)
	}
	return nil
}

// runningOn records the deploys the API says f.server runs, read from
// another server just before the fault.
func (in *injector) runningOn(ctx context.Context, f *fault) error {
	ds, err := in.api.running(ctx, f.server)
	if err != nil {
		return fmt.Errorf("before the %s of %s: %w", f.kind, f.server.name, err)
	}
	for _, d := range ds {
		if d.Server == f.server.name {
			f.deploys = append(f.deploys, d)
		}
	}
	return nil
}
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
