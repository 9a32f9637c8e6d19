package kubernetes_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/internal/runnertest"
	"github.com/deployq/deployq/queue"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	"github.com/deployq/deployq/runners/kubernetes/kube"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const (
	sha1 = "1111111111111111111111111111111111111111"
	sha2 = "2222222222222222222222222222222222222222"
)

// denied is in the name of images the test cluster refuses to run: a
// ValidatingAdmissionPolicy forbids such pods, as an image policy would,
// so the ReplicaSet cannot create them and the rollout makes no progress.
const denied = "denied"

var policyOnce sync.Once

func needCluster(t testing.TB) (context.Context, string) {
	t.Helper()
	if cluster == nil {
		t.Skip("no kubernetes test stack (go run ./internal/kubetest/build)")
	}
	ctx := context.Background()
	policyOnce.Do(func() { createPolicy(t, ctx) })
	ns, err := cluster.Namespace(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cluster.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	waitPolicy(t, ctx, ns)
	return ctx, ns
}

func createPolicy(t testing.TB, ctx context.Context) {
	adm := cluster.Client.AdmissionregistrationV1()
	_, err := adm.ValidatingAdmissionPolicies().Create(ctx, &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-images"},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				}}}},
			Validations: []admissionv1.Validation{{
				Expression: fmt.Sprintf(`object.spec.containers.all(c, !c.image.contains(%q))`, denied),
				Message:    "image not allowed by policy",
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	_, err = adm.ValidatingAdmissionPolicyBindings().Create(ctx, &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-images"},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        "deny-images",
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
		},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// waitPolicy waits until the policy is in force (a dry run is refused).
func waitPolicy(t testing.TB, ctx context.Context, ns string) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probe"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x/" + denied}}}}
	queuetest.Eventually(t, "the image policy in force", func() bool {
		_, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsForbidden(err) || apierrors.IsInvalid(err)
	})
}

func labels(name string) map[string]string { return map[string]string{"app": name} }

func podSpec(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "web", Image: image}},
			// kwok's node carries kwok's taint on some versions; tolerate it
			Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists}},
		},
	}
}

// createDeployment creates a Deployment running image and waits until it
// has rolled out.
func createDeployment(t testing.TB, ctx context.Context, ns, name, image string, replicas int32, deadline int32) {
	t.Helper()
	tmpl := podSpec(image)
	tmpl.Labels = labels(name)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels(name)},
			Template: tmpl, ProgressDeadlineSeconds: ptr.To(deadline),
		},
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, ctx, ns, name)
}

// waitRolledOut waits (bounded) until a Deployment is fully rolled out.
func waitRolledOut(t testing.TB, ctx context.Context, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	queuetest.Eventually(t, "deployment/"+name+" rolled out", func() bool {
		var err error
		if d, err = cluster.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		st := d.Status
		return d.Generation <= st.ObservedGeneration && st.UpdatedReplicas == *d.Spec.Replicas &&
			st.Replicas == st.UpdatedReplicas && st.AvailableReplicas == st.UpdatedReplicas
	})
	return d
}

