// Command kubebench times how long after a Deployment becomes available
// deployq marks the deploy succeeded, against `kubectl rollout status`
// following the same rollout in the same run, on a real control plane
// (internal/kubetest; build it first with go run ./internal/kubetest/build).
//
// Each run deploys a new image through a real queue (SQLite store, the
// kubernetes runner). Once deployq has updated the Deployment, kubectl
// rollout status starts too; the Deployment has minReadySeconds, so both
// are watching well before it becomes available. A third watch, the
// bench's own, records when the status first shows the rollout complete;
// each follower's lag is measured from there.
//
//	go run ./bench/kubebench -runs 15
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/git"
	"github.com/deployq/deployq/internal/kubetest"
	"github.com/deployq/deployq/queue"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	"github.com/deployq/deployq/runners/kubernetes/kube"
	"github.com/deployq/deployq/store"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

// marks records when each deploy reached succeeded.
type marks struct {
	mu sync.Mutex
	at map[int64]time.Time
	ch chan int64
}

func (m *marks) DeployChanged(d *queue.Deploy) {
	if d.State.Terminal() {
		m.mu.Lock()
		if _, ok := m.at[d.ID]; !ok {
			m.at[d.ID] = time.Now()
			m.ch <- d.ID
		}
		m.mu.Unlock()
	}
}
func (m *marks) LockChanged(*queue.Lock, bool) {}

func main() {
	runs := flag.Int("runs", 15, "rollouts")
	replicas := flag.Int("replicas", 3, "replicas of the Deployment")
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kubebench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	fmt.Println("starting the control plane...")
	start := time.Now()
	c, err := kubetest.Start(ctx, dir)
	if err != nil {
		fail(err)
	}
	defer c.Close()
	fmt.Printf("ready in %s\n", time.Since(start).Round(10*time.Millisecond))
	ns, err := c.Namespace(ctx, "bench")
	if err != nil {
		fail(err)
	}
	labels := map[string]string{"app": "web"}
	_, err = c.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(*replicas)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			MinReadySeconds: 2,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example.com/web:start"}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		fail(err)
	}
	<-watchAvailable(ctx, c, ns, "registry.example.com/web:start")

	st, err := store.Open(ctx, filepath.Join(dir, "deployq.db"))
	if err != nil {
		fail(err)
	}
	defer st.Close()
	m := &marks{at: map[int64]time.Time{}, ch: make(chan int64, 1)}
	settings := &kuberunner.Settings{Kubeconfig: c.Kubeconfig, Namespace: ns,
		Targets: []kuberunner.Target{{Workload: "deployment/web", Containers: map[string]string{"web": "registry.example.com/web:{sha}"}}}}
	if err := settings.Validate(); err != nil {
		fail(err)
	}
	env := &queue.Environment{Name: "production", Runner: "kubernetes", Settings: settings}
	svc, err := queue.New([]*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "production", Environments: []*queue.Environment{env}}},
		queue.Options{Store: st, Runners: map[string]queue.Runner{"kubernetes": kube.New()},
			Resolver: git.NewResolver(filepath.Join(dir, "git")), Notifiers: []queue.Notifier{m}})
	if err != nil {
		fail(err)
	}
	if err := svc.Start(ctx); err != nil {
		fail(err)
	}
	defer svc.Stop()
	kubectl := filepath.Join(kubetest.BinDir(), "kubectl")

	var dq, kc []time.Duration
	slower := 0
	for i := 1; i <= *runs; i++ {
		sha := fmt.Sprintf("%040x", 0xabc000+i)
		want := "registry.example.com/web:" + sha
		availCh := watchAvailable(ctx, c, ns, want)
		d, err := svc.Submit(ctx, queue.Request{App: "web", Ref: sha, User: "bench"})
		if err != nil {
			fail(err)
		}
		waitImage(ctx, c, ns, want)
		kdone := make(chan time.Time, 1)
		go func() {
			cmd := exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "-n", ns, "rollout", "status", "deployment/web", "--timeout=2m")
			out, err := cmd.CombinedOutput()
			t := time.Now()
			if err != nil {
				fail(fmt.Errorf("kubectl: %v: %s", err, out))
			}
			kdone <- t
		}()
		available := <-availCh
		for id := range m.ch {
			if id == d.ID {
				break
			}
		}
		m.mu.Lock()
		marked := m.at[d.ID]
		m.mu.Unlock()
		kubectlDone := <-kdone
		got, _ := svc.Deploy(ctx, d.ID)
		if got.State != queue.StateSucceeded {
			fail(fmt.Errorf("deploy #%d %s: %s", d.ID, got.State, got.Error))
		}
		a, b := marked.Sub(available), kubectlDone.Sub(available)
		dq, kc = append(dq, a), append(kc, b)
		if a > b {
			slower++
		}
		fmt.Printf("run %2d: deployq %7.1fms  kubectl rollout status %7.1fms\n", i, ms(a), ms(b))
	}
	slices.Sort(dq)
	slices.Sort(kc)
	fmt.Printf("\nfrom the Deployment becoming available, over %d rollouts of %d replicas:\n", *runs, *replicas)
	fmt.Printf("  deployq marks the deploy succeeded:   median %6.1fms  max %6.1fms\n", ms(dq[len(dq)/2]), ms(dq[len(dq)-1]))
	fmt.Printf("  kubectl rollout status exits:         median %6.1fms  max %6.1fms\n", ms(kc[len(kc)/2]), ms(kc[len(kc)-1]))
	fmt.Printf("  runs where deployq was slower than kubectl: %d of %d\n", slower, *runs)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// watchAvailable reports when the Deployment, on image want, first shows
// its rollout complete.
func watchAvailable(ctx context.Context, c *kubetest.Cluster, ns, want string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	w, err := c.Client.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=web"})
	if err != nil {
		fail(err)
	}
	go func() {
		defer w.Stop()
		for e := range w.ResultChan() {
			d, ok := e.Object.(*appsv1.Deployment)
			if !ok || e.Type == watch.Deleted || d.Spec.Template.Spec.Containers[0].Image != want {
				continue
			}
			s := d.Status
			if d.Generation <= s.ObservedGeneration && s.UpdatedReplicas == *d.Spec.Replicas &&
				s.Replicas == s.UpdatedReplicas && s.AvailableReplicas == s.UpdatedReplicas {
				ch <- time.Now()
				return
			}
		}
		fail(fmt.Errorf("the watch ended"))
	}()
	return ch
}

// waitImage waits until deployq has set the new image.
func waitImage(ctx context.Context, c *kubetest.Cluster, ns, want string) {
	for range 6000 {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err == nil && d.Spec.Template.Spec.Containers[0].Image == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	fail(fmt.Errorf("deployq never set %s", want))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kubebench:", strings.TrimSpace(err.Error()))
	os.Exit(1)
}
