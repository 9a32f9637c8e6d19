package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/kubetest"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/internal/runnertest"
	"github.com/deployq/deployq/queue"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

const manifestDir = "deploy/kubernetes"

// manifest is one object of a file in manifestDir.
type manifest struct {
	file string
	obj  *unstructured.Unstructured
}

func (m manifest) String() string {
	return fmt.Sprintf("%s: %s/%s", m.file, m.obj.GetKind(), m.obj.GetName())
}

// manifests parses every YAML file of manifestDir, each document an
// object.
func manifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root(t), manifestDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", manifestDir, err)
	}
	sort.Strings(files)
	var out []manifest
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(string(b)), 4096)
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if obj == nil {
				continue
			}
			out = append(out, manifest{file: filepath.Base(f), obj: &unstructured.Unstructured{Object: obj}})
		}
	}
	return out
}

// one returns the only object of a kind, decoded into into.
func one(t *testing.T, ms []manifest, kind string, into any) manifest {
	t.Helper()
	var found []manifest
	for _, m := range ms {
		if m.obj.GetKind() == kind {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s in %s: want one", len(found), kind, manifestDir)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(found[0].obj.Object, into, true); err != nil {
		t.Fatalf("%s: %v", found[0], err)
	}
	return found[0]
}

// deployqConfig is what the tests read of the config in the ConfigMap.
type deployqConfig struct {
	Server struct {
		Listen    string `json:"listen"`
		DataDir   string `json:"data_dir"`
		KillGrace string `json:"kill_grace"`
		APITokens []struct {
			Name string `json:"name"`
		} `json:"api_tokens"`
	} `json:"server"`
	Apps []struct {
		Name         string `json:"name"`
		Environments []struct {
			Name       string `json:"name"`
			Runner     string `json:"runner"`
			Kubernetes *struct {
				Kubeconfig string `json:"kubeconfig"`
			} `json:"kubernetes"`
		} `json:"environments"`
	} `json:"apps"`
}

// TestKubernetesManifests checks that the manifests fit together and fit
// deployq and its image: names, the config's path and data_dir, the port,
// probes, the user, the stop, the in-cluster config. The config passes
// check-config with the environment the pod gets.
func TestKubernetesManifests(t *testing.T) {
	ms := manifests(t)
	for _, m := range ms {
		if m.obj.GetNamespace() != "" {
			t.Errorf("%s sets namespace %s: the set is applied with kubectl -n", m, m.obj.GetNamespace())
		}
	}
	var (
		sa  corev1.ServiceAccount
		cr  rbacv1.ClusterRole
		rb  rbacv1.RoleBinding
		cm  corev1.ConfigMap
		sts appsv1.StatefulSet
		svc corev1.Service
	)
	one(t, ms, "ServiceAccount", &sa)
	one(t, ms, "ClusterRole", &cr)
	one(t, ms, "RoleBinding", &rb)
	one(t, ms, "ConfigMap", &cm)
	one(t, ms, "StatefulSet", &sts)
	one(t, ms, "Service", &svc)

	if rb.RoleRef.Kind != "ClusterRole" || rb.RoleRef.Name != cr.Name || len(rb.Subjects) != 1 ||
		rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != sa.Name || rb.Subjects[0].Namespace != "" {
		t.Errorf("RoleBinding %s binds %+v to %+v: want ClusterRole %s to ServiceAccount %s of its own namespace", rb.Name, rb.RoleRef, rb.Subjects, cr.Name, sa.Name)
	}

	pod := sts.Spec.Template.Spec
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 1 {
		t.Errorf("StatefulSet replicas %v: want 1 (one queue, one SQLite database)", sts.Spec.Replicas)
	}
	if pod.ServiceAccountName != sa.Name || (sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken) ||
		(pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken) {
		t.Errorf("the pod runs as service account %q, token mounted: %s (account), %s (pod): want %s, with its token (the in-cluster config)",
			pod.ServiceAccountName, show(sa.AutomountServiceAccountToken), show(pod.AutomountServiceAccountToken), sa.Name)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers: want deployq alone", len(pod.Containers))
	}
	c := pod.Containers[0]
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}

	// the config: mounted where the command reads it, with data_dir on
	// the claim, listening where the probes and the Service look
	text, ok := cm.Data["deployq.yaml"]
	if !ok {
		t.Fatalf("ConfigMap %s has no deployq.yaml", cm.Name)
	}
	var cfg deployqConfig
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("ConfigMap %s: deployq.yaml: %v", cm.Name, err)
	}
	if want := []string{"serve", "--config", "/etc/deployq/deployq.yaml"}; !slices.Equal(c.Args, want) || len(c.Command) > 0 {
		t.Errorf("container command %q args %q: want the image's entrypoint with %q", c.Command, c.Args, want)
	}
	configMounted := false
	for _, v := range pod.Volumes {
		if mounts[v.Name] != "/etc/deployq" {
			continue
		}
		if v.ConfigMap != nil {
			configMounted = v.ConfigMap.Name == cm.Name
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				configMounted = configMounted || (s.ConfigMap != nil && s.ConfigMap.Name == cm.Name)
			}
		}
	}
	if !configMounted {
		t.Errorf("ConfigMap %s is not mounted at /etc/deployq", cm.Name)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || mounts[sts.Spec.VolumeClaimTemplates[0].Name] != "/var/lib/deployq" {
		t.Errorf("volumeClaimTemplates %d, mounts %v: want one claim mounted at /var/lib/deployq", len(sts.Spec.VolumeClaimTemplates), mounts)
	}
	if cfg.Server.DataDir != "/var/lib/deployq" {
		t.Errorf("the config's data_dir is %q: want /var/lib/deployq, the claim", cfg.Server.DataDir)
	}
	if mounts["tmp"] != "/tmp" {
		t.Errorf("mounts %v: want a writable /tmp beside the read-only root", mounts)
	}
	host, port, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil || host != "0.0.0.0" || len(cfg.Server.APITokens) == 0 {
		t.Errorf("the config listens on %q with %d api_tokens: want 0.0.0.0:PORT (other pods reach it), with tokens (deployq refuses an open API off loopback)",
			cfg.Server.Listen, len(cfg.Server.APITokens))
	}
	if len(c.Ports) != 1 || fmt.Sprint(c.Ports[0].ContainerPort) != port || c.Ports[0].Name != "http" {
		t.Errorf("container ports %+v: want http, %s, the config's", c.Ports, port)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v: want GET /healthz on http", name, p)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" ||
		!labelsMatch(svc.Spec.Selector, sts.Spec.Template.Labels) || sts.Spec.ServiceName != svc.Name {
		t.Errorf("Service %s %+v selects %v: want port http of the pods %v, and the StatefulSet's serviceName", svc.Name, svc.Spec.Ports, svc.Spec.Selector, sts.Spec.Template.Labels)
	}

	// the kubernetes runner without a kubeconfig: the pod's service account
	inCluster := false
	for _, a := range cfg.Apps {
		for _, e := range a.Environments {
			if e.Runner == "kubernetes" && e.Kubernetes != nil {
				inCluster = inCluster || e.Kubernetes.Kubeconfig == ""
			}
		}
	}
	if !inCluster {
		t.Errorf("no environment of the config uses the kubernetes runner with the in-cluster config")
	}

	// not root, nothing to gain, nothing written outside the volumes
	uid, gid := imageUser(t, dockerfileOf(t))
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil || !ptrIs(psc.RunAsNonRoot, true) || !ptrIs(psc.RunAsUser, int64(uid)) || !ptrIs(psc.RunAsGroup, int64(gid)) ||
		!ptrIs(psc.FSGroup, int64(gid)) || !ptrIs(sc.ReadOnlyRootFilesystem, true) || !ptrIs(sc.AllowPrivilegeEscalation, false) {
		t.Errorf("securityContext %+v, container's %+v: want runAsNonRoot, the image's user %d:%d (fsGroup too), a read-only root file system, no privilege escalation",
			psc, sc, uid, gid)
	}

	// the stop: longer than kill_grace, and then some
	grace, err := time.ParseDuration(cfg.Server.KillGrace)
	if err != nil {
		t.Fatalf("the config's kill_grace %q: %v", cfg.Server.KillGrace, err)
	}
	if p := pod.TerminationGracePeriodSeconds; p == nil || time.Duration(*p)*time.Second < grace+20*time.Second {
		t.Errorf("terminationGracePeriodSeconds %s: want at least kill_grace (%s) and 20s", show(p), grace)
	}

	// the config passes check-config with the variables the pod is given
	var env []string
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("env %s is not from a Secret: tokens belong in Secrets", e.Name)
		}
		env = append(env, e.Name+"=0123456789abcdef0123456789abcdef")
	}
	path := filepath.Join(t.TempDir(), "deployq.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(deployq(t), "check-config", "--config", path)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("deployq check-config of ConfigMap %s with the pod's env %q: %v\n%s", cm.Name, env, err, out)
	}
}

