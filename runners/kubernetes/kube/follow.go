package kube

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

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
