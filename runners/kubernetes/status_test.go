package kubernetes

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
)

func TestDeploymentStatusFollowsKubectlRules(t *testing.T) {
	d := func(gen, observed int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
		x := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)}, Status: st}
		x.Generation, x.Status.ObservedGeneration = gen, observed
		return x
	}
	timedOut := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: progressDeadline, Message: "ReplicaSet \"web-1\" has timed out progressing."}}
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
		r := deploymentStatus(c.d)
		if r.done != c.done || r.deadline != c.deadline || !strings.Contains(r.msg, c.msg) {
			t.Errorf("%s: got %+v", c.name, r)
		}
	}
}

func TestStatefulSetAndDaemonSetStatus(t *testing.T) {
	ss := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2),
		UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}}}
	ss.Generation = 2
	ss.Status = appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 1, CurrentRevision: "a", UpdateRevision: "b"}
	if r, err := statefulSetStatus(ss); err != nil || r.done {
		t.Errorf("revision pending: %+v %v", r, err)
	}
	ss.Status.CurrentRevision, ss.Status.UpdatedReplicas, ss.Status.CurrentReplicas = "b", 2, 2
	if r, err := statefulSetStatus(ss); err != nil || !r.done {
		t.Errorf("complete: %+v %v", r, err)
	}
	ss.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
	if _, err := statefulSetStatus(ss); err == nil {
		t.Error("OnDelete cannot be followed")
	}
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}}}
	ds.Generation = 3
	ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: 3, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberAvailable: 1}
	if r, _ := daemonSetStatus(ds); r.done || !strings.Contains(r.msg, "1 of 2 updated pods are available") {
		t.Errorf("daemonset: %+v", r)
	}
	ds.Status.NumberAvailable = 2
	if r, _ := daemonSetStatus(ds); !r.done {
		t.Errorf("daemonset: %+v", r)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		s    Settings
		want string
	}{
		{Settings{}, "targets or manifests is required"},
		{Settings{Targets: []Target{{Workload: "web", Containers: map[string]string{"web": "x"}}}}, "want kind/name"},
		{Settings{Targets: []Target{{Workload: "job/web", Containers: map[string]string{"web": "x"}}}}, "kind must be deployment, statefulset or daemonset"},
		{Settings{Targets: []Target{{Workload: "deployment/web"}}}, "containers is required"},
		{Settings{Targets: []Target{{Workload: "deployment/web", Containers: map[string]string{"web": "x:{sah}"}}}}, "unknown placeholder {sah}"},
		{Settings{Manifests: "/nonexistent"}, "not a directory"},
	} {
		err := c.s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.s, err, c.want)
		}
	}
	for _, w := range []string{"Deployment/web", "deploy/web", "sts/db", "daemonsets/agent"} {
		ok := Settings{Targets: []Target{{Workload: w, Containers: map[string]string{"web": "registry/web:{sha}"}}}}
		if err := ok.Validate(); err != nil {
			t.Error(err)
		}
	}
}