func ptrIs[T comparable](p *T, v T) bool { return p != nil && *p == v }

func show[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func labelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// warnings keeps the warnings an API server answers with.
type warnings struct {
	mu   sync.Mutex
	seen []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.seen
	w.seen = nil
	return out
}

// applier creates manifests through the dynamic client, as kubectl would.
type applier struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	warned *warnings
}

func newApplier(t *testing.T, c *kubetest.Cluster) *applier {
	t.Helper()
	cfg := rest.CopyConfig(c.Config)
	w := &warnings{}
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{dyn: dyn, warned: w,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))}
}

// create creates obj in ns (when it is namespaced); dryRun: the server
// validates, admits and answers, and stores nothing.
func (a *applier) create(ctx context.Context, obj *unstructured.Unstructured, ns string, dryRun bool) error {
	gvk := obj.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	res := dynamic.ResourceInterface(a.dyn.Resource(mapping.Resource))
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		res = a.dyn.Resource(mapping.Resource).Namespace(ns)
	}
	o := metav1.CreateOptions{FieldValidation: "Strict"}
	if dryRun {
		o.DryRun = []string{metav1.DryRunAll}
	}
	_, err = res.Create(ctx, obj.DeepCopy(), o)
	return err
}

// restrictedNamespace makes a namespace where pods must meet the
// restricted Pod Security Standard, and workloads whose pods would not
// are warned about.
func restrictedNamespace(t *testing.T, c *kubetest.Cluster) string {
	t.Helper()
	ns, err := c.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "deployq-",
		Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// TestKubernetesManifestsDryRun creates every manifest on a real API
// server with a server-side dry run, in a namespace that enforces the
// restricted Pod Security Standard: each must be accepted, with strict
// field validation, and without a warning.
func TestKubernetesManifestsDryRun(t *testing.T) {
	c := needCluster(t)
	ms := manifests(t)
	ns := restrictedNamespace(t, c)
	a := newApplier(t, c)
	for _, m := range ms {
		if err := a.create(t.Context(), m.obj, ns, true); err != nil {
			t.Errorf("%s: refused: %v", m, err)
		}
		if w := a.warned.take(); len(w) > 0 {
			t.Errorf("%s: warned: %s", m, strings.Join(w, "; "))
		}
	}

	// As README says to apply them, with kubectl.
	kubectl := exec.CommandContext(t.Context(), filepath.Join(kubetest.BinDir(), "kubectl"), "--kubeconfig", c.Kubeconfig,
		"apply", "--dry-run=server", "--namespace", ns, "--filename", filepath.Join(root(t), manifestDir))
	if out, err := kubectl.CombinedOutput(); err != nil || strings.Contains(string(out), "Warning") {
		t.Errorf("kubectl apply --dry-run=server: %v\n%s", err, out)
	}

	// The same path refuses what is wrong: the checks above can fail.
	var sts manifest
	for _, m := range ms {
		if m.obj.GetKind() == "StatefulSet" {
			sts = m
		}
	}
	if sts.obj == nil {
		t.Fatal("no StatefulSet")
	}
	invalid := sts.obj.DeepCopy()
	if err := unstructured.SetNestedField(invalid.Object, int64(-1), "spec", "replicas"); err != nil {
		t.Fatal(err)
	}
	if err := a.create(t.Context(), invalid, ns, true); !apierrors.IsInvalid(err) {
		t.Errorf("a StatefulSet with replicas -1: %v: want it refused as invalid", err)
	}
	asRoot := sts.obj.DeepCopy()
	if err := unstructured.SetNestedField(asRoot.Object, false, "spec", "template", "spec", "securityContext", "runAsNonRoot"); err != nil {
		t.Fatal(err)
	}
	if err := a.create(t.Context(), asRoot, ns, true); err != nil {
		t.Fatal(err)
	}
	if w := a.warned.take(); len(w) == 0 {
		t.Errorf("a StatefulSet whose pods may run as root: no Pod Security warning")
	}
}

// TestKubernetesServiceAccountCanDeploy creates the service account and
// its RBAC for real, then runs the kubernetes runner as that service
// account (impersonated, as the pod would be with its token): it must roll
// out a Deployment, a StatefulSet and a DaemonSet, and be refused what it
// does not need.
func TestKubernetesServiceAccountCanDeploy(t *testing.T) {
	c := needCluster(t)
	ctx := t.Context()
	ns, err := c.Namespace(ctx, "deployq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	a := newApplier(t, c)
	var saName string
	for _, m := range manifests(t) {
		switch m.obj.GetKind() {
		case "ServiceAccount":
			saName = m.obj.GetName()
		case "ClusterRole", "RoleBinding":
		default:
			continue
		}
		if err := a.create(ctx, m.obj, ns, false); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("%s: %v", m, err)
		}
	}
	if saName == "" {
		t.Fatal("no ServiceAccount in the manifests")
	}
	user := "system:serviceaccount:" + ns + ":" + saName

	// the workloads, made by someone else
	tmpl := func(name, image string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}},
				Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists}}},
		}
	}
	sel := func(name string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	}
	apps := c.Client.AppsV1()
	if _, err := apps.Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: sel("web"), Template: tmpl("web", "registry.example.com/web:old")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := apps.StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: sel("db"), Template: tmpl("db", "registry.example.com/db:old")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := apps.DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: sel("agent"), Template: tmpl("agent", "registry.example.com/agent:old")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The service account's view of the cluster.
	kubeconfig := impersonating(t, c, user)
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	as, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	can := func(verb, group, resource, namespace string) bool {
		r, err := as.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: namespace, Verb: verb, Group: group, Resource: resource}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("access review as %s: %v", user, err)
		}
		return r.Status.Allowed
	}
	// RBAC reads its rules from a cache: wait until the binding is in it
	queuetest.Eventually(t, user+" may get deployments", func() bool { return can("get", "apps", "deployments", ns) })

	// what the runner reads besides the workloads: the Warning events and
	// the pods they are about
	for _, r := range []struct{ verb, group, resource string }{
		{"list", "", "events"}, {"watch", "", "events"}, {"get", "", "pods"},
		{"list", "apps", "replicasets"},
	} {
		if !can(r.verb, r.group, r.resource, ns) {
			t.Errorf("%s may not %s %s: the runner needs it", user, r.verb, r.resource)
		}
	}
	// and nothing it does not need
	for _, r := range []struct{ verb, group, resource, ns string }{
		{"list", "", "secrets", ns}, {"delete", "apps", "deployments", ns}, {"create", "", "pods", ns},
		{"update", "apps", "deployments", "default"}, {"update", "rbac.authorization.k8s.io", "rolebindings", ns},
	} {
		if can(r.verb, r.group, r.resource, r.ns) {
			t.Errorf("%s may %s %s in %s: it should not", user, r.verb, r.resource, r.ns)
		}
	}

	st := &kuberunner.Settings{Kubeconfig: kubeconfig, Namespace: ns, Timeout: 2 * time.Minute, Targets: []kuberunner.Target{
		{Workload: "deployment/web", Containers: map[string]string{"app": "registry.example.com/web:{sha}"}},
		{Workload: "statefulset/db", Containers: map[string]string{"app": "registry.example.com/db:{sha}"}},
		{Workload: "daemonset/agent", Containers: map[string]string{"app": "registry.example.com/agent:{sha}"}},
	}}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	const sha = "3333333333333333333333333333333333333333"
	job := queue.Job{DeployID: 1, Number: 1, App: "web", Env: "production", Ref: "main", SHA: sha, User: "alice", Settings: st}
	out := runnertest.NewRecorder()
	runCtx, cancel := context.WithTimeout(ctx, queuetest.Patience)
	defer cancel()
	// the runner as the image runs it: deployq-kubernetes, built as the
	// Dockerfile builds it
	runner := &kuberunner.Runner{Path: deployqKubernetes(t), Log: func(msg string) { t.Log(msg) }}
	res, err := runner.Run(runCtx, job, out)
	if err != nil || !res.OK {
		t.Fatalf("the runner as %s: %+v, %v: want a rollout\n%s", user, res, err, out.Text())
	}
	d, _ := apps.Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	s, _ := apps.StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
	ds, _ := apps.DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
	for kind, img := range map[string]string{"deployment": image(d.Spec.Template), "statefulset": image(s.Spec.Template), "daemonset": image(ds.Spec.Template)} {
		if !strings.HasSuffix(img, ":"+sha) {
			t.Errorf("the %s runs %s after the deploy: want the new image", kind, img)
		}
	}
}

func image(t corev1.PodTemplateSpec) string { return t.Spec.Containers[0].Image }

// impersonating writes a kubeconfig that is the cluster's admin one
// acting as user.
func impersonating(t *testing.T, c *kubetest.Cluster, user string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
