package queue

import (
	"fmt"
	"time"
)

// Source says what asked for a deploy.
type Source string

// Deploy sources.
const (
	SourceChat      Source = "chat"
	SourceAPI       Source = "api"
	SourceGitHub    Source = "github"
	SourceAuto      Source = "auto"
	SourceRollback  Source = "rollback"
	SourcePromotion Source = "promotion"
	// SourceActions: a GitHub Actions job asked to deploy to an
	// environment deployq gates (a deployment protection rule); its
	// runner answers the job, which does the deploying.
	SourceActions Source = "actions"
	// SourcePR: a command in a pull request's comment (.deploy); a lock
	// queues it rather than refusing it.
	SourcePR Source = "pr"
)

// App is a deployable application.
type App struct {
	Name         string
	Repo         string // GitHub owner/name, optional
	Git          string // git URL or path where refs resolve, optional
	DefaultRef   string
	DefaultEnv   string
	Environments []*Environment
}

// Env returns the app's environment with the given name or alias, or
// nil.
func (a *App) Env(name string) *Environment {
	for _, e := range a.Environments {
		if e.Name == name {
			return e
		}
	}
	for _, e := range a.Environments {
		for _, alias := range e.Aliases {
			if alias == name {
				return e
			}
		}
	}
	return nil
}

// Environment is one place an app deploys to.
type Environment struct {
	Name     string
	Runner   string // runner kind: shell, ssh, kubernetes, marathon
	Settings any    // the runner's own settings, decoded by its kind
	// Aliases are other names the environment answers to (prod for
	// production).
	Aliases []string
	// RequireExplicit: a deploy here must name the environment, even when
	// it is the app's default (production is never the silent default).
	RequireExplicit bool
	Timeout         time.Duration // total; 0 means no limit
	IdleTimeout     time.Duration // without output; 0 means no limit
	// LogCap is how many bytes of a deploy's output are kept; past it,
	// output is counted, not kept, and the log says so. 0: DefaultLogCap.
	LogCap int64
	// LogRetention is how long the logs of deploys here are kept whole
	// once they ended; then they are pruned to their last lines. 0:
	// forever.
	LogRetention time.Duration
	AutoDeploy   AutoDeploy
	// PRDeploys: deploys asked in pull request comments are taken here.
	PRDeploys PRDeploys
	// Params are the typed parameters its deploys take.
	Params []Param
	// Deployers may deploy, roll back and cancel here; Lockers may lock
	// and unlock (empty: the Deployers). Entries are user names or any
	// identity an adapter knows (a Slack id, an email, an @group).
	// Empty: everyone.
	Deployers []string
	Lockers   []string
	// RequiredContexts must be green on the sha before a deploy runs
	// (statuses and check runs by name; "all": every one on the sha).
	// Pending ones make the deploy wait, up to ChecksTimeout.
	RequiredContexts []string
	ChecksTimeout    time.Duration
	// URL is where the environment can be seen ({app} is replaced);
	// GitHub shows it on the deployment.
	URL string
	// Admins may override a freeze here (deploy!!), besides the server's
	// admins (Options.Admins).
	Admins []string
	// Approvals, when Required > 0, make every deploy here wait for that
	// many approvals from From (never the requester's own).
	Approvals Approvals
	// Freeze lists recurring freeze windows of this environment.
	Freeze []FreezeWindow
	// Promote, when set, deploys what succeeded here to another
	// environment after a soak and/or at scheduled times.
	Promote *Promotion
	// Confirm: forms that deploy here (Slack's) ask for a confirmation
	// first, as for production.
	Confirm bool
	// Verify, when set, watches what each deploy here brought, after its
	// runner succeeded, and rolls back one that fails.
	Verify *Verify
}

// Schedule is a cron schedule (robfig/cron's Schedule satisfies it).
type Schedule interface {
	// Next returns the first activation strictly after t.
	Next(t time.Time) time.Time
}

// FreezeWindow is a recurring freeze: it starts at each activation of
// Schedule (Spec, a cron expression) and lasts Duration.
type FreezeWindow struct {
	Spec     string
	Schedule Schedule
	Duration time.Duration
	Reason   string
	Location *time.Location // the zone Spec is read in, and its times said in; nil: UTC
}

