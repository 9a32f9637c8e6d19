// Package kubernetes runs deploys on Kubernetes with client-go: it sets
// container images from templates on Deployments, StatefulSets and
// DaemonSets, or applies a directory of manifests server-side, follows
// each rollout with a watch until it completes (the rules of `kubectl
// rollout status`), streams the Warning events of the workload's pods into
// the log, and on a progress deadline, a timeout or a cancel restores the
// pod template of every workload it changed and waits for that.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"
)

// Target is one workload whose containers get new images.
type Target struct {
	Workload   string            `yaml:"workload"`   // deployment/web, statefulset/db, daemonset/agent
	Containers map[string]string `yaml:"containers"` // container name: image template, e.g. registry.example.com/web:{sha}
}

// Settings are an environment's kubernetes runner settings.
type Settings struct {
	Kubeconfig  string        `yaml:"kubeconfig"` // a path; empty: the in-cluster config
	Context     string        `yaml:"context"`    // the kubeconfig context; empty: its current one
	Namespace   string        `yaml:"namespace"`  // empty: the context's, or "default"
	Targets     []Target      `yaml:"targets"`
	Manifests   string        `yaml:"manifests"`    // a directory of YAML, applied server-side; {sha} etc. in image fields
	Timeout     time.Duration `yaml:"timeout"`      // for each rollout, default 10m
	UndoTimeout time.Duration `yaml:"undo_timeout"` // for each undo, default 5m
}

// kinds are the workloads whose rollouts are followed.
var kinds = map[string]schema.GroupVersionResource{
	"deployment":  {Group: "apps", Version: "v1", Resource: "deployments"},
	"statefulset": {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"daemonset":   {Group: "apps", Version: "v1", Resource: "daemonsets"},
}

// kindAliases are kubectl's short and plural names.
var kindAliases = map[string]string{
	"deploy": "deployment", "deployments": "deployment",
	"sts": "statefulset", "statefulsets": "statefulset",
	"ds": "daemonset", "daemonsets": "daemonset",
}

// Validate checks the settings.
func (s *Settings) Validate() error {
	if len(s.Targets) == 0 && s.Manifests == "" {
		return errors.New("targets or manifests is required")
	}
	for i, t := range s.Targets {
		if _, _, err := parseWorkload(t.Workload); err != nil {
			return fmt.Errorf("targets[%d]: %v", i, err)
		}
		if len(t.Containers) == 0 {
			return fmt.Errorf("targets[%d] (%s): containers is required (name: image template)", i, t.Workload)
		}
		for name, tmpl := range t.Containers {
			if _, err := runners.ExpandPlain(tmpl, runners.Placeholders(queue.Job{})); err != nil {
				return fmt.Errorf("targets[%d] (%s) container %s: %v", i, t.Workload, name, err)
			}
		}
	}
	if s.Manifests != "" {
		if fi, err := os.Stat(s.Manifests); err != nil || !fi.IsDir() {
			return fmt.Errorf("manifests %q: not a directory", s.Manifests)
		}
	}
	if s.Timeout < 0 || s.UndoTimeout < 0 {
		return errors.New("timeouts cannot be negative")
	}
	return nil
}

func parseWorkload(w string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(w, "/")
	kind = strings.ToLower(kind)
	if k, ok := kindAliases[kind]; ok {
		kind = k
	}
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("workload %q: want kind/name, e.g. deployment/web", w)
	}
	if _, ok := kinds[kind]; !ok {
		return "", "", fmt.Errorf("workload %q: kind must be deployment, statefulset or daemonset", w)
	}
	return kind, name, nil
}

// Runner is the kubernetes runner.
type Runner struct {
	mu      sync.Mutex
	clients map[*Settings]*clients
}

// New returns a kubernetes runner.
func New() *Runner { return &Runner{clients: map[*Settings]*clients{}} }

type clients struct {
	typed  kubernetes.Interface
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	ns     string
}

