package queue

import (
	"context"
	"io"
	"time"
)

// Store persists deploys, log lines, locks and the audit trail. It returns
// ENotFound for unknown ids and EConflict when a conditional update finds
// the deploy no longer in the expected state.
type Store interface {
	// CreateDeploy assigns d an ID and per-lane Number and saves it with
	// its audit entry, in one transaction. An empty e.Target becomes "#ID".
	CreateDeploy(ctx context.Context, d *Deploy, e AuditEntry) error
	// UpdateDeploy saves d if the stored state is still from (EConflict if
	// not), with lines of its log, in one transaction. At most one deploy
	// per app+env may be running (EConflict). The Server and LeaseUntil
	// of a deploy that was running already stay as stored: only
	// RenewLeases moves a lease. With a context from
	// WithLapsed(ctx, now), a deploy leaving running is saved only if its
	// stored lease ended before now; with one from WithHolder, a running
	// deploy is saved only if it runs on the holder under a lease not
	// ended at the holder's Now (EConflict if not).
	UpdateDeploy(ctx context.Context, d *Deploy, from State, lines []LogLine) error
	// RenewLeases moves to until the lease of every running deploy of
	// server whose lease has not ended at now, and returns their ids, in
	// one statement. A lease that ended is never renewed: another server
	// may have found it ended.
	RenewLeases(ctx context.Context, server string, now, until time.Time) ([]int64, error)
	// Deploy returns one deploy (ENotFound).
	Deploy(ctx context.Context, id int64) (*Deploy, error)
	// Deploys lists deploys, newest first.
	Deploys(ctx context.Context, f DeployFilter) ([]*Deploy, error)
	// NextQueued returns the queued deploy of app+env whose turn is first
	// (the oldest rollback, else the oldest: see CompareTurns), or nil;
	// with it, in the same read, the sha of the lane's newest succeeded
	// deploy (never an operation), "" if none: what it would replace.
	NextQueued(ctx context.Context, app, env string) (next *Deploy, current string, err error)
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

	// AppendLog saves lines in one transaction. With a context from
	// WithHolder, only while their deploy runs on the holder under a lease
	// not ended (EConflict if not: nothing is saved).
	AppendLog(ctx context.Context, lines []LogLine) error
	// Log returns up to limit lines of a deploy with Seq > after, in order.
	Log(ctx context.Context, id, after int64, limit int) ([]LogLine, error)
	// LastLogSeq returns the highest Seq stored for a deploy, 0 if none.
	LastLogSeq(ctx context.Context, id int64) (int64, error)

	// OutboxAdd stores a message for an outside service; messages with the
	// same key are delivered in the order they were added.
	OutboxAdd(ctx context.Context, key, body string) error
	// OutboxDue takes, among the keys that begin with prefix ("github:";
	// "" for all), for each key its oldest message if it is due at now,
	// oldest first, at most limit. What it returns is claimed by the
	// caller for a minute: in the same transaction each message's due time
	// moves to now plus a minute, so that no other caller, on this server
	// or another sharing the database, gets it, nor any later message of
	// its key, until the caller ends the claim with OutboxDone or
	// OutboxRetry, or the minute is over (the caller died mid-delivery:
	// then it comes again, due since the claim's end, its Attempts
	// unchanged). An item's NextAt is when it came due. now is the
	// caller's clock.
	OutboxDue(ctx context.Context, prefix string, now time.Time, limit int) ([]OutboxItem, error)
	// OutboxNext says when the next message of the keys that begin with
	// prefix comes due (false: none waits); a claimed message comes due
	// when its claim ends.
	OutboxNext(ctx context.Context, prefix string) (time.Time, bool, error)
	// OutboxDone removes a delivered (or given up) message.
	OutboxDone(ctx context.Context, id int64) error
	// OutboxRetry counts a failed attempt and sets when to try again.
	OutboxRetry(ctx context.Context, id int64, next time.Time, lastErr string) error

	// MarkBad marks a sha of an app bad, replacing an earlier mark of it.
	MarkBad(ctx context.Context, b *BadSHA) error
	// UnmarkBad removes the mark of a sha of app; ENotFound when there is
	// none.
	UnmarkBad(ctx context.Context, app, sha string) error
	// BadSHAs lists the marks of app ("": of every app), newest first.
	BadSHAs(ctx context.Context, app string) ([]*BadSHA, error)

	// Once records key and reports whether it was new.
	Once(ctx context.Context, key string) (bool, error)
	// Seen reports whether key was recorded (by Once, or with the write
	// of a context from WithOnce).
	Seen(ctx context.Context, key string) (bool, error)

	// PruneLogs removes the logs of deploys that ended before p.Before,
	// a few deploys a transaction, keeping the last p.Keep lines of each
	// and a line saying what went and when; deploys that have not ended
	// are never touched. It then gives the freed space back.
	PruneLogs(ctx context.Context, p Prune) (PruneReport, error)

	// SetMeta keeps a value an adapter attaches to a deploy.
	SetMeta(ctx context.Context, id int64, key, value string) error
	// Meta returns it ("" if unset).
	Meta(ctx context.Context, id int64, key string) (string, error)

	// Audit records an entry.
	Audit(ctx context.Context, e AuditEntry) error
	// AuditLog returns the newest entries first.
	AuditLog(ctx context.Context, limit int) ([]AuditEntry, error)
}