// Approvals is an environment's approval rule.
type Approvals struct {
	Required int
	From     []string      // who may approve: names, ids, emails, @groups; empty: deployers
	Timeout  time.Duration // a deploy not approved by then fails; 0: no limit
}

// Promotion is an environment's promotion rule: a deploy that succeeded
// here goes to To once it has stayed Soak without a failed deploy or a
// rollback here, at the next activation of Schedule if there is one.
type Promotion struct {
	To       string
	Soak     time.Duration
	Spec     string
	Schedule Schedule       // nil: as soon as the soak ends
	Location *time.Location // the zone Spec is read in, and its times said in; nil: UTC
}

// InZone says a time for people, in loc (UTC when nil), with the zone:
// "Fri 20 Nov 18:00 CET".
func InZone(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("Mon 2 Jan 15:04 MST")
}

// Freeze is a one-off freeze of an environment, set in chat or the API.
type Freeze struct {
	Env       string
	Owner     string
	Reason    string
	CreatedAt time.Time
	EndsAt    time.Time // zero: until unfrozen
}

// Approval is one person's answer to a deploy waiting for approval.
type Approval struct {
	DeployID int64
	User     string
	Approve  bool // false: rejected
	Reason   string
	At       time.Time
}

// AutoDeploy says which GitHub events deploy an environment by themselves.
type AutoDeploy struct {
	On     []string // "push", "merge"
	Branch string   // the tracked branch; default the app's default ref
}

// Wants reports whether event ("push", "merge") on branch deploys here.
func (a AutoDeploy) Wants(event, branch, defaultRef string) bool {
	tracked := a.Branch
	if tracked == "" {
		tracked = defaultRef
	}
	for _, on := range a.On {
		if on == event && branch == tracked {
			return true
		}
	}
	return false
}

// Deploy is one request to put a sha of an app into an environment.
type Deploy struct {
	ID                 int64
	Number             int64 // per app+env, from 1
	App                string
	Env                string
	Ref                string // as asked
	SHA                string // 40 hex, resolved at request time
	PreviousSHA        string // what ran in the env when this one started
	State              State
	User               string
	Source             Source
	Force              bool
	CreatedAt          time.Time
	StartedAt          time.Time
	FinishedAt         time.Time
	GitHubDeploymentID int64
	ChatThread         string
	Error              string
	// Op, when set, makes this an app operation rather than a deploy:
	// "scale" (to Instances), "restart", "stop" or "start". It runs through
	// the queue like a deploy, on the sha already there, and never counts
	// as what runs in the environment.
	Op        string
	Instances int
	// Waiting says, while the deploy waits, which rule holds it and why;
	// nil otherwise.
	Waiting *Waiting
	// Server is the deployq server that runs it (or ran it), by name.
	Server string
	// LeaseUntil is, while it runs on a store several servers share, when
	// its server's hold on it ends unless the server renews it; a lease
	// that ended is never renewed (Store.RenewLeases). Zero otherwise.
	LeaseUntil time.Time
}

// Waiting is why a waiting deploy waits: the release rule that holds it
// ("checks", "freeze", "approvals"), its words for people, and when the
// queue looks again by itself (zero: on an event only).
type Waiting struct {
	Rule   string
	Reason string
	Until  time.Time
}

// DeployView is what an adapter shows of a deploy, from one call
// (Service.View): the deploy, how far it is, why it waits, whether it
// waits for approvals, and its app's repo.
type DeployView struct {
	Deploy        *Deploy
	Progress      *Progress // while running, the last the runner reported
	Waiting       *Waiting  // while waiting
	NeedsApproval bool      // it waits where approvals are required
	Repo          string    // the app's GitHub owner/name, "" if none
}

// Ops are the app operations.
var Ops = []string{"scale", "restart", "stop", "start"}

// OpNoop is a deploy's dry run: what it would do, not done (Rehearser).
// Like an operation it changes no version, needs no approval and waits
// for no checks; like a deploy it takes its turn in the lane.
const OpNoop = "noop"

