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
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
	"gopkg.in/yaml.v3"
)

// Strings is one value or a list of them in YAML.
type Strings []string

// UnmarshalYAML takes a scalar or a sequence.
func (s *Strings) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = Strings{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

// Canary is an app deployed, verified and baked before the main ones.
type Canary struct {
	AppID     string        `yaml:"app_id"`
	Instances int           `yaml:"instances"` // default 1
	Bake      time.Duration `yaml:"bake"`      // watch it this long, healthy, before the main apps
}

// Settings are an environment's marathon runner settings.
type Settings struct {
	URL                Strings       `yaml:"url"` // one or several: failover on connection errors
	User               string        `yaml:"user"`
	Password           string        `yaml:"password"`
	Token              string        `yaml:"token"` // DC/OS: Authorization: token=...
	CAFile             string        `yaml:"ca_file"`
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
	AppID              Strings       `yaml:"app_id"`         // one or several, deployed in this order
	Image              string        `yaml:"image"`          // template: registry.example.com/web:{sha}
	Force              bool          `yaml:"force"`          // PUT ?force=true (overrides a running deployment)
	Timeout            time.Duration `yaml:"timeout"`        // for each app to become healthy, default 10m
	HealthGrace        time.Duration `yaml:"health_grace"`   // new tasks may fail this long before it rolls back, default 1m
	LockedTimeout      time.Duration `yaml:"locked_timeout"` // wait this long for another deployment to clear, default 5m
	PollInterval       time.Duration `yaml:"poll_interval"`  // default 1s; events wake it sooner
	Canary             *Canary       `yaml:"canary"`
}

// Validate checks the settings.
func (s *Settings) Validate() error {
	if len(s.URL) == 0 {
		return errors.New("url is required (one or several Marathon URLs)")
	}
	for _, u := range s.URL {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("url %q: want http:// or https://", u)
		}
	}
	if len(s.AppID) == 0 {
		return errors.New("app_id is required")
	}
	ids := append([]string{}, s.AppID...)
	if s.Canary != nil {
		if s.Canary.AppID == "" {
			return errors.New("canary: app_id is required")
		}
		if s.Canary.Instances < 0 {
			return errors.New("canary: instances cannot be negative")
		}
		ids = append(ids, s.Canary.AppID)
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "/") || strings.ContainsAny(id, " ?#") {
			return fmt.Errorf("app_id %q: want an absolute Marathon id like /prod/web", id)
		}
	}
	if s.Image == "" {
		return errors.New("image is required (a template like registry.example.com/web:{sha})")
	}
	if _, err := runners.ExpandPlain(s.Image, runners.Placeholders(queue.Job{})); err != nil {
		return fmt.Errorf("image: %v", err)
	}
	if s.User != "" && s.Token != "" {
		return errors.New("user/password and token are exclusive")
	}
	return nil
}

func (s *Settings) timeout() time.Duration      { return orDefault(s.Timeout, 10*time.Minute) }
func (s *Settings) grace() time.Duration        { return orDefault(s.HealthGrace, time.Minute) }
func (s *Settings) lockedWait() time.Duration   { return orDefault(s.LockedTimeout, 5*time.Minute) }
func (s *Settings) pollInterval() time.Duration { return orDefault(s.PollInterval, time.Second) }

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Labels deployq sets on the apps it deploys.
const (
	LabelDeploy           = "DEPLOYQ_DEPLOY_ID"
	LabelSHA              = "DEPLOYQ_SHA"
	LabelUser             = "DEPLOYQ_USER"
	LabelStoppedInstances = "DEPLOYQ_STOPPED_INSTANCES" // what `stop` scaled down from, for `start`
)

// Runner is the marathon runner.
type Runner struct {
	mu      sync.Mutex
	clients map[*Settings]*Client
}

// New returns a marathon runner.
func New() *Runner { return &Runner{clients: map[*Settings]*Client{}} }

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

// followEvents reads /v2/events, logs task failures of the apps being
// followed and wakes the follower on anything about them. Without an
// event stream, following polls alone.
func (x *run) followEvents(ctx context.Context, attached chan<- bool) {
	once := sync.Once{}
	err := x.c.Events(ctx, func(e Event) {
		once.Do(func() { attached <- true })
		x.mu.Lock()
		v, ours := x.version[e.AppID]
		if ours && e.Type == "status_update_event" && failedState(e.TaskStatus) && (v == "" || e.Version == v) {
			x.failed[e.AppID] = append(x.failed[e.AppID], fmt.Sprintf("task %s on %s: %s: %s", e.TaskID, e.Host, e.TaskStatus, e.Message))
		}
		x.mu.Unlock()
		if ours || strings.HasPrefix(e.Type, "deployment_") {
			select {
			case x.wake <- struct{}{}:
			default:
			}
		}
	})
	once.Do(func() { attached <- false })
	_ = err
}