// Prune says which logs PruneLogs removes.
type Prune struct {
	App, Env string    // "" : every app, every environment
	Before   time.Time // deploys that ended before it
	Keep     int       // the last lines of each log that stay
	Now      time.Time // the date the log says it was pruned on
	DryRun   bool      // count, change nothing
}

// PruneReport says what PruneLogs did (or would do).
type PruneReport struct {
	Deploys int   // logs pruned
	Lines   int64 // lines removed
	Bytes   int64 // bytes of text removed
	Freed   int64 // bytes the database file gave back
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
	// Params are the deploy's parameters (its environment's, checked,
	// with their defaults).
	Params map[string]string
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

// Rehearser is implemented by runners that can say what a deploy would
// do without doing it (a dry run: .noop in a pull request). Job.Op is
// OpNoop.
type Rehearser interface {
	Noop(ctx context.Context, job Job, out Output) (Result, error)
}

// SourceChecker is implemented by runners that run the deploys of some
// sources only (the actions runner: those that Actions jobs asked for):
// admission refuses the others with AcceptsSource's error.
type SourceChecker interface {
	AcceptsSource(env *Environment, src Source) error
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

// Resolver turns a ref into a 40-hex sha for an app. It returns EInvalid
// for a ref that does not exist.
type Resolver interface {
	Resolve(ctx context.Context, app *App, ref string) (string, error)
}

// RefLister is a Resolver that can also list an app's branches and tags
// (for forms that offer them), branches first; it may cache them briefly.
// None for an app whose refs it cannot list.
type RefLister interface {
	Refs(ctx context.Context, app *App) ([]string, error)
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

// Notifier hears about every change of a deploy and of locks. Calls are
// made from the queue's goroutines: implementations must not block.
type Notifier interface {
	DeployChanged(d *Deploy)
	LockChanged(l *Lock, locked bool)
}

// FreezeNotifier is a Notifier that also hears of the freezes set and
// lifted by hand on this server (frozen false: lifted).
type FreezeNotifier interface {
	FreezeChanged(f *Freeze, frozen bool)
}

// Change is what another server sharing the store changed, as a Watcher
// tells it: a deploy (by id), the locks, the freezes; or Rescan, after
// the watch was cut and began again, when anything may have changed.
type Change struct {
	Deploy  int64
	Locks   bool
	Freezes bool
	Rescan  bool
	// Lost: no connection hears the changes (it was lost, or could not
	// be made); until the next Rescan, none is heard.
	Lost bool
}

// Watcher is a Store that tells of the changes other servers sharing it
// make, as they are stored (PostgreSQL's LISTEN/NOTIFY). A lost
// notification only delays what it would have woken: the servers also
// look every third of a lease.
type Watcher interface {
	// Watch calls changed, on one goroutine, for each change another
	// server makes, and with Rescan first and after each reconnection
	// (Lost when a connection is lost), until ctx ends.
	Watch(ctx context.Context, changed func(Change)) error
}
