// Package config reads deployq's YAML config: ${VAR} from the environment,
// strict keys, and validation whose errors name the file, line and key.
package config

import (
	"context"
	"time"

	"github.com/deployq/deployq/queue"
	"gopkg.in/yaml.v3"
)

// Config is a whole, validated configuration.
type Config struct {
	File    string
	Server  Server
	Store   Store
	Slack   *Slack  // nil without a slack section
	GitHub  *GitHub // nil without a github section
	Apps    []*queue.App
	Secrets []string // values that came from the environment; masked in logs
	// Admins may override freezes (deploy!!) and unlock all, everywhere.
	Admins []string
	// Freeze lists freeze windows of every environment.
	Freeze []queue.FreezeWindow
	// People maps each person's identities (GitHub logins, Slack users,
	// emails) to their name; nil without a people section.
	People *queue.People
	// Notify lists the sinks deploys, locks and freezes are announced to
	// beyond Slack, the top-level ones first.
	Notify []NotifySink
	// Warnings are what works but will not go as one would think (an app
	// whose refs cannot resolve deploys full shas only), in file order.
	Warnings Errors
}

// Server is the server section.
type Server struct {
	// Name tells this server from the others that share a PostgreSQL
	// database (default: the host's name); it is shown with the deploys
	// it runs.
	Name        string  `yaml:"name"`
	Listen      string  `yaml:"listen"`
	DataDir     string  `yaml:"data_dir"`
	BaseURL     string  `yaml:"base_url"`
	MaxParallel int     `yaml:"max_parallel"`
	APITokens   []Token `yaml:"api_tokens"`
	// KillGrace is the default time between SIGTERM and SIGKILL.
	KillGrace time.Duration `yaml:"kill_grace"`
	// GitHubOAuth lets dashboard users sign in with GitHub.
	GitHubOAuth *GitHubOAuth `yaml:"github_oauth"`
	// BodyTimeout bounds the reading of a request body (default 10s).
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// WriteTimeout bounds each write to a client: a log follower that
	// stops reading is cut after it (default 30s).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxFollowers caps the log followers and event streams open at once
	// (default 500); MaxFollowersPerDeploy those of one deploy (default 50).
	MaxFollowers          int `yaml:"max_followers"`
	MaxFollowersPerDeploy int `yaml:"max_followers_per_deploy"`
}

// Store says where deployq keeps its records: SQLite in the data
// directory (the default: one server), or a PostgreSQL database.
type Store struct {
	// Driver is sqlite (default) or postgres.
	Driver string `yaml:"driver"`
	// DSN is PostgreSQL's connection string (a postgres:// URL or
	// key=value pairs), usually "${DEPLOYQ_DSN}" so the password stays in
	// the environment.
	DSN string `yaml:"dsn"`
	// Lease is how long a server's hold on a deploy it runs lasts without
	// renewal (PostgreSQL only; default 15s): several servers may share
	// the database, and one that stops renewing loses its deploys, which
	// another marks interrupted.
	Lease time.Duration `yaml:"lease"`
}

// DefaultLease is the lease of running deploys on PostgreSQL.
const DefaultLease = 15 * time.Second

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// GitHubOAuth is a GitHub OAuth app for the dashboard's sign-in; its
// callback URL is base_url + /ui/auth/github/callback.
type GitHubOAuth struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// AuthURL, TokenURL and APIURL: GitHub Enterprise (default github.com).
	AuthURL  string `yaml:"auth_url"`
	TokenURL string `yaml:"token_url"`
	APIURL   string `yaml:"api_url"`
	// Allow says who may sign in; it is required.
	Allow GitHubAllow `yaml:"allow"`
}

// GitHubAllow lets in a GitHub user who is one of Logins, an active
// member of one of Orgs, or a member of one of Teams (org/team-slug).
type GitHubAllow struct {
	Orgs   []string `yaml:"orgs"`
	Teams  []string `yaml:"teams"`
	Logins []string `yaml:"logins"`
}

