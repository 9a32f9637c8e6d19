package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"gopkg.in/yaml.v3"
)

// Prometheus is the prometheus section: the server the checks of
// verifications query unless they name their own.
type Prometheus struct {
	URL string `yaml:"url"`
}

// verifyConfig is an environment's verification: after its runner
// succeeded, a deploy stays verifying For while its checks run Every.
type verifyConfig struct {
	For       time.Duration `yaml:"for"`
	Every     time.Duration `yaml:"every"`
	OnFailure string        `yaml:"on_failure"` // rollback (default) or alert
	Checks    []checkConfig `yaml:"checks"`
}

// checkConfig is one check: exactly one of http, prometheus and command.
type checkConfig struct {
	Name       string        `yaml:"name"`
	HTTP       *httpCheck    `yaml:"http"`
	Prometheus *promCheck    `yaml:"prometheus"`
	Command    string        `yaml:"command"`
	Timeout    time.Duration `yaml:"timeout"`
}

type httpCheck struct {
	URL    string `yaml:"url"`
	Status int    `yaml:"status"`
	Body   string `yaml:"body"` // a regular expression the body matches
}

type promCheck struct {
	Server string `yaml:"server"` // default: the prometheus section's url
	Query  string `yaml:"query"`
	Want   string `yaml:"want"` // "< 0.01": how the query's value compares
}

var wantRe = regexp.MustCompile(`^\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$`)

// verify reads an environment's verification.
func (d *decoder) verify(vc *verifyConfig, n *yaml.Node, app *queue.App, env, key string) *queue.Verify {
	if vc == nil {
		return nil
	}
	key += ".verify"
	at := func(path ...any) *yaml.Node { return closest(n, append([]any{"verify"}, path...)...) }
	v := &queue.Verify{For: vc.For, Every: vc.Every, OnFailure: vc.OnFailure}
	if v.Every == 0 {
		v.Every = 15 * time.Second
	}
	switch {
	case v.For <= 0:
		d.fail(at("for"), key+".for", "want how long to verify, such as 5m")
	case v.Every < time.Second || v.Every > v.For:
		d.fail(at("every"), key+".every", "want at least 1s and at most for (%s), got %s", v.For, v.Every)
	}
	switch v.OnFailure {
	case "":
		v.OnFailure = queue.VerifyRollback
	case queue.VerifyRollback, queue.VerifyAlert:
	default:
		d.fail(at("on_failure"), key+".on_failure", "want rollback or alert, got %q", v.OnFailure)
	}
	if len(vc.Checks) == 0 {
		d.fail(at("checks"), key+".checks", "a verification lists its checks (http, prometheus or command)")
	}
	seen := map[string]bool{}
	for i, cc := range vc.Checks {
		c, ok := d.check(cc, at("checks", i), app, env, fmt.Sprintf("%s.checks[%d]", key, i))
		if c.Name != "" && seen[c.Name] {
			d.fail(at("checks", i, "name"), fmt.Sprintf("%s.checks[%d].name", key, i), "check %q twice: give each a name", c.Name)
			continue
		}
		seen[c.Name] = true
		if ok {
			v.Checks = append(v.Checks, c)
		}
	}
	return v
}

// check reads one check of a verification.
func (d *decoder) check(cc checkConfig, n *yaml.Node, app *queue.App, env, key string) (queue.VerifyCheck, bool) {
	c := queue.VerifyCheck{Name: cc.Name, Timeout: cc.Timeout}
	kinds := 0
	for _, set := range []bool{cc.HTTP != nil, cc.Prometheus != nil, cc.Command != ""} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		d.fail(n, key, "want exactly one of http, prometheus and command")
		return c, false
	}
	if c.Timeout < 0 {
		d.fail(closest(n, "timeout"), key+".timeout", "cannot be negative")
	}
	ok := true
	switch {
	case cc.HTTP != nil:
		c.Kind = queue.CheckHTTP
		h := cc.HTTP
		c.URL, c.Status, c.Body = fillEnv(h.URL, app, env), h.Status, h.Body
		if u, err := url.Parse(c.URL); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			d.fail(closest(n, "http", "url"), key+".http.url", "want an http or https URL, got %q", h.URL)
			ok = false
		}
		if c.Status == 0 {
			c.Status = 200
		} else if c.Status < 100 || c.Status > 599 {
			d.fail(closest(n, "http", "status"), key+".http.status", "want an HTTP status, got %d", c.Status)
			ok = false
		}
		if _, err := regexp.Compile(c.Body); err != nil {
			d.fail(closest(n, "http", "body"), key+".http.body", "not a regular expression: %v", err)
			ok = false
		}
	case cc.Prometheus != nil:
		c.Kind = queue.CheckPrometheus
		p := cc.Prometheus
		c.Server, c.Query = p.Server, fillEnv(p.Query, app, env)
		if c.Server == "" {
			c.Server = d.prometheus
		}
		if u, err := url.Parse(c.Server); c.Server == "" || err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			d.fail(closest(n, "prometheus", "server"), key+".prometheus.server", "want the Prometheus server's URL (here, or prometheus.url), got %q", c.Server)
			ok = false
		}
		if strings.TrimSpace(c.Query) == "" {
			d.fail(closest(n, "prometheus", "query"), key+".prometheus.query", "want a PromQL query with one value")
			ok = false
		}
		m := wantRe.FindStringSubmatch(p.Want)
		var err error
		if m != nil {
			c.Op = m[1]
			c.Value, err = strconv.ParseFloat(m[2], 64)
		}
		if m == nil || err != nil {
			d.fail(closest(n, "prometheus", "want"), key+".prometheus.want", "want a comparison such as \"< 0.01\", got %q", p.Want)
			ok = false
		}
	default:
		c.Kind, c.Command = queue.CheckCommand, cc.Command
	}
	if c.Name == "" {
		c.Name = c.Kind
	}
	if !queue.ValidName(c.Name) {
		d.fail(closest(n, "name"), key+".name", "want a name of lower-case letters, digits, '-', '_' or '.', got %q", c.Name)
		ok = false
	}
	return c, ok
}

// fillEnv fills {app} and {env} in what a check reads.
func fillEnv(s string, app *queue.App, env string) string {
	return strings.NewReplacer("{app}", app.Name, "{env}", env).Replace(s)
}
