package marathon

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
	"gopkg.in/yaml.v3"
)

// Strings is one value or a list of them in YAML.
type Strings []string

// UnmarshalYAML takes a scalar or a sequence.
func (s *Strings) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = Strings{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

// Canary is an app deployed, verified and baked before the main ones.
type Canary struct {
	// AppID is the canary app's absolute id, e.g. /prod/web-canary.
	AppID string `yaml:"app_id"`
	// Instances is how many tasks the canary runs (default 1).
	Instances int `yaml:"instances"`
	// Bake is how long the canary is watched, healthy, before the main
	// apps.
	Bake time.Duration `yaml:"bake"`
}

// Settings are an environment's marathon runner settings.
type Settings struct {
	// URL is one Marathon or several: failover on connection errors.
	URL Strings `yaml:"url"`
	// User and Password are for basic auth.
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// Token is a DC/OS token (Authorization: token=...), instead of basic
	// auth.
	Token string `yaml:"token"`
	// CAFile verifies Marathon's TLS certificate against this CA.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify does not verify Marathon's TLS certificate.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// AppID is one app or several, deployed in this order.
	AppID Strings `yaml:"app_id"`
	// Image is the docker image template: registry.example.com/web:{sha}.
	Image string `yaml:"image"`
	// Force PUTs with ?force=true, overriding a running deployment.
	Force bool `yaml:"force"`
	// Timeout is how long each app has to become healthy (default 10m).
	Timeout time.Duration `yaml:"timeout"`
	// HealthGrace is how long new tasks may fail before the app is rolled
	// back (default 1m).
	HealthGrace time.Duration `yaml:"health_grace"`
	// LockedTimeout is how long to wait for someone else's deployment of
	// the app to clear (default 5m).
	LockedTimeout time.Duration `yaml:"locked_timeout"`
	// PollInterval is how often a deployment is looked at (default 1s);
	// events wake the runner sooner.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Canary, if set, is deployed and baked first.
	Canary *Canary `yaml:"canary"`
}

// Validate checks the settings, and that the CA file, when one is named,
// can be read and holds certificates that parse. Each problem is one of
// the errors joined.
func (s *Settings) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(s.URL) == 0 {
		add("url is required (one or several Marathon URLs)")
	}
	for _, u := range s.URL {
		if err := checkURL(u); err != nil {
			add("url %q: %v", u, err)
		}
	}
	if len(s.AppID) == 0 {
		add("app_id is required")
	}
	ids := append([]string{}, s.AppID...)
	if s.Canary != nil {
		if s.Canary.AppID == "" {
			add("canary: app_id is required")
		} else {
			ids = append(ids, s.Canary.AppID)
		}
		if s.Canary.Instances < 0 {
			add("canary: instances cannot be negative")
		}
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "/") || strings.ContainsAny(id, " ?#") {
			add("app_id %q: want an absolute Marathon id like /prod/web", id)
		}
	}
	if s.Image == "" {
		add("image is required (a template like registry.example.com/web:{sha})")
	} else if _, err := runners.ExpandPlain(s.Image, runners.Placeholders(queue.Job{})); err != nil {
		add("image: %v", err)
	}
	if s.User != "" && s.Token != "" {
		add("user/password and token are exclusive")
	}
	if s.CAFile != "" {
		if err := checkCAFile(s.CAFile); err != nil {
			add("ca_file: %v", err)
		}
	}
	return errors.Join(errs...)
}

// checkURL checks an http or https URL with a host and, if it has one, a
// port of 1-65535.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want http:// or https://")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %s is out of range 1-65535", p)
		}
	}
	return nil
}

// checkCAFile checks that a CA file holds PEM certificates, each of which
// parses.
func checkCAFile(path string) error {
	rest, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	n := 0
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("%s: certificate %d: %v", path, n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return nil
}

// Probe implements config.Prober for check-config --online: it reads
// each app (the canary's too) from Marathon, as a deploy would first;
// nothing is changed.
func (s *Settings) Probe(ctx context.Context, report func(what string, err error)) {
	c, err := NewClient(ClientOptions{URLs: s.URL, User: s.User, Password: s.Password, Token: s.Token,
		CAFile: s.CAFile, InsecureSkipVerify: s.InsecureSkipVerify})
	if err != nil {
		report(strings.Join(s.URL, ", "), err)
		return
	}
	ids := append([]string{}, s.AppID...)
	if s.Canary != nil {
		ids = append(ids, s.Canary.AppID)
	}
	for _, id := range ids {
		if _, _, err := c.GetApp(ctx, id); err != nil {
			report("app "+id, err)
			continue
		}
		report("app "+id+": found", nil)
	}
}

func (s *Settings) timeout() time.Duration      { return orDefault(s.Timeout, 10*time.Minute) }
func (s *Settings) grace() time.Duration        { return orDefault(s.HealthGrace, time.Minute) }
func (s *Settings) lockedWait() time.Duration   { return orDefault(s.LockedTimeout, 5*time.Minute) }
func (s *Settings) pollInterval() time.Duration { return orDefault(s.PollInterval, time.Second) }

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Labels deployq sets on the apps it deploys.
const (
	LabelDeploy           = "DEPLOYQ_DEPLOY_ID"
	LabelSHA              = "DEPLOYQ_SHA"
	LabelUser             = "DEPLOYQ_USER"
	LabelStoppedInstances = "DEPLOYQ_STOPPED_INSTANCES" // what `stop` scaled down from, for `start`
)