// Slack is the slack section.
type Slack struct {
	Mode          string `yaml:"mode"`           // socket (default) or http
	BotToken      string `yaml:"bot_token"`      // xoxb-...
	AppToken      string `yaml:"app_token"`      // xapp-..., for socket mode
	SigningSecret string `yaml:"signing_secret"` // for http mode
	Channel       string `yaml:"channel"`        // announcements (channel id)
	// Channels: an environment's own announcement channel, by env name.
	Channels map[string]string `yaml:"channels"`
	APIURL   string            `yaml:"api_url"` // default Slack's
	// LockNagAfter: a lock held longer gets its holder a reminder DM.
	LockNagAfter time.Duration `yaml:"lock_nag_after"`
	// AllowBots: the bots (bot ids, B0123ABCD) whose mentions and direct
	// messages run commands; every other bot and workflow is ignored.
	AllowBots []string `yaml:"allow_bots"`
}

// GitHub is the github section.
type GitHub struct {
	// WebhookSecret checks X-Hub-Signature-256 on POST /webhooks/github.
	WebhookSecret string `yaml:"webhook_secret"`
	// PRPrefix begins the commands in pull request comments (default ".").
	PRPrefix string `yaml:"pr_prefix"`
	// Token (or a GitHub App: AppID, PrivateKeyFile, InstallationID) lets
	// deployq read checks and report deployments.
	Token          string `yaml:"token"`
	AppID          int    `yaml:"app_id"`
	PrivateKeyFile string `yaml:"private_key_file"`
	InstallationID int    `yaml:"installation_id"`
	APIURL         string `yaml:"api_url"` // GitHub Enterprise, a test server
	// Mode: webhook (default), or poll behind a firewall (no inbound).
	Mode         string        `yaml:"mode"`
	PollInterval time.Duration `yaml:"poll_interval"`
}

// HasAPI reports whether deployq may call GitHub's API.
func (g *GitHub) HasAPI() bool { return g != nil && (g.Token != "" || g.AppID != 0) }

// Token is an API bearer token; its name is the user of the calls made
// with it.
type Token struct {
	Name  string `yaml:"name"`
	Token string `yaml:"token"`
}

// Validator is implemented by runner settings that can check themselves:
// values, and the files they name (keys, known_hosts, kubeconfigs, CA
// files), which must exist and parse. Several errors come joined
// (errors.Join); each becomes an error of the config.
type Validator interface{ Validate() error }

// AppValidator is implemented by runner settings that depend on the app
// they deploy (a checkout needs the app's git).
type AppValidator interface{ ValidateApp(app *queue.App) error }

// Prober is implemented by runner settings that can reach what they
// deploy to, for check-config --online, without changing anything there.
// Probe calls report, from its own goroutine, once for each thing it
// tried (a host, an API, a workload): what names it and, when err is nil,
// what was found. It gives up when ctx ends.
type Prober interface {
	Probe(ctx context.Context, report func(what string, err error))
}

// Kinds maps each runner kind to a function returning a pointer to a new
// value of its settings type.
type Kinds map[string]func() any

type fileConfig struct {
	Server       Server         `yaml:"server"`
	Store        Store          `yaml:"store"`
	Slack        *Slack         `yaml:"slack"`
	GitHub       *GitHub        `yaml:"github"`
	Apps         []appConfig    `yaml:"apps"`
	Environments []envConfig    `yaml:"environments"`
	Admins       []string       `yaml:"admins"`
	Freeze       []freezeConfig `yaml:"freeze"`
	People       []personConfig `yaml:"people"`
	Retention    *retention     `yaml:"retention"`
	Prometheus   *Prometheus    `yaml:"prometheus"`
	Notify       []NotifySink   `yaml:"notify"`
}

