package kube_test

import (
	"strings"
	"testing"

	kuberunner "github.com/deployq/deployq/runners/kubernetes/kube"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
)

func TestDeploymentStatusFollowsKubectlRules(t *testing.T) {
	d := func(gen, observed int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
		x := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)}, Status: st}
		x.Generation, x.Status.ObservedGeneration = gen, observed
		return x
	}
	timedOut := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: kuberunner.ProgressDeadline, Message: "ReplicaSet \"web-1\" has timed out progressing."}}
	for _, c := range []struct {
		name     string
		d        *appsv1.Deployment
		done     bool
		deadline bool
		msg      string
	}{
		{"spec not observed", d(2, 1, appsv1.DeploymentStatus{UpdatedReplicas: 3, Replicas: 3, AvailableReplicas: 3}), false, false, "to be observed"},
		{"a stale deadline is not read before the spec is observed", d(2, 1, appsv1.DeploymentStatus{Conditions: timedOut}), false, false, "to be observed"},
		{"deadline", d(2, 2, appsv1.DeploymentStatus{Conditions: timedOut}), false, true, "progress deadline exceeded"},
		{"updating", d(2, 2, appsv1.DeploymentStatus{UpdatedReplicas: 1, Replicas: 4}), false, false, "1 of 3 new replicas"},
		{"old pending", d(2, 2, appsv1.DeploymentStatus{UpdatedReplicas: 3, Replicas: 4, AvailableReplicas: 3}), false, false, "1 old replicas are pending termination"},
		{"not available", d(2, 2, appsv1.DeploymentStatus{UpdatedReplicas: 3, Replicas: 3, AvailableReplicas: 2}), false, false, "2 of 3 updated replicas are available"},
		{"done", d(2, 2, appsv1.DeploymentStatus{UpdatedReplicas: 3, Replicas: 3, AvailableReplicas: 3}), true, false, "successfully rolled out (3/3)"},
	} {
		done, deadline, msg := kuberunner.DeploymentStatus(c.d)
		if done != c.done || deadline != c.deadline || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: got done %v, deadline %v, %q", c.name, done, deadline, msg)
		}
	}
}

func TestStatefulSetAndDaemonSetStatus(t *testing.T) {
	ss := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2),
		UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}}}
	ss.Generation = 2
	ss.Status = appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 1, CurrentRevision: "a", UpdateRevision: "b"}
	if done, msg, err := kuberunner.StatefulSetStatus(ss); err != nil || done {
		t.Errorf("revision pending: %v %q %v", done, msg, err)
	}
	ss.Status.CurrentRevision, ss.Status.UpdatedReplicas, ss.Status.CurrentReplicas = "b", 2, 2
	if done, msg, err := kuberunner.StatefulSetStatus(ss); err != nil || !done {
		t.Errorf("complete: %v %q %v", done, msg, err)
	}
	ss.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
	if _, _, err := kuberunner.StatefulSetStatus(ss); err == nil {
		t.Error("OnDelete cannot be followed")
	}
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}}}
	ds.Generation = 3
	ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: 3, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberAvailable: 1}
	if done, msg, _ := kuberunner.DaemonSetStatus(ds); done || !strings.Contains(msg, "1 of 2 updated pods are available") {
		t.Errorf("daemonset: %v %q", done, msg)
	}
	ds.Status.NumberAvailable = 2
	if done, msg, _ := kuberunner.DaemonSetStatus(ds); !done {
		t.Errorf("daemonset: %v %q", done, msg)
	}
}
