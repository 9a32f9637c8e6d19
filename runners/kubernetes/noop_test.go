package kubernetes_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A dry run: the API server's dry run of the manifests and of the new
// images, and the fields that would change; the cluster keeps what it
// had.
func TestNoopSaysWhatWouldChange(t *testing.T) {
	ctx, ns := needCluster(t)
	createDeployment(t, ctx, ns, "web", "registry.example.com/web:old", 2, 600)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-flags\ndata:\n  color: blue\n"), 0o644)
	st := settings(ns, kuberunner.Target{Workload: "deployment/web", Containers: map[string]string{"web": "registry.example.com/web:{sha}"}})
	st.Manifests = dir
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	env := &queue.Environment{Name: "production", Runner: "kubernetes", Settings: st}
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "production", Environments: []*queue.Environment{env}}},
		func(o *queue.Options) { o.Runners["kubernetes"] = newRunner(t) })
	d, err := q.Svc.Submit(q.Ctx, queue.Request{App: "web", Ref: sha1, User: "alice", Noop: true})
	if err != nil {
		t.Fatal(err)
	}
	d, log := q.Follow(t, d.ID)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	for _, want := range []string{"dry run: nothing is changed in the cluster", "configmap/web-flags would be created",
		"deployment/web would change:", "- spec.template.spec.containers.0.image: registry.example.com/web:old",
		"+ spec.template.spec.containers.0.image: registry.example.com/web:" + sha1} {
		if !strings.Contains(log, want) {
			t.Fatalf("the dry run's log lacks %q:\n%s", want, log)
		}
	}
	if img := image(t, ctx, ns, "web"); img != "registry.example.com/web:old" {
		t.Fatalf("the dry run changed the image: %s", img)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-flags", metav1.GetOptions{}); err == nil {
		t.Fatal("the dry run created the configmap")
	}
}
