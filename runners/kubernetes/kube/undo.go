package kube

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
)

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