func image(t *testing.T, ctx context.Context, ns, name string) string {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

func settings(ns string, targets ...kuberunner.Target) *kuberunner.Settings {
	return &kuberunner.Settings{Kubeconfig: cluster.Kubeconfig, Context: "deployq-test", Namespace: ns,
		Targets: targets, Timeout: 2 * time.Minute}
}

// deploy runs one deploy of sha through a real queue and returns it
// ended, with its log; during runs once the deploy is queued.
func deploy(t *testing.T, st *kuberunner.Settings, sha string, during func(*queuetest.Env, *queue.Deploy)) (*queue.Deploy, string, *queuetest.Env) {
	t.Helper()
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	env := &queue.Environment{Name: "production", Runner: "kubernetes", Settings: st}
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "production", Environments: []*queue.Environment{env}}},
		func(o *queue.Options) { o.Runners["kubernetes"] = newRunner(t) })
	d, err := q.Svc.Submit(q.Ctx, queue.Request{App: "web", Ref: sha, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if during != nil {
		during(q, d)
	}
	got, log := q.Follow(t, d.ID)
	return got, log, q
}

func TestImageUpdateRollsOut(t *testing.T) {
	ctx, ns := needCluster(t)
	createDeployment(t, ctx, ns, "web", "registry.example.com/web:old", 4, 600)
	st := settings(ns, kuberunner.Target{Workload: "deployment/web", Containers: map[string]string{"web": "registry.example.com/web:{sha}"}})
	d, log, q := deploy(t, st, sha1, nil)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	got := waitRolledOut(t, ctx, ns, "web")
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/web:"+sha1 {
		t.Errorf("image %q", img)
	}
	a := got.Annotations
	if a[kube.AnnotationDeploy] != fmt.Sprint(d.ID) || a[kube.AnnotationSHA] != sha1 || a[kube.AnnotationUser] != "alice" ||
		!strings.Contains(a[kube.ChangeCause], "alice") {
		t.Errorf("annotations %v", a)
	}
	for _, want := range []string{
		"deployment/web: container web: registry.example.com/web:old -> registry.example.com/web:" + sha1,
		"deployment/web: successfully rolled out (4/4)",
		"deployment/web  rolled out",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	// what `where` shows: the image running in the cluster
	if live, err := q.Svc.Live(ctx, "web", "production"); err != nil || live != "deployment/web: web=registry.example.com/web:"+sha1 {
		t.Errorf("live %q %v", live, err)
	}
}

// When deployq stops mid-rollout, the rollout goes on in the cluster: it
// is not undone because the bot restarts, and the log says so.
func TestShutdownLeavesTheRolloutAlone(t *testing.T) {
	ctx, ns := needCluster(t)
	createDeployment(t, ctx, ns, "web", "registry.example.com/web:good", 2, 600)
	st := settings(ns, kuberunner.Target{Workload: "deployment/web", Containers: map[string]string{"web": "registry.example.com/" + denied + "/web:{sha}"}})
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	out := runnertest.NewRecorder()
	var res queue.Result
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = newRunner(t).Run(runCtx, queue.Job{DeployID: 7, App: "web", Env: "production", SHA: sha1, Ref: sha1, User: "alice", Settings: st}, out)
		out.Ended()
	}()
	out.WaitLine(t, "image not allowed by policy")
	stop(queue.ErrShutdown)
	select {
	case <-done:
	case <-time.After(queuetest.Patience):
		t.Fatalf("Run did not return after the shutdown\n%s", out.Text())
	}
	if err == nil || res.Message != "the rollout was left to the cluster" {
		t.Fatalf("%+v %v\n%s", res, err, out.Text())
	}
	if img := image(t, ctx, ns, "web"); img != "registry.example.com/"+denied+"/web:"+sha1 {
		t.Errorf("image %q: the rollout was undone", img)
	}
	if !strings.Contains(out.Text(), "not undone") {
		t.Errorf("the log does not say so:\n%s", out.Text())
	}
}

// deployq-kubernetes stopped by a signal (a SIGTERM of its own) leaves
// the rollout to the cluster, as deployq's stop does; the deploy could not
// run to its end, and says why.
func TestSignalLeavesTheRolloutAlone(t *testing.T) {
	ctx, ns := needCluster(t)
	createDeployment(t, ctx, ns, "web", good, 2, 600)
	st := settings(ns, kuberunner.Target{Workload: "deployment/web", Containers: map[string]string{"web": "registry.example.com/" + denied + "/web:{sha}"}})
	out := runnertest.NewRecorder()
	var res queue.Result
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = newRunner(t).Run(ctx, queue.Job{DeployID: 8, App: "web", Env: "production", SHA: sha1, Ref: sha1, User: "alice", Settings: st}, out)
		out.Ended()
	}()
	out.WaitLine(t, "image not allowed by policy")
	procs := childProcs(kuberunner.Executable)
	if len(procs) != 1 {
		t.Fatalf("deployq-kubernetes processes: %v", procs)
	}
	if err := syscall.Kill(procs[0].pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(queuetest.Patience):
		t.Fatalf("Run did not return after the signal\n%s", out.Text())
	}
	why := "deployq-kubernetes was stopped (terminated signal received): " + queue.ErrShutdown.Error()
	if err == nil || err.Error() != why || res.Message != "the rollout was left to the cluster" {
		t.Fatalf("%+v %v: want %q\n%s", res, err, why, out.Text())
	}
	if img := image(t, ctx, ns, "web"); img != "registry.example.com/"+denied+"/web:"+sha1 {
		t.Errorf("image %q: the rollout was undone", img)
	}
	noChildren(t, kuberunner.Executable)
}

