// Command scale measures deployq with a year of history for a thousand
// services: it builds a database through the store's own API (200 apps x
// 5 environments, 100,000 deploys, millions of log lines taken from real
// deploy output), then reports how long the environments and history
// pages take over real HTTP, how many bytes the logs take per byte of
// output, how fast old logs are pruned and the database backed up, and
// the idle memory and start time of `deployq serve` on that database.
//
//	go run ./bench/scale                       # the whole measure (a few minutes)
//	go run ./bench/scale -deploys 10000 -keep  # smaller, and keep the database
package main

import (
	"bufio"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

//go:embed testdata/corpus.log
var corpus string

func main() {
	o := options{}
	flag.IntVar(&o.apps, "apps", 200, "apps")
	flag.IntVar(&o.envs, "envs", 5, "environments per app")
	flag.IntVar(&o.deploys, "deploys", 100000, "deploys of history")
	flag.IntVar(&o.lines, "lines", 3200000, "log lines in all")
	flag.IntVar(&o.requests, "requests", 50, "requests per page measured")
	flag.StringVar(&o.dir, "dir", "", "where to build the database (default: a temporary directory)")
	flag.BoolVar(&o.keep, "keep", false, "keep the database")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

type options struct {
	apps, envs, deploys, lines, requests int
	dir                                  string
	keep                                 bool
}

func run(ctx context.Context, o options) error {
	if o.dir == "" {
		dir, err := os.MkdirTemp("", "deployq-scale")
		if err != nil {
			return err
		}
		o.dir = dir
	}
	if !o.keep {
		defer os.RemoveAll(o.dir)
	}
	data := filepath.Join(o.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	db := filepath.Join(data, "deployq.db")
	fmt.Printf("building %d apps x %d environments, %d deploys, %d log lines in %s\n", o.apps, o.envs, o.deploys, o.lines, o.dir)
	h := newHistory(o, corpusLines())
	start := time.Now()
	st, err := h.build(ctx, db)
	if err != nil {
		return err
	}
	fmt.Printf("built in %s: deploys %s, logs %s for %s of output: %.3f bytes stored per byte of output\n",
		time.Since(start).Round(time.Second), mb(st.deployBytes), mb(st.logBytes), mb(st.rawBytes), float64(st.logBytes)/float64(st.rawBytes))
	if err := measurePages(ctx, o, db, h); err != nil {
		return err
	}
	if err := measureServe(ctx, o, h); err != nil {
		return err
	}
	if err := measureBackup(ctx, o, db); err != nil {
		return err
	}
	return measurePrune(ctx, db, h)
}

// corpusLines is real deploy output: package installs, test runs, a
// build, one line each.
func corpusLines() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(corpus))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
