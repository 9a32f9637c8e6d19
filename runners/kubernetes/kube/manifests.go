package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// loadManifests reads the objects of kuberunner.ManifestFiles(dir), each
// file possibly of several documents. Errors name the file.
func loadManifests(dir string) ([]*unstructured.Unstructured, error) {
	paths, err := kuberunner.ManifestFiles(dir)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for doc := 1; ; doc++ {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: document %d: %v", path, doc, err)
			}
			if len(m) == 0 {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
				return nil, fmt.Errorf("%s: document %d: apiVersion, kind and metadata.name are required", path, doc)
			}
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("manifests %s: no objects in *.yaml, *.yml or *.json", dir)
	}
	return out, nil
}

// applyManifests applies every object server-side (field manager
// "deployq"), then follows the rollouts of the workloads among them.
func (d *deploy) applyManifests(ctx context.Context) error {
	objs, err := loadManifests(d.st.Manifests)
	if err != nil {
		return err
	}
	var follow []*change
	var applied []*unstructured.Unstructured
	since := map[string]string{} // namespace -> events before the apply
	for _, obj := range objs {
		if err := kuberunner.ExpandImages(obj.Object, d.values); err != nil {
			return fmt.Errorf("%s/%s: %v", strings.ToLower(obj.GetKind()), obj.GetName(), err)
		}
		gvk := obj.GroupVersionKind()
		mapping, err := d.c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: %v", gvk.Kind, obj.GetName(), err)
		}
		ns := ""
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ns = obj.GetNamespace()
			if ns == "" {
				ns = d.c.ns
			}
			obj.SetNamespace(ns)
		}
		res := d.c.dyn.Resource(mapping.Resource).Namespace(ns)
		kind := strings.ToLower(gvk.Kind)
		_, isWorkload := kinds[kind]
		isWorkload = isWorkload && gvk.Group == "apps"
		w := workload{gvr: mapping.Resource, kind: kind, name: obj.GetName(), ns: ns}
		var before map[string]any
		if isWorkload {
			cur, err := res.Get(ctx, obj.GetName(), metav1.GetOptions{})
			switch {
			case err == nil:
				before, _, _ = unstructured.NestedMap(cur.Object, "spec", "template")
			case apierrors.IsNotFound(err):
			default:
				return fmt.Errorf("%s: %v", w, err)
			}
		}
		if _, ok := since[ns]; !ok && isWorkload {
			since[ns] = d.eventsNow(ctx, ns)
		}
		d.annotate(obj, d.changeCause())
		got, err := res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
		if err != nil {
			return fmt.Errorf("apply %s: %v", w, err)
		}
		d.logf("applied %s", w)
		if isWorkload {
			ch := &change{w: w, template: before, state: "applied"}
			d.changed = append(d.changed, ch)
			follow = append(follow, ch)
			applied = append(applied, got)
		}
	}
	for i, ch := range follow {
		if err := d.follow(ctx, ch, applied[i], d.st.Timeout, "rollout", since[ch.w.ns]); err != nil {
			return err
		}
	}
	return nil
}
