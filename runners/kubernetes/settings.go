package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Target is one workload whose containers get new images.
type Target struct {
	// Workload is kind/name: deployment/web, statefulset/db, daemonset/agent
	// (kubectl's short names too).
	Workload string `yaml:"workload"`
	// Containers maps a container's name to its image template, e.g.
	// registry.example.com/web:{sha}.
	Containers map[string]string `yaml:"containers"`
}

// Settings are an environment's kubernetes runner settings.
type Settings struct {
	// Kubeconfig is a path; empty: the in-cluster config.
	Kubeconfig string `yaml:"kubeconfig"`
	// Context is the kubeconfig context; empty: its current one.
	Context string `yaml:"context"`
	// Namespace is where the targets are; empty: the context's, or
	// "default".
	Namespace string `yaml:"namespace"`
	// Targets are rolled out one after another, in this order.
	Targets []Target `yaml:"targets"`
	// Manifests is a directory of YAML applied server-side, with {sha}
	// and the other placeholders filled in image fields.
	Manifests string `yaml:"manifests"`
	// Timeout bounds each rollout (default 10m).
	Timeout time.Duration `yaml:"timeout"`
	// UndoTimeout bounds each undo (default 5m).
	UndoTimeout time.Duration `yaml:"undo_timeout"`
}

// kinds are the workloads whose rollouts are followed.
var kinds = map[string]schema.GroupVersionResource{
	"deployment":  {Group: "apps", Version: "v1", Resource: "deployments"},
	"statefulset": {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"daemonset":   {Group: "apps", Version: "v1", Resource: "daemonsets"},
}

// kindAliases are kubectl's short and plural names.
var kindAliases = map[string]string{
	"deploy": "deployment", "deployments": "deployment",
	"sts": "statefulset", "statefulsets": "statefulset",
	"ds": "daemonset", "daemonsets": "daemonset",
}

// Validate checks the settings, and that the kubeconfig, when one is
// named, loads: its context exists and the certificates and keys it names
// parse. Each problem is one of the errors joined.
func (s *Settings) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(s.Targets) == 0 && s.Manifests == "" {
		add("targets or manifests is required")
	}
	for i, t := range s.Targets {
		if _, _, err := parseWorkload(t.Workload); err != nil {
			add("targets[%d]: %v", i, err)
		}
		if len(t.Containers) == 0 {
			add("targets[%d] (%s): containers is required (name: image template)", i, t.Workload)
		}
		for _, name := range slices.Sorted(maps.Keys(t.Containers)) {
			if _, err := runners.ExpandPlain(t.Containers[name], runners.Placeholders(queue.Job{})); err != nil {
				add("targets[%d] (%s) container %s: %v", i, t.Workload, name, err)
			}
		}
	}
	if s.Manifests != "" {
		if fi, err := os.Stat(s.Manifests); err != nil || !fi.IsDir() {
			add("manifests %q: not a directory", s.Manifests)
		} else if objs, err := loadManifests(s.Manifests); err != nil {
			add("%v", err)
		} else {
			for _, o := range objs {
				if err := expandImages(o.Object, runners.Placeholders(queue.Job{})); err != nil {
					add("manifests %s/%s: %v", o.GetKind(), o.GetName(), err)
				}
			}
		}
	}
	if s.Kubeconfig != "" {
		if err := s.checkKubeconfig(); err != nil {
			add("kubeconfig %s: %v", s.Kubeconfig, err)
		}
	}
	if s.Timeout < 0 || s.UndoTimeout < 0 {
		add("timeouts cannot be negative")
	}
	return errors.Join(errs...)
}

// checkKubeconfig loads the kubeconfig as a deploy would, with the
// settings' context, and reads the certificates and keys it names.
func (s *Settings) checkKubeconfig() error {
	cfg, err := clientcmd.LoadFromFile(s.Kubeconfig)
	if err != nil {
		return err
	}
	name := s.Context
	if name == "" {
		name = cfg.CurrentContext
	}
	if _, ok := cfg.Contexts[name]; !ok || name == "" {
		return fmt.Errorf("no context %q (contexts: %s)", name, strings.Join(slices.Sorted(maps.Keys(cfg.Contexts)), ", "))
	}
	rc, err := clientcmd.NewNonInteractiveClientConfig(*cfg, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return err
	}
	_, err = rest.TLSConfigFor(rc)
	return err
}

// Probe implements config.Prober for check-config --online: it asks the
// API server its version (a discovery call), then reads each target
// workload, as a deploy would; nothing is changed.
func (s *Settings) Probe(ctx context.Context, report func(what string, err error)) {
	where := "in-cluster config"
	if s.Kubeconfig != "" {
		where = s.Kubeconfig
		if s.Context != "" {
			where += " context " + s.Context
		}
	}
	c, err := New().client(s)
	if err != nil {
		report(where, err)
		return
	}
	raw, err := c.typed.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	var v version.Info
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	if err != nil {
		report(where, fmt.Errorf("the API server does not answer: %w", err))
		return
	}
	report(fmt.Sprintf("%s: API server answers, Kubernetes %s", where, v.GitVersion), nil)
	for _, t := range s.Targets {
		kind, name, _ := parseWorkload(t.Workload)
		what := fmt.Sprintf("%s in namespace %s", t.Workload, c.ns)
		if _, err := c.dyn.Resource(kinds[kind]).Namespace(c.ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			report(what, err)
			continue
		}
		report(what+": found", nil)
	}
}

func parseWorkload(w string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(w, "/")
	kind = strings.ToLower(kind)
	if k, ok := kindAliases[kind]; ok {
		kind = k
	}
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("workload %q: want kind/name, e.g. deployment/web", w)
	}
	if _, ok := kinds[kind]; !ok {
		return "", "", fmt.Errorf("workload %q: kind must be deployment, statefulset or daemonset", w)
	}
	return kind, name, nil
}