// client connects once per environment.
func (r *Runner) client(st *Settings) (*clients, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[st]; ok {
		return c, nil
	}
	var cfg *rest.Config
	ns := st.Namespace
	if st.Kubeconfig == "" {
		var err error
		if cfg, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("no kubeconfig set and not in a cluster: %v", err)
		}
	} else {
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: st.Kubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: st.Context})
		var err error
		if cfg, err = cc.ClientConfig(); err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %v", st.Kubeconfig, err)
		}
		if ns == "" {
			ns, _, _ = cc.Namespace()
		}
	}
	if ns == "" {
		ns = "default"
	}
	cfg.UserAgent = "deployq"
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &clients{typed: typed, dyn: dyn, ns: ns,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(typed.Discovery()))}
	r.clients[st] = c
	return c, nil
}

// Annotations deployq sets on what it changes.
const (
	AnnotationDeploy = "deployq.dev/deploy-id"
	AnnotationSHA    = "deployq.dev/sha"
	AnnotationUser   = "deployq.dev/user"
	ChangeCause      = "kubernetes.io/change-cause"
	fieldManager     = "deployq"
)

// change is a workload this deploy changed, with what it was before.
type change struct {
	w        workload
	template map[string]any // the pod template before; nil: created by this deploy
	state    string         // rolled out, failed, undone, ...
}

type workload struct {
	gvr        schema.GroupVersionResource
	kind, name string
	ns         string
}

func (w workload) String() string { return w.kind + "/" + w.name }

// Run deploys job.
func (r *Runner) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	st, ok := job.Settings.(*Settings)
	if !ok {
		return queue.Result{}, fmt.Errorf("kubernetes runner: settings are %T", job.Settings)
	}
	c, err := r.client(st)
	if err != nil {
		return queue.Result{}, err
	}
	log := out.Stream(queue.StreamStdout, "")
	defer log.Close()
	d := &deploy{c: c, st: st, job: job, out: out, log: log, values: runners.Placeholders(job)}
	return d.run(ctx)
}

// deploy is one run.
type deploy struct {
	c       *clients
	st      *Settings
	job     queue.Job
	out     queue.Output
	log     io.Writer
	values  map[string]string
	changed []*change
}

func (d *deploy) logf(format string, args ...any) {
	fmt.Fprintf(d.log, format+"\n", args...)
}

func (d *deploy) changeCause() string {
	return fmt.Sprintf("deployq #%d: %s@%s (%s) to %s by %s", d.job.DeployID, d.job.App, d.job.Ref, queue.ShortSHA(d.job.SHA), d.job.Env, d.job.User)
}

func (d *deploy) annotate(obj *unstructured.Unstructured, cause string) {
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[AnnotationDeploy] = fmt.Sprint(d.job.DeployID)
	a[AnnotationSHA] = d.job.SHA
	a[AnnotationUser] = d.job.User
	a[ChangeCause] = cause
	obj.SetAnnotations(a)
}

func (d *deploy) run(ctx context.Context) (queue.Result, error) {
	var failure error
	if d.st.Manifests != "" {
		failure = d.applyManifests(ctx)
	}
	for _, t := range d.st.Targets {
		if failure != nil {
			break
		}
		failure = d.setImages(ctx, t)
	}
	return runners.Undoable{Undo: d.undo, Table: d.table, Log: d.logf, Left: "the rollout was left to the cluster"}.Finish(ctx, failure)
}