func failedState(s string) bool {
	switch s {
	case "TASK_FAILED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE", "TASK_UNREACHABLE":
		return true
	}
	return false
}

// Run deploys job.
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
	prev := def.Clone()
	next := def.Clone()
	old := next.Container.Docker.Image
	next.Container.Docker.Image = image
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	next.Labels[LabelDeploy] = strconv.FormatInt(x.job.DeployID, 10)
	next.Labels[LabelSHA] = x.job.SHA
	next.Labels[LabelUser] = x.job.User
	if instances != nil {
		next.Instances = instances
	}
	x.logf("%s: image %s -> %s", id, old, image)
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

func instancesOf(d *AppDefinition) int {
	if d.Instances == nil {
		return 1
	}
	return *d.Instances
}

func notFound(err error, id string) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return fmt.Errorf("no such app in Marathon")
	}
	return err
}

// put PUTs a definition. A 409 "locked by deployment" waits for the
// deployments on the app to clear, then tries again, up to
// locked_timeout; a 5xx or a connection error is retried a few times.
func (x *run) put(ctx context.Context, def *AppDefinition, force bool) (DeploymentResult, error) {
	force = force || x.st.Force
	lockedSince := time.Time{}
	fails := 0
	for {
		res, err := x.c.PutApp(ctx, def, force)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if ae, ok := Locked(err); ok {
			if lockedSince.IsZero() {
				lockedSince = time.Now()
				x.logf("%s is locked by deployment %s: waiting up to %s for it to clear (%s)", def.ID,
					strings.Join(ae.Deployments, ", "), x.st.lockedWait(), ae.Message)
			}
			if time.Since(lockedSince) > x.st.lockedWait() {
				return res, fmt.Errorf("locked by deployment %s for more than %s", strings.Join(ae.Deployments, ", "), x.st.lockedWait())
			}
			if err := x.waitClear(ctx, def.ID, lockedSince.Add(x.st.lockedWait())); err != nil {
				return res, err
			}
			continue
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status < 500 {
			return res, err
		}
		fails++
		if fails > 4 {
			return res, err
		}
		x.logf("%s: %v: retrying", def.ID, err)
		if err := x.sleep(ctx, time.Duration(fails)*x.st.pollInterval()); err != nil {
			return res, err
		}
	}
}

// waitClear waits until no deployment affects app id.
func (x *run) waitClear(ctx context.Context, id string, until time.Time) error {
	for time.Now().Before(until) {
		ds, err := x.c.Deployments(ctx)
		if err == nil && !affects(ds, id, "") {
			return nil
		}
		if err := x.sleep(ctx, x.st.pollInterval()); err != nil {
			return err
		}
	}
	return nil
}

func affects(ds []Deployment, app, id string) bool {
	for _, d := range ds {
		if id != "" && d.ID == id {
			return true
		}
		if id == "" {
			for _, a := range d.AffectedApps {
				if a == app {
					return true
				}
			}
		}
	}
	return false
}

// sleep waits d, or less when an event about our apps arrives.
func (x *run) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-x.wake:
	}
	return nil
}

