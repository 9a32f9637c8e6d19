package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/client"
	"github.com/deployq/deployq/queue"
)

// The client commands that only tell: queue, where, history and audit.

// showQueue is the queue command: what runs in each app and environment,
// then what is queued and waiting, in the order it goes.
func showQueue(ctx context.Context, x *call) error {
	_, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	all, err := c.Environments(ctx)
	if err != nil {
		return err
	}
	var es []api.Environment
	pending := 0
	for _, e := range all {
		if cmd.Env == "" || e.Env == cmd.Env {
			es = append(es, e)
			pending += e.Queued + e.Waiting
		}
	}
	if len(es) == 0 && cmd.Env != "" {
		return queue.Errorf(queue.ENotFound, "unknown environment %q", cmd.Env)
	}
	printLanes(x.stdout, es)
	if pending == 0 {
		fmt.Fprintln(x.stdout, "\nnothing queued or waiting")
		return nil
	}
	q := url.Values{"state": {"queued,waiting"}, "limit": {"1000"}}
	if cmd.Env != "" {
		q.Set("env", cmd.Env)
	}
	ds, err := c.Deploys(ctx, q)
	if err != nil {
		return err
	}
	printPending(x.stdout, es, ds)
	return nil
}

// printLanes shows what runs in each app and environment.
func printLanes(w io.Writer, es []api.Environment) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tENV\tCURRENT\tRUNNING\tQUEUED\tWAITING\tLOCK")
	for _, e := range es {
		cur, running, lock := "-", "-", "-"
		if e.Current != nil {
			cur = fmt.Sprintf("%s #%d", queue.ShortSHA(e.Current.SHA), e.Current.ID)
		}
		if e.Running != nil {
			running = fmt.Sprintf("#%d %s by %s", e.Running.ID, queue.ShortSHA(e.Running.SHA), e.Running.User) + verifyingNote(e.Running)
		}
		if e.Lock != nil {
			lock = e.Lock.Owner + prefixed(": ", e.Lock.Reason)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", e.App, e.Env, cur, running, e.Queued, e.Waiting, lock)
	}
	tw.Flush()
}

// printPending lists the queued and waiting deploys in the order they
// go: lane by lane, the queued in their turns (rollbacks first, then the
// oldest), then the waiting (they are queued when what they wait for
// clears).
func printPending(w io.Writer, es []api.Environment, ds []api.Deploy) {
	lane := map[string]int{}
	for i, e := range es {
		lane[e.App+" "+e.Env] = i
	}
	waits := func(d api.Deploy) int {
		if d.State == queue.StateQueued {
			return 0
		}
		return 1
	}
	slices.SortFunc(ds, func(a, b api.Deploy) int {
		return cmp.Or(cmp.Compare(lane[a.App+" "+a.Env], lane[b.App+" "+b.Env]), cmp.Compare(waits(a), waits(b)),
			queue.CompareTurns(a.Source, a.ID, b.Source, b.ID))
	})
	fmt.Fprintln(w, "\nqueued and waiting, in the order they go:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPP\tENV\tSTATE\tREF\tSHA\tBY\tASKED\tNOTE")
	for _, d := range ds {
		fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.App, d.Env, d.State, what(d), queue.ShortSHA(d.SHA),
			d.User, ago(d.CreatedAt), cmp.Or(d.WaitingFor, via(d), "-"))
	}
	tw.Flush()
}

// via says what does the deploy when deployq does not: a GitHub
// Actions job ("" for deployq's own runners).
func via(d api.Deploy) string {
	if d.Source == queue.SourceActions {
		return "via GitHub Actions"
	}
	return ""
}

// what is a deploy's ref, or the operation it is.
func what(d api.Deploy) string {
	switch {
	case d.Op == "scale":
		return "scale to " + strconv.Itoa(d.Instances)
	case d.Op != "":
		return d.Op
	}
	return d.Ref
}

// ago is how long ago t was: "5m ago", or "-".
func ago(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return queue.Age(time.Since(*t)) + " ago"
}

