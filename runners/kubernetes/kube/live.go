package kube

import (
	"context"
	"fmt"
	"strings"

	"github.com/deployq/deployq/queue"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Live reads the images the environment's workloads run now.
func (r *Runner) Live(ctx context.Context, app *queue.App, env *queue.Environment) (string, error) {
	st, ok := env.Settings.(*kuberunner.Settings)
	if !ok || st == nil {
		return "", nil
	}
	c, err := r.client(st)
	if err != nil {
		return "", err
	}
	var ws []workload
	for _, t := range st.Targets {
		kind, name, _ := kuberunner.ParseWorkload(t.Workload)
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