// setImages updates one target's container images and follows its rollout.
func (d *deploy) setImages(ctx context.Context, t Target) error {
	kind, name, _ := parseWorkload(t.Workload)
	w := workload{gvr: kinds[kind], kind: kind, name: name, ns: d.c.ns}
	images := map[string]string{}
	for cname, tmpl := range t.Containers {
		img, err := runners.ExpandPlain(tmpl, d.values)
		if err != nil {
			return fmt.Errorf("%s container %s: %v", w, cname, err)
		}
		if img == "" || strings.ContainsAny(img, " \t\r\n") {
			return fmt.Errorf("%s container %s: bad image %q", w, cname, img)
		}
		images[cname] = img
	}
	res := d.c.dyn.Resource(w.gvr).Namespace(w.ns)
	since := d.eventsNow(ctx, w.ns)
	var ch *change
	var updated *unstructured.Unstructured
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := res.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		tmpl, _, err := unstructured.NestedMap(obj.Object, "spec", "template")
		if err != nil || tmpl == nil {
			return fmt.Errorf("%s has no pod template", w)
		}
		var lines []string
		if err := setContainerImages(obj, images, func(c, from, to string) {
			lines = append(lines, fmt.Sprintf("%s: container %s: %s -> %s", w, c, from, to))
		}); err != nil {
			return fmt.Errorf("%s: %v", w, err)
		}
		d.annotate(obj, d.changeCause())
		updated, err = res.Update(ctx, obj, metav1.UpdateOptions{FieldManager: fieldManager})
		if err == nil {
			ch = &change{w: w, template: tmpl, state: "changed"}
			for _, l := range lines {
				d.logf("%s", l)
			}
		}
		return err
	})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%s not found in namespace %s", w, w.ns)
		}
		return fmt.Errorf("update %s: %v", w, err)
	}
	d.changed = append(d.changed, ch)
	return d.follow(ctx, ch, updated, d.st.Timeout, "rollout", since)
}

// eventsNow is the resource version of the namespace's events now: the
// Warning events of a change are followed from before it is made, so the
// first ones (a scheduler's, within milliseconds) are not missed.
func (d *deploy) eventsNow(ctx context.Context, ns string) string {
	list, err := d.c.typed.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning", Limit: 1})
	if err != nil {
		return ""
	}
	return list.ResourceVersion
}

// setContainerImages sets the images of the named containers (and init
// containers) of a workload's pod template.
func setContainerImages(obj *unstructured.Unstructured, images map[string]string, changed func(c, from, to string)) error {
	found := map[string]bool{}
	var have []string
	for _, field := range []string{"initContainers", "containers"} {
		path := []string{"spec", "template", "spec", field}
		list, _, err := unstructured.NestedSlice(obj.Object, path...)
		if err != nil {
			return err
		}
		for i, item := range list {
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			n, _ := m["name"].(string)
			have = append(have, n)
			if img, ok := images[n]; ok {
				old, _ := m["image"].(string)
				m["image"] = img
				list[i] = m
				found[n] = true
				changed(n, old, img)
			}
		}
		if err := unstructured.SetNestedSlice(obj.Object, list, path...); err != nil {
			return err
		}
	}
	for n := range images {
		if !found[n] {
			return fmt.Errorf("no container %q (it has: %s)", n, strings.Join(have, ", "))
		}
	}
	return nil
}

