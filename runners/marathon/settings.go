package marathon

import (
	"errors"
	"fmt"
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

// Validate checks the settings.
func (s *Settings) Validate() error {
	if len(s.URL) == 0 {
		return errors.New("url is required (one or several Marathon URLs)")
	}
	for _, u := range s.URL {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("url %q: want http:// or https://", u)
		}
	}
	if len(s.AppID) == 0 {
		return errors.New("app_id is required")
	}
	ids := append([]string{}, s.AppID...)
	if s.Canary != nil {
		if s.Canary.AppID == "" {
			return errors.New("canary: app_id is required")
		}
		if s.Canary.Instances < 0 {
			return errors.New("canary: instances cannot be negative")
		}
		ids = append(ids, s.Canary.AppID)
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "/") || strings.ContainsAny(id, " ?#") {
			return fmt.Errorf("app_id %q: want an absolute Marathon id like /prod/web", id)
		}
	}
	if s.Image == "" {
		return errors.New("image is required (a template like registry.example.com/web:{sha})")
	}
	if _, err := runners.ExpandPlain(s.Image, runners.Placeholders(queue.Job{})); err != nil {
		return fmt.Errorf("image: %v", err)
	}
	if s.User != "" && s.Token != "" {
		return errors.New("user/password and token are exclusive")
	}
	return nil
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
