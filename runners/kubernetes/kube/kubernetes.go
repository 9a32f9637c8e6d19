// Package kube is the kubernetes runner itself, with client-go: it sets
// container images from templates on Deployments, StatefulSets and
// DaemonSets, or applies a directory of manifests server-side, follows
// each rollout with a watch until it completes (the rules of `kubectl
// rollout status`), streams the Warning events of the workload's pods into
// the log, and on a progress deadline, a timeout or a cancel restores the
// pod template of every workload it changed and waits for that.
//
// It runs in deployq-kubernetes, never in the deployq server: see
// runners/kubernetes, whose Settings it takes.
package kube

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// Runner is the kubernetes runner.
type Runner struct {
	mu      sync.Mutex
	clients map[*kuberunner.Settings]*clients
}

// New returns a kubernetes runner.
func New() *Runner { return &Runner{clients: map[*kuberunner.Settings]*clients{}} }

type clients struct {
	typed  kubernetes.Interface
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	ns     string
}

// client connects once per environment.
func (r *Runner) client(st *kuberunner.Settings) (*clients, error) {
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
		if ns == "" { // the pod's own namespace
			ns = inClusterNamespace(serviceAccountNamespace)
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

// kinds are the resources of the workloads whose rollouts are followed,
// by kuberunner.ParseWorkload's kind.
var kinds = map[string]schema.GroupVersionResource{
	"deployment":  {Group: "apps", Version: "v1", Resource: "deployments"},
	"statefulset": {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"daemonset":   {Group: "apps", Version: "v1", Resource: "daemonsets"},
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

// workload is a Deployment, StatefulSet or DaemonSet in a namespace.
type workload struct {
	gvr        schema.GroupVersionResource
	kind, name string
	ns         string
}

// String is kind/name, as in the log.
func (w workload) String() string { return w.kind + "/" + w.name }

// Run implements queue.Runner: it rolls job out to the settings' targets
// and manifests. A rollout that failed or timed out ran and failed (and is
// undone); a kubeconfig that cannot be loaded could not run.
func (r *Runner) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	st, ok := job.Settings.(*kuberunner.Settings)
	if !ok || st == nil {
		return queue.Result{}, fmt.Errorf("kubernetes runner: settings are %T", job.Settings)
	}
	c, err := r.client(st)
	if err != nil {
		return queue.Result{}, err
	}
	log := out.Stream(queue.StreamStdout, "")
	defer log.Close()
	d := &deploy{c: c, st: st, job: job, out: out, log: log, values: runners.Placeholders(job)}
	if job.Op == queue.OpNoop {
		return d.noop(ctx)
	}
	return d.run(ctx)
}

// deploy is one run.
type deploy struct {
	c       *clients
	st      *kuberunner.Settings
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

// run applies the manifests, then sets the targets' images, each followed
// to the end of its rollout, and finishes: success, or undone.
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

// serviceAccountNamespace is where a pod finds its own namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// inClusterNamespace reads the namespace a pod runs in ("" if unknown).
func inClusterNamespace(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
