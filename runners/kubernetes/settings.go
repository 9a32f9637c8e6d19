// Package kubernetes is the kubernetes runner as the deployq server sees
// it: the settings of an environment, checked without reaching the
// cluster, and a Runner that runs each deploy, `where`'s live view and
// check-config's probe in a deployq-kubernetes process, started for that
// call alone and spoken to over its stdin and stdout (protocol.go).
//
// The rollouts themselves are in runners/kubernetes/kube, with client-go;
// that package is linked into deployq-kubernetes only. Client-go and the
// Kubernetes API types register their schemes when the program starts,
// whether a runner uses them or not: in the server they would cost every
// deployq, Kubernetes or not, some 20 MB of memory.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
)

// Target is one workload whose containers get new images.
type Target struct {
	// Workload is kind/name: deployment/web, statefulset/db, daemonset/agent
	// (kubectl's short names too).
	Workload string `yaml:"workload" json:"workload"`
	// Containers maps a container's name to its image template, e.g.
	// registry.example.com/web:{sha}.
	Containers map[string]string `yaml:"containers" json:"containers"`
}

// Settings are an environment's kubernetes runner settings.
type Settings struct {
	// Kubeconfig is a path; empty: the in-cluster config.
	Kubeconfig string `yaml:"kubeconfig" json:"kubeconfig,omitempty"`
	// Context is the kubeconfig context; empty: its current one.
	Context string `yaml:"context" json:"context,omitempty"`
	// Namespace is where the targets are; empty: the context's, or
	// "default".
	Namespace string `yaml:"namespace" json:"namespace,omitempty"`
	// Targets are rolled out one after another, in this order.
	Targets []Target `yaml:"targets" json:"targets,omitempty"`
	// Manifests is a directory of YAML applied server-side, with {sha}
	// and the other placeholders filled in image fields.
	Manifests string `yaml:"manifests" json:"manifests,omitempty"`
	// Timeout bounds each rollout (default 10m).
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// UndoTimeout bounds each undo (default 5m).
	UndoTimeout time.Duration `yaml:"undo_timeout" json:"undo_timeout,omitempty"`
}

// Kinds are the workloads whose rollouts are followed, by the name
// ParseWorkload returns.
var Kinds = []string{"deployment", "statefulset", "daemonset"}

// kindAliases are kubectl's short and plural names.
var kindAliases = map[string]string{
	"deploy": "deployment", "deployments": "deployment",
	"sts": "statefulset", "statefulsets": "statefulset",
	"ds": "daemonset", "daemonsets": "daemonset",
}

// ParseWorkload reads a target's kind/name; kind is one of Kinds.
func ParseWorkload(w string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(w, "/")
	kind = strings.ToLower(kind)
	if k, ok := kindAliases[kind]; ok {
		kind = k
	}
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("workload %q: want kind/name, e.g. deployment/web", w)
	}
	if !slices.Contains(Kinds, kind) {
		return "", "", fmt.Errorf("workload %q: kind must be deployment, statefulset or daemonset", w)
	}
	return kind, name, nil
}

// Validate checks the settings, and that the kubeconfig, when one is
// named, loads: its context exists and the certificates and keys it names
// parse. Each problem is one of the errors joined. It reads files only:
// whether the cluster answers is check-config --online's question.
func (s *Settings) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(s.Targets) == 0 && s.Manifests == "" {
		add("targets or manifests is required")
	}
	blank := runners.Placeholders(queue.Job{})
	for i, t := range s.Targets {
		if _, _, err := ParseWorkload(t.Workload); err != nil {
			add("targets[%d]: %v", i, err)
		}
		if len(t.Containers) == 0 {
			add("targets[%d] (%s): containers is required (name: image template)", i, t.Workload)
		}
		for _, name := range slices.Sorted(maps.Keys(t.Containers)) {
			if _, err := runners.ExpandPlain(t.Containers[name], blank); err != nil {
				add("targets[%d] (%s) container %s: %v", i, t.Workload, name, err)
			}
		}
	}
	if s.Manifests != "" {
		if fi, err := os.Stat(s.Manifests); err != nil || !fi.IsDir() {
			add("manifests %q: not a directory", s.Manifests)
		} else if err := checkManifests(s.Manifests, blank); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Kubeconfig != "" {
		if err := checkKubeconfig(s.Kubeconfig, s.Context); err != nil {
			add("kubeconfig %s: %v", s.Kubeconfig, err)
		}
	}
	if s.Timeout < 0 || s.UndoTimeout < 0 {
		add("timeouts cannot be negative")
	}
	return errors.Join(errs...)
}

// Probe implements config.Prober for check-config --online: in a
// deployq-kubernetes process, it asks the API server its version, then
// reads each target workload, as a deploy would; nothing is changed.
func (s *Settings) Probe(ctx context.Context, report func(what string, err error)) {
	New().Probe(ctx, s, report)
}

// Where names the cluster the settings reach, as probes say it.
func (s *Settings) Where() string {
	if s.Kubeconfig == "" {
		return "in-cluster config"
	}
	if s.Context != "" {
		return s.Kubeconfig + " context " + s.Context
	}
	return s.Kubeconfig
}