// follow waits until ch's deployment is gone and every task of its
// version runs and is healthy. New tasks that fail or fail health checks
// for longer than health_grace fail it, as does the timeout.
func (x *run) follow(ctx context.Context, ch *change, timeout time.Duration, phase string) error {
	x.mu.Lock()
	x.version[ch.id] = ch.version
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		delete(x.version, ch.id)
		x.mu.Unlock()
	}()
	deadline := time.Now().Add(timeout)
	var unhealthySince time.Time
	lastMsg, lastFailure := "", ""
	failures := 0
	for {
		ds, err := x.c.Deployments(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			x.logf("%s: reading deployments: %v", ch.id, err)
		}
		_, st, err := x.c.GetApp(ctx, ch.id)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			x.logf("%s: reading the app: %v", ch.id, err)
		}
		if err == nil {
			healthy, running, unhealthy := 0, 0, 0
			for i := range st.Tasks {
				t := &st.Tasks[i]
				if (phase == "deploy" || phase == "restart") && t.Version != ch.version {
					continue
				}
				if t.Running() {
					running++
				}
				if t.Healthy(ch.checks) {
					healthy++
				}
				if t.Unhealthy() {
					unhealthy++
				}
			}
			msg := fmt.Sprintf("tasks healthy %d/%d", healthy, ch.instances)
			if unhealthy > 0 {
				msg += fmt.Sprintf(", %d failing health checks", unhealthy)
			}
			if msg != lastMsg {
				lastMsg = msg
				x.logf("%s: %s", ch.id, msg)
				x.out.Progress(queue.Progress{Phase: phase, Done: healthy, Total: ch.instances, Message: ch.id + ": " + msg})
			}
			// task failures: from the event stream, or the app's last one
			x.mu.Lock()
			fs := x.failed[ch.id]
			delete(x.failed, ch.id)
			x.mu.Unlock()
			if !x.events && st.LastTaskFailure != nil && st.LastTaskFailure.TaskID != lastFailure &&
				(phase != "deploy" || st.LastTaskFailure.Version == ch.version) {
				f := st.LastTaskFailure
				fs = append(fs, fmt.Sprintf("task %s on %s: %s: %s", f.TaskID, f.Host, f.State, f.Message))
			}
			if st.LastTaskFailure != nil {
				lastFailure = st.LastTaskFailure.TaskID
			}
			for _, f := range fs {
				x.logf("%s: %s", ch.id, f)
			}
			failures += len(fs)
			present := affects(ds, ch.id, ch.deployment)
			if !present && ds != nil && healthy >= ch.instances {
				x.logf("%s: healthy (%d/%d)", ch.id, healthy, ch.instances)
				return nil
			}
			if !present && ds != nil && ch.instances == 0 {
				return nil
			}
			// a rollback or an operation only has its timeout: old tasks
			// may fail on their way out
			bad := phase == "deploy" && (unhealthy > 0 || len(fs) > 0)
			switch {
			case bad && unhealthySince.IsZero():
				unhealthySince = time.Now()
			case !bad && running > 0 && healthy == running:
				unhealthySince = time.Time{} // all new tasks healthy again
			}
			if !unhealthySince.IsZero() && time.Since(unhealthySince) >= x.st.grace() {
				return fmt.Errorf("%s: unhealthy: %s, %d task failure(s), for more than %s", ch.id, msg, failures, x.st.grace())
			}
			if phase == "deploy" && !present && ds != nil && unhealthySince.IsZero() && running >= ch.instances && healthy < ch.instances {
				// the deployment ended (someone cancelled it?) without the
				// tasks healthy: give the health checks the grace
				unhealthySince = time.Now()
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not healthy within %s (%s)", ch.id, timeout, lastMsg)
		}
		if err := x.sleep(ctx, x.st.pollInterval()); err != nil {
			return err
		}
	}
}

// bake watches the canary, healthy, for d.
func (x *run) bake(ctx context.Context, id string, d time.Duration) error {
	x.logf("%s: baking for %s", id, d)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if err := x.sleep(ctx, min(x.st.pollInterval(), time.Until(end))); err != nil {
			return err
		}
		_, st, err := x.c.GetApp(ctx, id)
		if err != nil {
			continue
		}
		x.mu.Lock()
		fs := x.failed[id]
		delete(x.failed, id)
		x.mu.Unlock()
		unhealthy := 0
		for i := range st.Tasks {
			if st.Tasks[i].Unhealthy() || !st.Tasks[i].Running() {
				unhealthy++
			}
		}
		if unhealthy > 0 || len(fs) > 0 {
			for _, f := range fs {
				x.logf("%s: %s", id, f)
			}
			return fmt.Errorf("unhealthy while baking: %d task(s) failing", unhealthy+len(fs))
		}
	}
	x.logf("%s: baked %s, healthy", id, d)
	return nil
}

// rollback takes every changed app back, newest first, and waits until
// each is healthy on its previous version.
func (x *run) rollback(ctx context.Context, why string) string {
	if len(x.changed) == 0 {
		return ""
	}
	x.logf("rolling back %d app(s): %s", len(x.changed), why)
	var back, notBack []string
	for i := len(x.changed) - 1; i >= 0; i-- {
		ch := x.changed[i]
		if err := x.rollbackApp(ctx, ch); err != nil {
			ch.state = "rollback failed: " + err.Error()
			x.logf("%s: rollback failed: %v", ch.id, err)
			notBack = append(notBack, ch.id)
			continue
		}
		ch.state = "rolled back"
		back = append(back, ch.id)
	}
	var parts []string
	if len(back) > 0 {
		parts = append(parts, "rolled back: "+strings.Join(back, ", "))
	}
	if len(notBack) > 0 {
		parts = append(parts, "NOT rolled back: "+strings.Join(notBack, ", "))
	}
	return strings.Join(parts, "; ")
}