func TestProgressDeadlineUndoesToThePreviousImage(t *testing.T) {
	ctx, ns := needCluster(t)
	createDeployment(t, ctx, ns, "web", "registry.example.com/web:good", 3, 2)
	st := settings(ns, kuberunner.Target{Workload: "deployment/web", Containers: map[string]string{"web": "registry.example.com/" + denied + "/web:{sha}"}})
	d, log, _ := deploy(t, st, sha1, nil)
	if d.State != queue.StateFailed || !strings.Contains(d.Error, "progress deadline exceeded") || !strings.Contains(d.Error, "undone: deployment/web") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	got := waitRolledOut(t, ctx, ns, "web")
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/web:good" {
		t.Errorf("image %q after the undo", img)
	}
	for _, want := range []string{
		"image not allowed by policy", // the pods' Warning events reach the log
		"deployment/web: restoring the previous pod template",
		"deployment/web  undone",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestCancelMidRolloutUndoes(t *testing.T) {
	ctx, ns := needCluster(t)
	createDeployment(t, ctx, ns, "web", "registry.example.com/web:good", 3, 600)
	st := settings(ns, kuberunner.Target{Workload: "deployment/web", Containers: map[string]string{"web": "registry.example.com/" + denied + "/web:{sha}"}})
	d, log, _ := deploy(t, st, sha1, func(q *queuetest.Env, d *queue.Deploy) {
		q.WaitLog(t, d.ID, "image not allowed by policy") // stuck mid-rollout
		if _, err := q.Svc.Cancel(q.Ctx, d.ID, "bob"); err != nil {
			t.Fatal(err)
		}
	})
	if d.State != queue.StateCanceled || !strings.Contains(d.Error, "canceled by bob") || !strings.Contains(d.Error, "undone: deployment/web") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	got := waitRolledOut(t, ctx, ns, "web")
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/web:good" {
		t.Errorf("image %q after the cancel", img)
	}
}

func TestSecondTargetFailsBothUndone(t *testing.T) {
	ctx, ns := needCluster(t)
	createDeployment(t, ctx, ns, "api", "registry.example.com/api:good", 2, 600)
	createDeployment(t, ctx, ns, "web", "registry.example.com/web:good", 2, 2)
	st := settings(ns,
		kuberunner.Target{Workload: "deployment/api", Containers: map[string]string{"web": "registry.example.com/api:{sha}"}},
		kuberunner.Target{Workload: "deployment/web", Containers: map[string]string{"web": "registry.example.com/" + denied + "/web:{sha}"}})
	d, log, _ := deploy(t, st, sha1, nil)
	if d.State != queue.StateFailed || !strings.Contains(d.Error, "undone: deployment/web, deployment/api") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	if !strings.Contains(log, "deployment/api: successfully rolled out") {
		t.Errorf("the first target did not roll out first:\n%s", log)
	}
	for name, want := range map[string]string{"api": "registry.example.com/api:good", "web": "registry.example.com/web:good"} {
		got := waitRolledOut(t, ctx, ns, name)
		if img := got.Spec.Template.Spec.Containers[0].Image; img != want {
			t.Errorf("%s: image %q after the undo, want %q", name, img, want)
		}
	}
}