// retention says how long what deployq records is kept: logs (a duration
// such as 90d, or forever) and deploys (their records: forever).
type retention struct {
	Logs    string `yaml:"logs"`
	Deploys string `yaml:"deploys"`
}

// personConfig is one person: their deployq user name and who they are
// in each source.
type personConfig struct {
	Name   string   `yaml:"name"`
	GitHub []string `yaml:"github"`
	Slack  []string `yaml:"slack"`
	Emails []string `yaml:"emails"`
}

type freezeConfig struct {
	Cron     string        `yaml:"cron"`
	Duration time.Duration `yaml:"duration"`
	Reason   string        `yaml:"reason"`
	TZ       string        `yaml:"tz"` // the IANA zone cron is read in; default UTC
}

type approvalsConfig struct {
	Required int      `yaml:"required"`
	From     []string `yaml:"from"`
}

type promoteConfig struct {
	To       string        `yaml:"to"`
	When     string        `yaml:"when"`
	Soak     time.Duration `yaml:"soak"`
	Schedule string        `yaml:"schedule"`
	TZ       string        `yaml:"tz"` // the IANA zone schedule is read in; default UTC
}

type appConfig struct {
	Name         string      `yaml:"name"`
	Repo         string      `yaml:"repo"`
	Git          string      `yaml:"git"`
	DefaultRef   string      `yaml:"default_ref"`
	DefaultEnv   string      `yaml:"default_env"`
	Environments []envConfig `yaml:"environments"`
}

type autoDeploy struct {
	On     []string `yaml:"on"`
	Branch string   `yaml:"branch"`
}

type envConfig struct {
	Name            string                `yaml:"name"`
	Aliases         []string              `yaml:"aliases"`
	RequireExplicit bool                  `yaml:"require_explicit"`
	Apps            []string              `yaml:"apps"` // top-level environments only
	Runner          string                `yaml:"runner"`
	Timeout         time.Duration         `yaml:"timeout"`
	IdleTimeout     time.Duration         `yaml:"idle_timeout"`
	LogCap          Size                  `yaml:"log_cap"` // output kept per deploy; default 100MB
	Retention       *retention            `yaml:"retention"`
	AutoDeploy      autoDeploy            `yaml:"auto_deploy"`
	PRDeploys       prDeploys             `yaml:"pr_deploys"`
	Parameters      []paramConfig         `yaml:"parameters"`
	Deployers       []string              `yaml:"deployers"`
	Lockers         []string              `yaml:"lockers"`
	Required        []string              `yaml:"required_contexts"` // a list, or "all"
	ChecksWait      time.Duration         `yaml:"checks_timeout"`
	URL             string                `yaml:"url"` // where it can be seen; {app} is replaced
	Admins          []string              `yaml:"admins"`
	Approvals       approvalsConfig       `yaml:"approvals"`
	ApprovalTTL     time.Duration         `yaml:"approval_timeout"`
	Freeze          []freezeConfig        `yaml:"freeze"`
	Promote         *promoteConfig        `yaml:"promote"`
	Verify          *verifyConfig         `yaml:"verify"`
	Confirm         bool                  `yaml:"confirm"` // forms ask for a confirmation first
	Notify          []NotifySink          `yaml:"notify"`
	Rest            map[string]*yaml.Node `yaml:",remain"` // the runner's section
}

// prDeploys is what an environment takes from pull request comments.
type prDeploys struct {
	Allow         bool `yaml:"allow"`
	RequireChecks bool `yaml:"require_checks"`
	RequireReview bool `yaml:"require_review"`
	RefuseBehind  bool `yaml:"refuse_behind"`
	StickyLock    bool `yaml:"sticky_lock"`
}

// paramConfig is one typed deploy parameter of an environment.
type paramConfig struct {
	Name     string   `yaml:"name"`
	Type     string   `yaml:"type"`
	Default  string   `yaml:"default"`
	Values   []string `yaml:"values"`
	Required bool     `yaml:"required"`
	Max      int      `yaml:"max"`
}
