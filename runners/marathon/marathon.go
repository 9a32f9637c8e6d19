// Package marathon runs deploys on Marathon (REST API v2): it sets an
// app's docker image from a template and labels it with the deploy, PUTs
// the app, follows the deployment Marathon starts until every task of the
// new version runs and passes its health checks, and on unhealthy tasks,
// a timeout or a cancel rolls the app back (Marathon's own rollback of a
// deployment, or a PUT of the previous definition) and waits until the
// previous version is healthy. An optional canary app goes first. It also
// scales, stops, starts and restarts apps (queue.Operator).
package marathon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
)

// Runner is the marathon runner.
type Runner struct {
	mu      sync.Mutex
	clients map[*Settings]*Client
}

// New returns a marathon runner.
func New() *Runner { return &Runner{clients: map[*Settings]*Client{}} }

// client is the settings' Marathon client, made once per environment.
func (r *Runner) client(st *Settings) (*Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[st]; ok {
		return c, nil
	}
	c, err := NewClient(ClientOptions{URLs: st.URL, User: st.User, Password: st.Password, Token: st.Token,
		CAFile: st.CAFile, InsecureSkipVerify: st.InsecureSkipVerify})
	if err != nil {
		return nil, err
	}
	r.clients[st] = c
	return c, nil
}

// change is an app this run changed, with its definition before.
type change struct {
	id         string
	prev       *AppDefinition
	deployment string // the deployment doing the change
	version    string // the app version it makes
	instances  int    // wanted
	checks     int    // health checks of the new definition
	state      string
}

// run is one deploy or operation: its client, its log, what it changed,
// and what the event stream told of the apps it follows.
type run struct {
	c       *Client
	st      *Settings
	job     queue.Job
	out     queue.Output
	log     io.WriteCloser
	changed []*change
	wake    chan struct{} // events for our apps
	events  bool          // the event stream is attached: task failures come from it

	mu      sync.Mutex
	failed  map[string][]string // app id -> task failures of the new version seen since the last look
	version map[string]string   // app id -> the version being followed
}

// start begins a run: the client of its settings, its log, and the
// event stream, waited for a moment (without one, following polls).
// The returned func ends the stream and closes the log.
func (r *Runner) start(ctx context.Context, job queue.Job, out queue.Output) (*run, context.CancelFunc, error) {
	st, ok := job.Settings.(*Settings)
	if !ok {
		return nil, nil, fmt.Errorf("marathon runner: settings are %T", job.Settings)
	}
	c, err := r.client(st)
	if err != nil {
		return nil, nil, err
	}
	x := &run{c: c, st: st, job: job, out: out, log: out.Stream(queue.StreamStdout, ""),
		wake: make(chan struct{}, 1), failed: map[string][]string{}, version: map[string]string{}}
	evctx, stop := context.WithCancel(ctx)
	attached := make(chan bool, 1)
	go x.followEvents(evctx, attached)
	select {
	case x.events = <-attached:
	case <-time.After(2 * time.Second):
	}
	return x, func() { stop(); x.log.Close() }, nil
}

func (x *run) logf(format string, args ...any) { fmt.Fprintf(x.log, format+"\n", args...) }

// Run implements queue.Runner: it deploys job's image to the canary, then
// to the apps in order. An app that does not become healthy ran and
// failed (and is rolled back); settings it cannot use could not run.
func (r *Runner) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	x, stop, err := r.start(ctx, job, out)
	if err != nil {
		return queue.Result{}, err
	}
	defer stop()
	image, err := runners.ExpandPlain(x.st.Image, runners.Placeholders(job))
	if err != nil {
		return queue.Result{}, err
	}
	var failure error
	if cn := x.st.Canary; cn != nil {
		n := cn.Instances
		if n == 0 {
			n = 1
		}
		x.logf("canary %s: %d instance(s) of %s", cn.AppID, n, image)
		failure = x.deployApp(ctx, cn.AppID, image, &n)
		if failure == nil && cn.Bake > 0 {
			failure = x.bake(ctx, cn.AppID, cn.Bake)
		}
		if failure != nil {
			failure = fmt.Errorf("canary %s: %w (the main apps were not touched)", cn.AppID, failure)
		}
	}
	for _, id := range x.st.AppID {
		if failure != nil {
			break
		}
		failure = x.deployApp(ctx, id, image, nil)
	}
	return x.end(ctx, failure)
}

// end rolls back on failure and reports.
func (x *run) end(ctx context.Context, failure error) (queue.Result, error) {
	return runners.Undoable{Undo: x.rollback, Table: x.table, Log: x.logf, Left: "the deployment was left to Marathon"}.Finish(ctx, failure)
}

// deployApp sets one app's image and labels, PUTs it and follows the
// deployment. instances, when set, is the count to run (the canary's).
func (x *run) deployApp(ctx context.Context, id, image string, instances *int) error {
	def, _, err := x.c.GetApp(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %v", id, notFound(err, id))
	}
	if def.Container == nil || def.Container.Docker == nil {
		return fmt.Errorf("%s has no docker container whose image could be set", id)
	}
	prev, next := def.Clone(), desired(def, x.job, image, instances)
	x.logf("%s: image %s -> %s", id, prev.Container.Docker.Image, image)
	ch := &change{id: id, prev: prev, instances: instancesOf(next), checks: len(next.HealthChecks), state: "changing"}
	res, err := x.put(ctx, next, false)
	if err != nil {
		ch.state = "not changed: " + err.Error()
		return fmt.Errorf("%s: %v", id, err)
	}
	x.changed = append(x.changed, ch)
	ch.deployment, ch.version = res.DeploymentID, res.Version
	x.logf("%s: deployment %s (version %s)", id, res.DeploymentID, res.Version)
	if err := x.follow(ctx, ch, x.st.timeout(), "deploy"); err != nil {
		return err
	}
	ch.state = "deployed"
	return nil
}

// desired is def as a deploy of job sets it: its image and deployq's
// labels, and instances when set (the canary's).
func desired(def *AppDefinition, job queue.Job, image string, instances *int) *AppDefinition {
	next := def.Clone()
	next.Container.Docker.Image = image
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	next.Labels[LabelDeploy] = strconv.FormatInt(job.DeployID, 10)
	next.Labels[LabelSHA] = job.SHA
	next.Labels[LabelUser] = job.User
	if instances != nil {
		next.Instances = instances
	}
	return next
}

// instancesOf is a definition's instance count (Marathon's default 1).
func instancesOf(d *AppDefinition) int {
	if d.Instances == nil {
		return 1
	}
	return *d.Instances
}

// notFound says a 404 plainly.
func notFound(err error, id string) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return fmt.Errorf("no such app in Marathon")
	}
	return err
}
