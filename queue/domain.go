// Package queue is deployq's domain: apps, environments, deploys, locks and
// log lines, the interfaces it consumes (Store, Runner, Output, Resolver,
// Notifier), and the Service that queues, dispatches, times out, cancels
// and recovers deploys. It imports only the standard library.
package queue

import (
	"context"
	"fmt"
	"io"
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

// Env returns the app's environment with the given name, or nil.
func (a *App) Env(name string) *Environment {
	for _, e := range a.Environments {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// Environment is one place an app deploys to.
type Environment struct {
	Name        string
	Runner      string        // runner kind: shell, ssh, kubernetes, marathon
	Settings    any           // the runner's own settings, decoded by its kind
	Timeout     time.Duration // total; 0 means no limit
	IdleTimeout time.Duration // without output; 0 means no limit
	AutoDeploy  AutoDeploy
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
	Schedule Schedule // nil: as soon as the soak ends
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

// Describe says what a deploy or operation does, for replies and logs:
// "web@v1.2 (3f9c2e1) to production" or "scale web in production to 5".
func (d *Deploy) Describe() string {
	switch d.Op {
	case "":
		return fmt.Sprintf("%s@%s (%s) to %s", d.App, d.Ref, ShortSHA(d.SHA), d.Env)
	case "scale":
		return fmt.Sprintf("scale %s in %s to %d", d.App, d.Env, d.Instances)
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

// Store persists deploys, log lines, locks and the audit trail. It returns
// ENotFound for unknown ids and EConflict when a conditional update finds
// the deploy no longer in the expected state.
type Store interface {
	// CreateDeploy assigns d an ID and per-lane Number and saves it with
	// its audit entry, in one transaction. An empty e.Target becomes "#ID".
	CreateDeploy(ctx context.Context, d *Deploy, e AuditEntry) error
	// UpdateDeploy saves d if the stored state is still from (EConflict if
	// not), with lines of its log, in one transaction. At most one deploy
	// per app+env may be running (EConflict).
	UpdateDeploy(ctx context.Context, d *Deploy, from State, lines []LogLine) error
	// Deploy returns one deploy (ENotFound).
	Deploy(ctx context.Context, id int64) (*Deploy, error)
	// Deploys lists deploys, newest first.
	Deploys(ctx context.Context, f DeployFilter) ([]*Deploy, error)
	// NextQueued returns the oldest queued deploy of app+env, or nil.
	NextQueued(ctx context.Context, app, env string) (*Deploy, error)
	// LastSucceeded returns the newest succeeded deploy of app+env with an
	// id below beforeID (0: any), or nil.
	LastSucceeded(ctx context.Context, app, env string, beforeID int64) (*Deploy, error)
	// Lanes summarizes every app+env that has deploys.
	Lanes(ctx context.Context) ([]LaneSummary, error)
	// Health is nil when the store can be written, EUnavailable (with
	// why: a full disk) when it cannot.
	Health(ctx context.Context) error

	// Locks lists all locks, expired ones included.
	Locks(ctx context.Context) ([]*Lock, error)
	// PutLock creates or replaces the lock of (l.Env, l.App).
	PutLock(ctx context.Context, l *Lock) error
	// DeleteLock removes the lock of (env, app) (ENotFound).
	DeleteLock(ctx context.Context, env, app string) error

	// PutFreeze creates or replaces the one-off freeze of f.Env.
	PutFreeze(ctx context.Context, f *Freeze) error
	// DeleteFreeze removes the one-off freeze of env (ENotFound).
	DeleteFreeze(ctx context.Context, env string) error
	// Freezes lists the one-off freezes, ended ones included.
	Freezes(ctx context.Context) ([]*Freeze, error)
	// AddApproval records a's answer (one per user and deploy: a second
	// replaces the first).
	AddApproval(ctx context.Context, a *Approval) error
	// Approvals lists the answers given to a deploy, oldest first.
	Approvals(ctx context.Context, deployID int64) ([]*Approval, error)

	// AppendLog saves lines in one transaction.
	AppendLog(ctx context.Context, lines []LogLine) error
	// Log returns up to limit lines of a deploy with Seq > after, in order.
	Log(ctx context.Context, id, after int64, limit int) ([]LogLine, error)
	// LastLogSeq returns the highest Seq stored for a deploy, 0 if none.
	LastLogSeq(ctx context.Context, id int64) (int64, error)

	// OutboxAdd stores a message for an outside service; messages with the
	// same key are delivered in the order they were added.
	OutboxAdd(ctx context.Context, key, body string) error
	// OutboxDue returns, for each key, its oldest message if it is due at
	// now, oldest first, at most limit.
	OutboxDue(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error)
	// OutboxNext says when the next message comes due (false: none waits).
	OutboxNext(ctx context.Context) (time.Time, bool, error)
	// OutboxDone removes a delivered (or given up) message.
	OutboxDone(ctx context.Context, id int64) error
	// OutboxRetry counts a failed attempt and sets when to try again.
	OutboxRetry(ctx context.Context, id int64, next time.Time, lastErr string) error

	// Once records key and reports whether it was new.
	Once(ctx context.Context, key string) (bool, error)

	// SetMeta keeps a value an adapter attaches to a deploy.
	SetMeta(ctx context.Context, id int64, key, value string) error
	// Meta returns it ("" if unset).
	Meta(ctx context.Context, id int64, key string) (string, error)

	// Audit records an entry.
	Audit(ctx context.Context, e AuditEntry) error
	// AuditLog returns the newest entries first.
	AuditLog(ctx context.Context, limit int) ([]AuditEntry, error)
}

// OutboxItem is a message waiting to go out.
type OutboxItem struct {
	ID       int64
	Key      string
	Body     string
	Attempts int
	NextAt   time.Time
}

// LaneSummary is what the store knows of one app+env.
type LaneSummary struct {
	App, Env string
	Current  *Deploy // newest succeeded
	Running  *Deploy
	Last     *Deploy // newest of any state
	Queued   int
	Waiting  int
}

// Job is what a runner gets to do.
type Job struct {
	DeployID    int64
	Number      int64
	App         string
	Env         string
	Ref         string
	SHA         string
	PreviousSHA string
	User        string
	Git         string // the app's git URL, "" if none
	Settings    any    // the environment's runner settings
	Op          string // an app operation (Operator.Operate), "" for a deploy
	Instances   int    // for Op "scale"
}

// Result is how a deploy that ran ended.
type Result struct {
	OK      bool
	Message string // short, e.g. "exit status 1"
}

// Runner executes deploys of one kind.
type Runner interface {
	// Run blocks until the deploy ends or ctx is done. A deploy that ran and
	// failed returns a Result with OK false and a nil error; an error means
	// it could not run. On cancellation it stops all work it started and
	// returns ctx.Err().
	Run(ctx context.Context, job Job, out Output) (Result, error)
}

// Operator is implemented by runners that can act on a running app:
// job.Op is "scale" (to job.Instances), "restart", "stop" or "start".
// Operations are queued, locked, logged and cancelled like deploys; for
// runners without it they are refused (EUnsupported).
type Operator interface {
	Operate(ctx context.Context, job Job, out Output) (Result, error)
}

// Inspector is implemented by runners that can read what runs in the
// target now (the image in the cluster), for `where`.
type Inspector interface {
	// Live describes it in one short line, e.g.
	// "deployment/web: web=registry/web:3f9c2e1".
	Live(ctx context.Context, app *App, env *Environment) (string, error)
}

// Progress reports how far a deploy is.
type Progress struct {
	Phase   string `json:"phase,omitempty"`
	Done    int    `json:"done"`
	Total   int    `json:"total"`
	Message string `json:"message,omitempty"`
}

// Output receives a runner's output. Behind it the queue splits and
// timestamps lines, masks secrets, persists them and fans them out.
type Output interface {
	// Stream returns a writer for one stream (stdout or stderr) of one host
	// ("" when the runner has no hosts). Close flushes a partial last line.
	Stream(stream, host string) io.WriteCloser
	// Progress reports progress; it also counts as output for the idle
	// timeout.
	Progress(p Progress)
	// Pause waits until someone continues the deploy (chat: continue #ID),
	// reporting the phase "paused" with reason meanwhile; ctx ending (a
	// cancel, a timeout) ends the wait with ctx's error. The idle timeout
	// does not run while paused.
	Pause(ctx context.Context, reason string) error
}

// PhasePaused is the progress phase of a deploy waiting to be continued.
const PhasePaused = "paused"

// Resolver turns a ref into a 40-hex sha for an app. It returns EInvalid
// for a ref that does not exist.
type Resolver interface {
	Resolve(ctx context.Context, app *App, ref string) (string, error)
}

// Check is one status or check run.
type Check struct {
	Name string
	URL  string
}

// CheckReport is the state of a sha's required checks.
type CheckReport struct {
	State   string  // "success", "pending" or "failure"
	Failed  []Check // for "failure"
	Pending []Check // for "pending" (names required but not reported yet too)
}

// Checker reads the checks of a sha (GitHub's statuses and check runs).
type Checker interface {
	// Checks evaluates required on sha; ["all"] means every check there.
	Checks(ctx context.Context, app *App, sha string, required []string) (CheckReport, error)
}

// Comparer links what changes between two shas of an app (GitHub's
// compare view) and counts the commits.
type Comparer interface {
	Compare(ctx context.Context, app *App, base, head string) (url string, commits int, err error)
}

// MetaAuthorEmail is the deploy meta key of the email of the person behind
// an auto-deploy (who pushed), so a chat adapter can tell them.
const MetaAuthorEmail = "author.email"

// Notifier hears about every change of a deploy and of locks. Calls are
// made from the queue's goroutines: implementations must not block.
type Notifier interface {
	DeployChanged(d *Deploy)
	LockChanged(l *Lock, locked bool)
}
