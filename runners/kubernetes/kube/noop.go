package kube

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// noop is a dry run (queue.OpNoop): each manifest applied and each
// target's images set with the API server's dry run (it validates them
// and admits them as it would, and keeps nothing), then the fields of
// each object that would change, against what the cluster has now.
func (d *deploy) noop(ctx context.Context) (queue.Result, error) {
	d.logf("dry run: nothing is changed in the cluster")
	dry := []string{metav1.DryRunAll}
	if d.st.Manifests != "" {
		objs, err := loadManifests(d.st.Manifests)
		if err != nil {
			return queue.Result{}, err
		}
		for _, obj := range objs {
			if err := kuberunner.ExpandImages(obj.Object, d.values); err != nil {
				return queue.Result{Message: fmt.Sprintf("%s/%s: %v", strings.ToLower(obj.GetKind()), obj.GetName(), err)}, nil
			}
			gvk := obj.GroupVersionKind()
			mapping, err := d.c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				return queue.Result{Message: fmt.Sprintf("%s %s: %v", gvk.Kind, obj.GetName(), err)}, nil
			}
			ns := ""
			if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
				if ns = obj.GetNamespace(); ns == "" {
					ns = d.c.ns
				}
				obj.SetNamespace(ns)
			}
			res := d.c.dyn.Resource(mapping.Resource).Namespace(ns)
			name := strings.ToLower(gvk.Kind) + "/" + obj.GetName()
			cur, err := res.Get(ctx, obj.GetName(), metav1.GetOptions{})
			exists := err == nil
			if err != nil && !apierrors.IsNotFound(err) {
				return queue.Result{}, fmt.Errorf("%s: %v", name, err)
			}
			d.annotate(obj, d.changeCause())
			got, err := res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true, DryRun: dry})
			if err != nil {
				return queue.Result{Message: fmt.Sprintf("apply %s would fail: %v", name, err)}, nil
			}
			if !exists {
				d.logf("%s would be created", name)
				continue
			}
			d.diff(name, cur, got)
		}
	}
	for _, t := range d.st.Targets {
		kind, name, _ := kuberunner.ParseWorkload(t.Workload)
		w := workload{gvr: kinds[kind], kind: kind, name: name, ns: d.c.ns}
		images := map[string]string{}
		for cname, tmpl := range t.Containers {
			img, err := runners.ExpandPlain(tmpl, d.values)
			if err != nil {
				return queue.Result{Message: fmt.Sprintf("%s container %s: %v", w, cname, err)}, nil
			}
			images[cname] = img
		}
		res := d.c.dyn.Resource(w.gvr).Namespace(w.ns)
		cur, err := res.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return queue.Result{Message: fmt.Sprintf("%s not found in namespace %s", w, w.ns)}, nil
		}
		if err != nil {
			return queue.Result{}, fmt.Errorf("%s: %v", w, err)
		}
		next := cur.DeepCopy()
		if err := setContainerImages(next, images, func(string, string, string) {}); err != nil {
			return queue.Result{Message: fmt.Sprintf("%s: %v", w, err)}, nil
		}
		d.annotate(next, d.changeCause())
		got, err := res.Update(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager, DryRun: dry})
		if err != nil {
			return queue.Result{Message: fmt.Sprintf("update %s would fail: %v", w, err)}, nil
		}
		d.diff(w.String(), cur, got)
	}
	return queue.Result{OK: true}, nil
}

// diff writes the fields of an object's spec (and deployq's annotations)
// that would change from a to b: "- path: a's" and "+ path: b's".
func (d *deploy) diff(name string, a, b *unstructured.Unstructured) {
	fa, fb := map[string]string{}, map[string]string{}
	flatten("spec", a.Object["spec"], fa)
	flatten("spec", b.Object["spec"], fb)
	flatten("data", a.Object["data"], fa)
	flatten("data", b.Object["data"], fb)
	lines := runners.Changes(fa, fb)
	if len(lines) == 0 {
		d.logf("%s: no change", name)
		return
	}
	d.logf("%s would change:\n%s", name, strings.Join(lines, "\n"))
}

// flatten adds the leaves of v under path to out, path -> value.
func flatten(path string, v any, out map[string]string) {
	switch x := v.(type) {
	case nil:
	case map[string]any:
		for k, e := range x {
			flatten(path+"."+k, e, out)
		}
	case []any:
		for i, e := range x {
			flatten(path+"."+strconv.Itoa(i), e, out)
		}
	default:
		out[path] = fmt.Sprint(x)
	}
}
