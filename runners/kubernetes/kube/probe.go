package kube

import (
	"context"
	"encoding/json"
	"fmt"

	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
)

// Probe is check-config --online's look at the cluster of st: it asks
// the API server its version (a discovery call), then reads each target
// workload, as a deploy would; nothing is changed.
func (r *Runner) Probe(ctx context.Context, st *kuberunner.Settings, report func(what string, err error)) {
	where := st.Where()
	c, err := r.client(st)
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
	for _, t := range st.Targets {
		kind, name, _ := kuberunner.ParseWorkload(t.Workload)
		what := fmt.Sprintf("%s in namespace %s", t.Workload, c.ns)
		if _, err := c.dyn.Resource(kinds[kind]).Namespace(c.ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			report(what, err)
			continue
		}
		report(what+": found", nil)
	}
}