// follow watches a workload until its rollout completes, fails or the
// timeout passes, streaming the Warning events of its pods meanwhile.
func (d *deploy) follow(ctx context.Context, ch *change, obj *unstructured.Unstructured, timeout time.Duration, phase, since string) error {
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	w := ch.w
	wctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%s did not finish its %s within %s", w, phase, timeout))
	defer cancel()
	evctx, stopEvents := context.WithCancel(wctx)
	var evDone sync.WaitGroup
	evDone.Add(1)
	go func() { defer evDone.Done(); d.events(evctx, w, obj, since) }()
	defer func() { stopEvents(); evDone.Wait() }()

	res := d.c.dyn.Resource(w.gvr).Namespace(w.ns)
	sel := "metadata.name=" + w.name
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return res.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return res.Watch(ctx, o)
		},
	}
	last := ""
	var failed error
	_, err := watchtools.UntilWithSync(wctx, lw, &unstructured.Unstructured{}, nil, func(e watch.Event) (bool, error) {
		switch e.Type {
		case watch.Deleted:
			return false, fmt.Errorf("%s was deleted during its %s", w, phase)
		case watch.Added, watch.Modified:
		default:
			return false, nil
		}
		u, ok := e.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		r, err := rolloutStatus(u)
		if err != nil {
			return false, err
		}
		if r.msg != last {
			last = r.msg
			d.logf("%s: %s", w, r.msg)
			d.out.Progress(queue.Progress{Phase: phase, Done: r.available, Total: r.want,
				Message: fmt.Sprintf("%s: replicas %d/%d updated, %d available", w, r.updated, r.want, r.available)})
		}
		if r.deadline {
			failed = fmt.Errorf("%s: progress deadline exceeded", w)
			return true, nil
		}
		return r.done, nil
	})
	switch {
	case failed != nil:
		ch.state = "failed: progress deadline exceeded"
		return failed
	case err == nil:
		ch.state = "rolled out"
		if phase == "undo" {
			ch.state = "undone"
		}
		return nil
	case ctx.Err() != nil:
		ch.state = "interrupted"
		return context.Cause(ctx)
	case wctx.Err() != nil:
		ch.state = "failed: timed out"
		return context.Cause(wctx)
	default:
		ch.state = "failed"
		return fmt.Errorf("following %s: %v", w, err)
	}
}

// events streams the Warning events of a workload, its ReplicaSets and
// its pods, from now on, as log lines.
func (d *deploy) events(ctx context.Context, w workload, obj *unstructured.Unstructured, since string) {
	selMap, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "selector", "matchLabels")
	selector := labels.SelectorFromSet(selMap)
	evs := d.c.typed.CoreV1().Events(w.ns)
	if since == "" {
		if since = d.eventsNow(ctx, w.ns); since == "" {
			return
		}
	}
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		o.FieldSelector = "type=Warning"
		return evs.Watch(ctx, o)
	}}
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, since, lw)
	if err != nil {
		return
	}
	defer rw.Stop()
	podMatch := map[string]bool{}
	seen := map[string]string{}
	ownKind := map[string]string{"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet"}[w.kind]
	ours := func(ref corev1.ObjectReference) bool {
		switch ref.Kind {
		case ownKind:
			return ref.Name == w.name
		case "ReplicaSet":
			rest, ok := strings.CutPrefix(ref.Name, w.name+"-")
			return ok && w.kind == "deployment" && !strings.Contains(rest, "-")
		case "Pod":
			if m, ok := podMatch[ref.Name]; ok {
				return m
			}
			pod, err := d.c.typed.CoreV1().Pods(w.ns).Get(ctx, ref.Name, metav1.GetOptions{})
			m := err == nil && !selector.Empty() && selector.Matches(labels.Set(pod.Labels))
			if err != nil { // gone already: judge by its name
				m = strings.HasPrefix(ref.Name, w.name+"-")
			}
			podMatch[ref.Name] = m
			return m
		}
		return false
	}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-rw.ResultChan():
			if !ok {
				return
			}
			ev, ok := e.Object.(*corev1.Event)
			if !ok || (e.Type != watch.Added && e.Type != watch.Modified) || !ours(ev.InvolvedObject) {
				continue
			}
			if seen[string(ev.UID)] == ev.Message {
				continue
			}
			seen[string(ev.UID)] = ev.Message
			d.logf("warning %s/%s: %s: %s", strings.ToLower(ev.InvolvedObject.Kind), ev.InvolvedObject.Name, ev.Reason, ev.Message)
		}
	}
}