// rollbackApp cancels the app's deployment the Marathon way (DELETE
// /v2/deployments/{id}: Marathon takes the app back) while it runs, or
// PUTs the previous definition once it is over.
func (x *run) rollbackApp(ctx context.Context, ch *change) error {
	ds, err := x.c.Deployments(ctx)
	if err != nil {
		return err
	}
	var res DeploymentResult
	if affects(ds, ch.id, ch.deployment) {
		x.logf("%s: rolling back deployment %s", ch.id, ch.deployment)
		res, err = x.c.RollbackDeployment(ctx, ch.deployment)
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			err = errPutPrevious // it ended meanwhile
		}
	} else {
		err = errPutPrevious
	}
	if errors.Is(err, errPutPrevious) {
		x.logf("%s: restoring the previous definition", ch.id)
		res, err = x.put(ctx, ch.prev, false)
	}
	if err != nil {
		return err
	}
	back := &change{id: ch.id, deployment: res.DeploymentID, version: res.Version,
		instances: instancesOf(ch.prev), checks: len(ch.prev.HealthChecks)}
	return x.follow(ctx, back, x.st.timeout(), "rollback")
}

var errPutPrevious = errors.New("put the previous definition")

// table ends the log with where each app stands.
func (x *run) table() {
	if len(x.changed) == 0 {
		return
	}
	width := 3
	for _, ch := range x.changed {
		width = max(width, len(ch.id))
	}
	x.logf("%-*s  %s", width, "APP", "STATE")
	for _, ch := range x.changed {
		x.logf("%-*s  %s", width, ch.id, ch.state)
	}
}

// Operate scales, stops, starts or restarts the environment's apps (not
// the canary), following each deployment until the app is healthy.
// stop remembers the instance count in a label, for start.
func (r *Runner) Operate(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	x, stop, err := r.start(ctx, job, out)
	if err != nil {
		return queue.Result{}, err
	}
	defer stop()
	var failure error
	for _, id := range x.st.AppID {
		if failure = x.operate(ctx, id, job.Op, job.Instances); failure != nil {
			break
		}
	}
	if failure == nil {
		x.table()
		return queue.Result{OK: true}, nil
	}
	if ctx.Err() != nil {
		// a cancel: Marathon's rollback of the running deployment
		x.rollback(context.WithoutCancel(ctx), context.Cause(ctx).Error())
		x.table()
		return queue.Result{}, ctx.Err()
	}
	x.table()
	return queue.Result{Message: failure.Error()}, nil
}

func (x *run) operate(ctx context.Context, id, op string, n int) error {
	def, _, err := x.c.GetApp(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %v", id, notFound(err, id))
	}
	prev := def.Clone()
	next := def.Clone()
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	cur := instancesOf(def)
	var res DeploymentResult
	switch op {
	case "scale":
		x.logf("%s: scale %d -> %d", id, cur, n)
		next.Instances = &n
		delete(next.Labels, LabelStoppedInstances)
	case "stop":
		if cur == 0 {
			x.logf("%s: already stopped", id)
			return nil
		}
		x.logf("%s: stop (scale %d -> 0, remembered for start)", id, cur)
		zero := 0
		next.Instances = &zero
		next.Labels[LabelStoppedInstances] = strconv.Itoa(cur)
	case "start":
		v, ok := def.Labels[LabelStoppedInstances]
		was, err := strconv.Atoi(v)
		if !ok || err != nil || was <= 0 {
			if cur > 0 {
				x.logf("%s: already running %d instance(s)", id, cur)
				return nil
			}
			return fmt.Errorf("%s was not stopped by deployq: no instance count to start with (use scale)", id)
		}
		x.logf("%s: start (scale 0 -> %d)", id, was)
		next.Instances = &was
		delete(next.Labels, LabelStoppedInstances)
	case "restart":
		x.logf("%s: restart %d task(s)", id, cur)
		res, err = x.c.Restart(ctx, id)
		if err != nil {
			return fmt.Errorf("%s: %v", id, err)
		}
	default:
		return fmt.Errorf("unknown operation %q", op)
	}
	if op != "restart" {
		if res, err = x.put(ctx, next, false); err != nil {
			return fmt.Errorf("%s: %v", id, err)
		}
	}
	ch := &change{id: id, prev: prev, deployment: res.DeploymentID, version: res.Version,
		instances: instancesOf(next), checks: len(next.HealthChecks), state: op}
	x.changed = append(x.changed, ch)
	x.logf("%s: deployment %s", id, res.DeploymentID)
	if err := x.follow(ctx, ch, x.st.timeout(), op); err != nil {
		ch.state = op + " failed"
		return err
	}
	ch.state = op + " done"
	return nil
}
