package kube

import appsv1 "k8s.io/api/apps/v1"

// The rollout rules, for the external tests: whether it is done, whether
// it passed its progress deadline, and what the log says.

// ProgressDeadline is the reason of a Deployment past its deadline.
const ProgressDeadline = progressDeadline

// DeploymentStatus is deploymentStatus.
func DeploymentStatus(d *appsv1.Deployment) (done, deadline bool, msg string) {
	r := deploymentStatus(d)
	return r.done, r.deadline, r.msg
}

// StatefulSetStatus is statefulSetStatus.
func StatefulSetStatus(s *appsv1.StatefulSet) (done bool, msg string, err error) {
	r, err := statefulSetStatus(s)
	return r.done, r.msg, err
}

// DaemonSetStatus is daemonSetStatus.
func DaemonSetStatus(d *appsv1.DaemonSet) (done bool, msg string, err error) {
	r, err := daemonSetStatus(d)
	return r.done, r.msg, err
}

// InClusterNamespace is inClusterNamespace.
var InClusterNamespace = inClusterNamespace