// Describe says what a deploy or operation does, for replies and logs:
// "web@v1.2 (3f9c2e1) to production" or "scale web in production to 5".
func (d *Deploy) Describe() string {
	switch d.Op {
	case "":
		return fmt.Sprintf("%s@%s (%s) to %s", d.App, d.Ref, ShortSHA(d.SHA), d.Env)
	case "scale":
		return fmt.Sprintf("scale %s in %s to %d", d.App, d.Env, d.Instances)
	case OpNoop:
		return fmt.Sprintf("dry run of %s@%s (%s) to %s", d.App, d.Ref, ShortSHA(d.SHA), d.Env)
	default:
		return fmt.Sprintf("%s %s in %s", d.Op, d.App, d.Env)
	}
}

// Lock keeps others from deploying to an environment, or to one app in it.
type Lock struct {
	Env       string
	App       string // "" locks the whole environment
	Owner     string
	Reason    string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: until unlocked
}

// Expired reports whether the lock has run out at now.
func (l *Lock) Expired(now time.Time) bool {
	return !l.ExpiresAt.IsZero() && !now.Before(l.ExpiresAt)
}

// Scope names what the lock holds: "staging" or "web in staging".
func (l *Lock) Scope() string {
	if l.App == "" {
		return l.Env
	}
	return l.App + " in " + l.Env
}

// Log streams.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
	StreamSystem = "system"
)

// LogLine is one line of a deploy's output.
type LogLine struct {
	DeployID int64
	Seq      int64 // from 1, per deploy
	Time     time.Time
	Stream   string // stdout, stderr or system
	Host     string // set by runners that work on hosts
	Text     string
}

// AuditEntry records who did what.
type AuditEntry struct {
	Time   time.Time
	User   string
	Action string // deploy, cancel, lock, steal, unlock, rollback, ...
	Target string // "web/staging", "#12", "staging"
	Detail string
}

// DeployFilter selects deploys; zero fields match everything.
type DeployFilter struct {
	App    string
	Env    string
	States []State
	Limit  int // default 50
}

// PRDeploys is what an environment takes from pull request comments.
type PRDeploys struct {
	Allow bool // .deploy to it is taken (else refused, saying so)
	// RequireChecks: every check on the pull request's head must pass
	// (when the environment names no required_contexts of its own).
	RequireChecks bool
	// RequireReview: the pull request needs an approved review (and no
	// change requested).
	RequireReview bool
	// RefuseBehind: a head that does not contain the sha running there is
	// refused (it would roll back others' commits), unless .deploy!.
	RefuseBehind bool
	// StickyLock: a deploy from a pull request locks the environment for
	// it until it is merged or closed, or .unlock.
	StickyLock bool
}

// BadSHA is a sha of an app marked bad: never deployed again by itself
// (auto-deploys, promotions), and a typed deploy of it needs !.
type BadSHA struct {
	App, SHA string
	Reason   string
	User     string // who marked it ("deployq" when a verification failed)
	At       time.Time
}

// MetaLink is the deploy meta key of the page that shows the deploy
// where it is done outside deployq (a GitHub Actions run), if any.
const MetaLink = "link"

// MetaAuthorEmail is the deploy meta key of the email of the person behind
// an auto-deploy (who pushed), so a chat adapter can tell them.
const MetaAuthorEmail = "author.email"

// MetaOverrideFreeze marks a deploy an admin pushed through a freeze
// (deploy!!): it stays overridden while it waits for other rules.
const MetaOverrideFreeze = "override_freeze"

// Progress reports how far a deploy is.
type Progress struct {
	Phase   string `json:"phase,omitempty"`
	Done    int    `json:"done"`
	Total   int    `json:"total"`
	Message string `json:"message,omitempty"`
}

// PhasePaused is the progress phase of a deploy waiting to be continued.
const PhasePaused = "paused"

// PhaseVerify is the progress phase of a verifying deploy: Done of Total
// rounds of checks passed, and Message says so ("checks 12/20 ok").
const PhaseVerify = "verify"