// lookupApp returns the environments of the app named (its name, or its
// GitHub owner/name), or ENotFound.
func lookupApp(ctx context.Context, c *client.Client, name string) ([]api.Environment, error) {
	all, err := c.Environments(ctx)
	if err != nil {
		return nil, err
	}
	var es []api.Environment
	var apps []string
	for _, e := range all {
		if e.App == name || e.Repo != "" && strings.EqualFold(e.Repo, name) {
			es = append(es, e)
		}
		if !slices.Contains(apps, e.App) {
			apps = append(apps, e.App)
		}
	}
	if len(es) == 0 {
		return nil, queue.Errorf(queue.ENotFound, "unknown app %q (apps: %s)", name, strings.Join(apps, ", "))
	}
	return es, nil
}

func where(ctx context.Context, x *call) error {
	_, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	es, err := lookupApp(ctx, c, cmd.App)
	if err != nil {
		return err
	}
	fmt.Fprintln(x.stdout, es[0].App)
	tw := tabwriter.NewWriter(x.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tCURRENT\tREF\tDEPLOYED\tRUNNING\tQUEUED\tHELD")
	for _, e := range es {
		cur, ref, deployed, running, held := "never deployed", "-", "-", "-", []string{}
		if d := e.Current; d != nil {
			cur, ref = queue.ShortSHA(d.SHA), d.Ref
			deployed = fmt.Sprintf("#%d by %s, %s", d.ID, d.User, ago(cmp.Or(d.FinishedAt, d.CreatedAt)))
		}
		if d := e.Running; d != nil {
			running = fmt.Sprintf("#%d %s by %s", d.ID, queue.ShortSHA(d.SHA), d.User) + verifyingNote(d)
		}
		if l := e.Lock; l != nil {
			held = append(held, "locked by "+l.Owner+prefixed(": ", l.Reason))
		}
		if e.Freeze != "" {
			held = append(held, "frozen: "+e.Freeze)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d queued, %d waiting\t%s\n", e.Env, cur, ref, deployed, running, e.Queued, e.Waiting,
			cmp.Or(strings.Join(held, "; "), "-"))
	}
	return tw.Flush()
}

// prefixed is p+s, or "" when s is.
func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func history(ctx context.Context, x *call) error {
	p, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	limit := 10
	if p.has("limit") {
		if limit, err = strconv.Atoi(p.get("limit")); err != nil || limit < 1 || limit > 1000 {
			return usageError{msg: "--limit: want a number from 1 to 1000"}
		}
	}
	es, err := lookupApp(ctx, c, cmd.App)
	if err != nil {
		return err
	}
	app := es[0].App
	if cmd.Env != "" && !slices.ContainsFunc(es, func(e api.Environment) bool { return e.Env == cmd.Env }) {
		return queue.Errorf(queue.ENotFound, "%s has no environment %q", app, cmd.Env)
	}
	ds, err := c.Deploys(ctx, url.Values{"app": {app}, "env": {cmd.Env}, "limit": {strconv.Itoa(limit)}})
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		fmt.Fprintf(x.stdout, "no deploys of %s yet\n", app)
		return nil
	}
	tw := tabwriter.NewWriter(x.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tENV\tSTATE\tREF\tSHA\tBY\tASKED\tNOTE")
	for _, d := range ds {
		sha := queue.ShortSHA(d.SHA)
		if d.Op != "" {
			sha = "-"
		}
		if d.Bad != nil {
			sha += " (bad)"
		}
		fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Env, d.State, what(d), sha, d.User, ago(d.CreatedAt),
			cmp.Or(d.Error, d.WaitingFor, "-"))
	}
	return tw.Flush()
}

func audit(ctx context.Context, x *call) error {
	p, c, err := x.connect()
	if err != nil {
		return err
	}
	if err := p.noWords(); err != nil {
		return err
	}
	es, err := c.Audit(ctx)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		fmt.Fprintln(x.stdout, "nothing done yet")
		return nil
	}
	tw := tabwriter.NewWriter(x.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tUSER\tACTION\tTARGET\tDETAIL")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05 MST"), e.User, e.Action, e.Target, cmp.Or(e.Detail, "-"))
	}
	return tw.Flush()
}

// verifyingNote says that a deploy verifies, and how far, when it does.
func verifyingNote(d *api.Deploy) string {
	if d.State != queue.StateVerifying {
		return ""
	}
	if d.Progress != nil && d.Progress.Message != "" {
		return " (verifying, " + d.Progress.Message + ")"
	}
	return " (verifying)"
}