func TestStatefulSetAndDaemonSetRollOut(t *testing.T) {
	ctx, ns := needCluster(t)
	tmpl := podSpec("registry.example.com/db:old")
	tmpl.Labels = labels("db")
	if _, err := cluster.Client.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels("db")},
			Template: tmpl, PodManagementPolicy: appsv1.ParallelPodManagement},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tmpl = podSpec("registry.example.com/agent:old")
	tmpl.Labels = labels("agent")
	if _, err := cluster.Client.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels("agent")}, Template: tmpl},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	st := settings(ns,
		kuberunner.Target{Workload: "statefulset/db", Containers: map[string]string{"web": "registry.example.com/db:{sha}"}},
		kuberunner.Target{Workload: "daemonset/agent", Containers: map[string]string{"web": "registry.example.com/agent:{short_sha}"}})
	d, log, _ := deploy(t, st, sha2, nil)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	for _, want := range []string{"statefulset/db: rolling update complete: 2 pods", "daemonset/agent: successfully rolled out (1/1)"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	ss, _ := cluster.Client.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
	ds, _ := cluster.Client.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
	if ss.Spec.Template.Spec.Containers[0].Image != "registry.example.com/db:"+sha2 || ds.Spec.Template.Spec.Containers[0].Image != "registry.example.com/agent:2222222" {
		t.Errorf("images %q %q", ss.Spec.Template.Spec.Containers[0].Image, ds.Spec.Template.Spec.Containers[0].Image)
	}
}

const manifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  progressDeadlineSeconds: %d
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
%s      containers:
      - name: web
        image: registry.example.com/web:{sha}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  note: "{sha} stays as it is outside image fields"
`

func TestManifestsAppliedWithTheSHA(t *testing.T) {
	ctx, ns := needCluster(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(fmt.Sprintf(manifest, 600, "")), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("not a manifest"), 0o644)
	st := &kuberunner.Settings{Kubeconfig: cluster.Kubeconfig, Namespace: ns, Manifests: dir, Timeout: 2 * time.Minute}
	d, log, _ := deploy(t, st, sha1, nil)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	got := waitRolledOut(t, ctx, ns, "web")
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/web:"+sha1 {
		t.Errorf("image %q", img)
	}
	if got.Annotations[kube.AnnotationSHA] != sha1 {
		t.Errorf("annotations %v", got.Annotations)
	}
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["note"] != "{sha} stays as it is outside image fields" || cm.Annotations[kube.AnnotationDeploy] != fmt.Sprint(d.ID) {
		t.Errorf("configmap %v %v", cm.Data, cm.Annotations)
	}
	for _, want := range []string{"applied deployment/web", "applied configmap/web-config", "deployment/web: successfully rolled out (2/2)"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// A manifest change that cannot schedule (a nodeSelector no node has)
// passes its progress deadline: the previous pod template comes back.
func TestManifestsUnschedulableUndone(t *testing.T) {
	ctx, ns := needCluster(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(fmt.Sprintf(manifest, 2, "")), 0o644)
	st := &kuberunner.Settings{Kubeconfig: cluster.Kubeconfig, Namespace: ns, Manifests: dir, Timeout: 2 * time.Minute}
	if d, log, _ := deploy(t, st, sha1, nil); d.State != queue.StateSucceeded {
		t.Fatalf("first deploy: %s %q\n%s", d.State, d.Error, log)
	}
	os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(fmt.Sprintf(manifest, 2, "      nodeSelector: {disk: nowhere}\n")), 0o644)
	d, log, _ := deploy(t, st, sha2, nil)
	if d.State != queue.StateFailed || !strings.Contains(d.Error, "progress deadline exceeded") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	if !strings.Contains(log, "FailedScheduling") {
		t.Errorf("the scheduler's warning is not in the log:\n%s", log)
	}
	got := waitRolledOut(t, ctx, ns, "web")
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/web:"+sha1 || got.Spec.Template.Spec.NodeSelector != nil {
		t.Errorf("after the undo: image %q, nodeSelector %v", img, got.Spec.Template.Spec.NodeSelector)
	}
}

func TestMissingWorkloadFailsClearly(t *testing.T) {
	_, ns := needCluster(t)
	st := settings(ns, kuberunner.Target{Workload: "deployment/nope", Containers: map[string]string{"web": "x:{sha}"}})
	d, log, _ := deploy(t, st, sha1, nil)
	if d.State != queue.StateFailed || !strings.Contains(d.Error, "deployment/nope not found in namespace "+ns) {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
}
