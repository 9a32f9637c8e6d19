// Package verify runs the checks that watch what a deploy brought, during
// its environment's verification: an HTTP endpoint's answer, a Prometheus
// query's value, a command's exit status.
package verify

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
)

// Prober implements queue.Prober.
type Prober struct {
	// Workspace holds one directory per app, where commands run (the
	// shell runner's workspaces).
	Workspace string
	// Client makes the HTTP checks' requests (http.DefaultClient when nil).
	Client *http.Client
}

// New returns a prober whose commands run in workspace/APP.
func New(workspace string) *Prober { return &Prober{Workspace: workspace} }

// bodyLimit is how much of an answer an HTTP check reads.
const bodyLimit = 1 << 20

// Probe implements queue.Prober.
func (p *Prober) Probe(ctx context.Context, job queue.Job, c queue.VerifyCheck, out queue.Output) queue.Evidence {
	switch c.Kind {
	case queue.CheckHTTP:
		return p.http(ctx, c)
	case queue.CheckPrometheus:
		return prometheus(ctx, c)
	case queue.CheckCommand:
		return p.command(ctx, job, c, out)
	}
	return queue.Evidence{Said: fmt.Sprintf("unknown kind of check %q", c.Kind)}
}

func (p *Prober) http(ctx context.Context, c queue.VerifyCheck) queue.Evidence {
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return queue.Evidence{Said: "GET " + c.URL + ": " + err.Error()}
	}
	req.Header.Set("User-Agent", "deployq-verify")
	resp, err := client.Do(req)
	if err != nil {
		return queue.Evidence{Said: "GET " + c.URL + ": " + short(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, bodyLimit))
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case resp.StatusCode != c.Status:
		return queue.Evidence{Said: fmt.Sprintf("GET %s: %d (want %d)", c.URL, resp.StatusCode, c.Status)}
	case err != nil:
		return queue.Evidence{Said: fmt.Sprintf("GET %s: %d, reading its body: %s", c.URL, resp.StatusCode, short(err))}
	case c.Body != "" && !regexp.MustCompile(c.Body).Match(body): // compiled when the config was read
		return queue.Evidence{Said: fmt.Sprintf("GET %s: %d, the body does not match %q", c.URL, resp.StatusCode, c.Body)}
	}
	return queue.Evidence{OK: true, Said: fmt.Sprintf("%d in %s", resp.StatusCode, took)}
}

func prometheus(ctx context.Context, c queue.VerifyCheck) queue.Evidence {
	client, err := promapi.NewClient(promapi.Config{Address: c.Server})
	if err != nil {
		return queue.Evidence{Said: "Prometheus at " + c.Server + ": " + err.Error()}
	}
	v, _, _, err := promv1.NewAPI(client).Query(ctx, c.Query, time.Now())
	if err != nil {
		return queue.Evidence{Said: "the query failed: " + short(err)}
	}
	value, err := one(v)
	if err != nil {
		return queue.Evidence{Said: err.Error()}
	}
	ok := compare(value, c.Op, c.Value)
	verdict := "true"
	if !ok {
		verdict = "false"
	}
	return queue.Evidence{OK: ok, Said: fmt.Sprintf("%s %s %s is %s", fmtFloat(value), c.Op, fmtFloat(c.Value), verdict)}
}

// one is the value of a query's answer that holds one: a scalar, or a
// vector of one sample.
func one(v model.Value) (float64, error) {
	switch v := v.(type) {
	case *model.Scalar:
		return float64(v.Value), nil
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, fmt.Errorf("the query returned no value (no data: add `or vector(0)` if none means fine)")
		case 1:
			return float64(v[0].Value), nil
		}
		return 0, fmt.Errorf("the query returned %d series; want one value (sum or aggregate them)", len(v))
	}
	return 0, fmt.Errorf("the query returned a %s; want one value", v.Type())
}

func compare(a float64, op string, b float64) bool {
	switch op {
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "==":
		return a == b
	case "!=":
		return a != b
	}
	return false
}

func fmtFloat(f float64) string { return fmt.Sprintf("%.4g", f) }

func (p *Prober) command(ctx context.Context, job queue.Job, c queue.VerifyCheck, out queue.Output) queue.Evidence {
	command, err := runners.ExpandShell(c.Command, runners.Placeholders(job))
	if err != nil {
		return queue.Evidence{Said: err.Error()}
	}
	dir := filepath.Join(p.Workspace, job.App)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return queue.Evidence{Said: err.Error()}
	}
	stdout, stderr := out.Stream(queue.StreamStdout, ""), out.Stream(queue.StreamStderr, "")
	defer stdout.Close()
	defer stderr.Close()
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runners.JobEnv(job)...)
	err = runners.RunGroup(ctx, cmd, stdout, stderr, time.Second, "")
	if ctx.Err() != nil {
		return queue.Evidence{Said: fmt.Sprintf("%s: no end within %s", c.Command, c.Timeout)}
	}
	res, err := runners.ExitResult(err)
	switch {
	case err != nil:
		return queue.Evidence{Said: "could not run: " + err.Error()}
	case !res.OK:
		return queue.Evidence{Said: res.Message + " (its output is above)"}
	}
	return queue.Evidence{OK: true, Said: "exit status 0"}
}

// short is an error's words on one line.
func short(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }
