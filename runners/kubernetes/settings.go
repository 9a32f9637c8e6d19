package kubernetes

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
	"k8s.io/apimachinery/pkg/runtime/schema"
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

// Validate checks the settings.
func (s *Settings) Validate() error {
	if len(s.Targets) == 0 && s.Manifests == "" {
		return errors.New("targets or manifests is required")
	}
	for i, t := range s.Targets {
		if _, _, err := parseWorkload(t.Workload); err != nil {
			return fmt.Errorf("targets[%d]: %v", i, err)
		}
		if len(t.Containers) == 0 {
			return fmt.Errorf("targets[%d] (%s): containers is required (name: image template)", i, t.Workload)
		}
		for name, tmpl := range t.Containers {
			if _, err := runners.ExpandPlain(tmpl, runners.Placeholders(queue.Job{})); err != nil {
				return fmt.Errorf("targets[%d] (%s) container %s: %v", i, t.Workload, name, err)
			}
		}
	}
	if s.Manifests != "" {
		if fi, err := os.Stat(s.Manifests); err != nil || !fi.IsDir() {
			return fmt.Errorf("manifests %q: not a directory", s.Manifests)
		}
	}
	if s.Timeout < 0 || s.UndoTimeout < 0 {
		return errors.New("timeouts cannot be negative")
	}
	return nil
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
