package kube

import (
	"context"
	"fmt"
	"strings"

	"github.com/deployq/deployq/runners"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
)

// setImages updates one target's container images and follows its rollout.
func (d *deploy) setImages(ctx context.Context, t kuberunner.Target) error {
	kind, name, _ := kuberunner.ParseWorkload(t.Workload)
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
