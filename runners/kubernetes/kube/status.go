package kube

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// rollout is where a workload's rollout stands.
type rollout struct {
	msg       string // "2 of 5 updated replicas are available"
	done      bool
	updated   int // replicas (pods) on the new template
	available int // of those, available (ready)
	want      int // replicas (pods) wanted
	deadline  bool
}

// progressDeadline is the reason the Deployment controller gives when a
// rollout made no progress within progressDeadlineSeconds.
const progressDeadline = "ProgressDeadlineExceeded"

// rolloutStatus reads a workload's rollout status by the rules of
// `kubectl rollout status` (k8s.io/kubectl/pkg/polymorphichelpers,
// rollout_status.go): the controller must have observed the latest
// generation, then every replica must be updated, old ones gone, and the
// updated ones available. That package is not imported for these few
// rules: it drags in kubectl's describe and cmd packages.
func rolloutStatus(obj *unstructured.Unstructured) (rollout, error) {
	switch obj.GetKind() {
	case "Deployment":
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &d); err != nil {
			return rollout{}, err
		}
		return deploymentStatus(&d), nil
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &s); err != nil {
			return rollout{}, err
		}
		return statefulSetStatus(&s)
	case "DaemonSet":
		var d appsv1.DaemonSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &d); err != nil {
			return rollout{}, err
		}
		return daemonSetStatus(&d)
	}
	return rollout{}, fmt.Errorf("cannot follow the rollout of a %s", obj.GetKind())
}

func deploymentStatus(d *appsv1.Deployment) rollout {
	want := 1
	if d.Spec.Replicas != nil {
		want = int(*d.Spec.Replicas)
	}
	st := d.Status
	r := rollout{updated: int(st.UpdatedReplicas), available: int(st.AvailableReplicas), want: want}
	if r.available > r.updated {
		r.available = r.updated
	}
	if d.Generation > st.ObservedGeneration {
		r.msg = "waiting for the deployment spec update to be observed"
		return r
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == progressDeadline {
			r.deadline = true
			r.msg = "progress deadline exceeded: " + c.Message
			return r
		}
	}
	switch {
	case st.UpdatedReplicas < int32(want):
		r.msg = fmt.Sprintf("%d of %d new replicas have been updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		r.msg = fmt.Sprintf("%d old replicas are pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		r.msg = fmt.Sprintf("%d of %d updated replicas are available", st.AvailableReplicas, st.UpdatedReplicas)
	default:
		r.msg = fmt.Sprintf("successfully rolled out (%d/%d)", st.UpdatedReplicas, want)
		r.done = true
	}
	return r
}

func statefulSetStatus(s *appsv1.StatefulSet) (rollout, error) {
	if s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return rollout{}, fmt.Errorf("statefulset/%s has update strategy %s: only RollingUpdate can be followed", s.Name, s.Spec.UpdateStrategy.Type)
	}
	want := 1
	if s.Spec.Replicas != nil {
		want = int(*s.Spec.Replicas)
	}
	st := s.Status
	r := rollout{updated: int(st.UpdatedReplicas), available: int(st.ReadyReplicas), want: want}
	if r.available > r.updated {
		r.available = r.updated
	}
	if st.ObservedGeneration == 0 || s.Generation > st.ObservedGeneration {
		r.msg = "waiting for the statefulset spec update to be observed"
		return r, nil
	}
	if int(st.ReadyReplicas) < want {
		r.msg = fmt.Sprintf("%d of %d pods are ready", st.ReadyReplicas, want)
		return r, nil
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
		if int(st.UpdatedReplicas) < want-int(*ru.Partition) {
			r.msg = fmt.Sprintf("%d of %d pods updated (partition %d)", st.UpdatedReplicas, want-int(*ru.Partition), *ru.Partition)
			return r, nil
		}
		r.msg = fmt.Sprintf("partitioned roll out complete: %d new pods updated", st.UpdatedReplicas)
		r.done = true
		return r, nil
	}
	if st.UpdateRevision != st.CurrentRevision {
		r.msg = fmt.Sprintf("%d of %d pods updated to revision %s", st.UpdatedReplicas, want, st.UpdateRevision)
		return r, nil
	}
	r.updated, r.available = want, want
	r.msg = fmt.Sprintf("rolling update complete: %d pods at revision %s", st.CurrentReplicas, st.CurrentRevision)
	r.done = true
	return r, nil
}

func daemonSetStatus(d *appsv1.DaemonSet) (rollout, error) {
	if d.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		return rollout{}, fmt.Errorf("daemonset/%s has update strategy %s: only RollingUpdate can be followed", d.Name, d.Spec.UpdateStrategy.Type)
	}
	st := d.Status
	r := rollout{updated: int(st.UpdatedNumberScheduled), available: int(st.NumberAvailable), want: int(st.DesiredNumberScheduled)}
	if r.available > r.updated {
		r.available = r.updated
	}
	if d.Generation > st.ObservedGeneration {
		r.msg = "waiting for the daemonset spec update to be observed"
		return r, nil
	}
	switch {
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		r.msg = fmt.Sprintf("%d of %d updated pods are scheduled", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	case st.NumberAvailable < st.DesiredNumberScheduled:
		r.msg = fmt.Sprintf("%d of %d updated pods are available", st.NumberAvailable, st.DesiredNumberScheduled)
	default:
		r.msg = fmt.Sprintf("successfully rolled out (%d/%d)", st.NumberAvailable, st.DesiredNumberScheduled)
		r.done = true
	}
	return r, nil
}