// undo restores the pod template of every workload this deploy changed,
// newest first, and waits for each to roll back. It returns a summary.
func (d *deploy) undo(ctx context.Context, why string) string {
	if len(d.changed) == 0 {
		return ""
	}
	d.logf("undoing %d workload(s): %s", len(d.changed), why)
	var undone, notUndone []string
	for i := len(d.changed) - 1; i >= 0; i-- {
		ch := d.changed[i]
		if ch.template == nil {
			ch.state += " (created by this deploy: left in place)"
			notUndone = append(notUndone, ch.w.String())
			continue
		}
		uctx, cancel := context.WithCancel(ctx)
		err := d.restore(uctx, ch, why)
		cancel()
		if err != nil {
			ch.state = "undo failed: " + err.Error()
			d.logf("%s: undo failed: %v", ch.w, err)
			notUndone = append(notUndone, ch.w.String())
			continue
		}
		undone = append(undone, ch.w.String())
	}
	var parts []string
	if len(undone) > 0 {
		parts = append(parts, "undone: "+strings.Join(undone, ", "))
	}
	if len(notUndone) > 0 {
		parts = append(parts, "NOT undone: "+strings.Join(notUndone, ", "))
	}
	return strings.Join(parts, "; ")
}

// restore puts back a workload's previous pod template, as `kubectl
// rollout undo` would, and follows that rollout.
func (d *deploy) restore(ctx context.Context, ch *change, why string) error {
	res := d.c.dyn.Resource(ch.w.gvr).Namespace(ch.w.ns)
	since := d.eventsNow(ctx, ch.w.ns)
	var updated *unstructured.Unstructured
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := res.Get(ctx, ch.w.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := unstructured.SetNestedMap(obj.Object, runtime.DeepCopyJSON(ch.template), "spec", "template"); err != nil {
			return err
		}
		d.annotate(obj, fmt.Sprintf("deployq #%d: undone (%s)", d.job.DeployID, why))
		a := obj.GetAnnotations()
		a[AnnotationSHA] = d.job.PreviousSHA
		obj.SetAnnotations(a)
		updated, err = res.Update(ctx, obj, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
	if err != nil {
		return err
	}
	d.logf("%s: restoring the previous pod template", ch.w)
	return d.follow(ctx, ch, updated, d.st.UndoTimeout, "undo", since)
}

// table ends the log with where each workload stands.
func (d *deploy) table() {
	if len(d.changed) == 0 {
		return
	}
	width := 0
	for _, ch := range d.changed {
		width = max(width, len(ch.w.String()))
	}
	d.logf("%-*s  %s", width, "WORKLOAD", "STATE")
	for _, ch := range d.changed {
		d.logf("%-*s  %s", width, ch.w, ch.state)
	}
}

// Live reads the images the environment's workloads run now.
func (r *Runner) Live(ctx context.Context, app *queue.App, env *queue.Environment) (string, error) {
	st, ok := env.Settings.(*Settings)
	if !ok {
		return "", nil
	}
	c, err := r.client(st)
	if err != nil {
		return "", err
	}
	var ws []workload
	for _, t := range st.Targets {
		kind, name, _ := parseWorkload(t.Workload)
		ws = append(ws, workload{gvr: kinds[kind], kind: kind, name: name, ns: c.ns})
	}
	if st.Manifests != "" {
		objs, err := loadManifests(st.Manifests)
		if err != nil {
			return "", err
		}
		for _, o := range objs {
			kind := strings.ToLower(o.GetKind())
			if gvr, ok := kinds[kind]; ok && o.GetAPIVersion() == "apps/v1" {
				ns := o.GetNamespace()
				if ns == "" {
					ns = c.ns
				}
				ws = append(ws, workload{gvr: gvr, kind: kind, name: o.GetName(), ns: ns})
			}
		}
	}
	var parts []string
	for _, w := range ws {
		obj, err := c.dyn.Resource(w.gvr).Namespace(w.ns).Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", w, shortErr(err)))
			continue
		}
		var imgs []string
		list, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
		for _, item := range list {
			if m, ok := item.(map[string]any); ok {
				imgs = append(imgs, fmt.Sprintf("%v=%v", m["name"], m["image"]))
			}
		}
		parts = append(parts, fmt.Sprintf("%s: %s", w, strings.Join(imgs, " ")))
	}
	return strings.Join(parts, "; "), nil
}

func shortErr(err error) string {
	if apierrors.IsNotFound(err) {
		return "not found"
	}
	return err.Error()
}
