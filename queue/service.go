package queue

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Options configure a Service.
type Options struct {
	Store       Store
	Runners     map[string]Runner // by kind: "shell", "ssh", ...
	Resolver    Resolver
	Notifiers   []Notifier
	Logger      *slog.Logger
	MaxParallel int      // deploys running at once across all app+env pairs; default 8
	Secrets     []string // masked in deploy logs
	// Identify returns the identities of a user beyond its name (a chat id,
	// an email, @groups), for the deployers and lockers rules.
	Identify func(ctx context.Context, user string) []string
	// People maps the identities of people across sources to their
	// names; what a person is known as counts in the rules.
	People *People
	// Checker reads required checks; without one, required_contexts are
	// not enforced.
	Checker Checker
	// RecheckEvery rechecks waiting deploys even without events (default 1m).
	RecheckEvery time.Duration
	// Comparer links changes for apps with a repo, in chat replies.
	Comparer Comparer
	// Admins may override freezes (deploy!!) and unlock all, everywhere.
	// Empty: nobody.
	Admins []string
	// Freeze lists freeze windows of every environment.
	Freeze []FreezeWindow
	// Clock is the queue's time; default the real one.
	Clock Clock
	// Observers hear of every change, like Notifiers, and also of those
	// another server sharing the store makes (an event stream); Notifiers
	// hear only of this server's, which they announce.
	Observers []Notifier
	// Server is this server's name, kept with the deploys it runs.
	Server string
	// Lease, when several servers share the Store, is how long this
	// server's hold on a deploy it runs lasts unless renewed (every third
	// of it); 0 when it is the only server.
	Lease time.Duration
	// Prober runs the checks of environments that verify their deploys.
	Prober Prober
}

// Service is the deploy queue: it accepts requests, keeps one deploy
// running per app+env in FIFO order, runs pairs in parallel up to
// MaxParallel, and owns every state change. It is a facade over small
// owners, each with its own state: the catalog of apps, who may do what,
// the door every state change goes through, admission and its rule
// chain, the lock table, the freeze book, the waiting book, approvals,
// promotion, the dispatcher, the runs of this process, and the log hub.
type Service struct {
	cat       *catalog
	access    *access
	store     Store
	runners   map[string]Runner
	resolver  Resolver
	comparer  Comparer
	clock     Clock
	log       *slog.Logger
	logs      *logHub
	door      *door
	runs      *runs
	locks     *lockTable
	freezes   *freezeBook
	waiting   *waitingBook
	admit     *admission
	approvals *approvalDesk
	promoter  *promoter
	dispatch  *dispatcher
	viewer    *viewer
	board     *board
	retention *retention
	leases    *leases // nil when this server is alone
	watch     *watch  // nil unless other servers' changes can be heard
	server    string
	// freezeNews hear of the freezes set and lifted by hand here.
	freezeNews []FreezeNotifier

	life    context.Context
	stop    context.CancelCauseFunc
	started bool
	wg      sync.WaitGroup
}

// New returns a Service for apps. Call Start before use.
func New(apps []*App, o Options) (*Service, error) {
	if o.Store == nil || o.Resolver == nil {
		return nil, errors.New("queue: a Store and a Resolver are required")
	}
	if o.MaxParallel <= 0 {
		o.MaxParallel = 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.RecheckEvery <= 0 {
		o.RecheckEvery = time.Minute
	}
	if o.Lease > 0 && o.Lease < 3*time.Millisecond || o.Lease > 0 && o.Server == "" {
		return nil, errors.New("queue: a lease needs a server name, and at least 3ms")
	}
	cat, err := newCatalog(apps, o.Runners)
	if err != nil {
		return nil, err
	}
	s := &Service{cat: cat, store: o.Store, runners: o.Runners, resolver: o.Resolver, comparer: o.Comparer,
		clock: o.Clock, log: o.Logger, runs: newRuns(), server: o.Server}
	s.life, s.stop = context.WithCancelCause(context.Background())
	s.access = &access{cat: cat, identify: o.Identify, people: o.People, admins: o.Admins}
	s.logs = newLogHub(s.life, o.Store, o.Clock, o.Logger, o.Secrets)
	s.door = newDoor(o.Store, s.logs, o.Clock, o.Logger)
	s.locks = newLockTable(s.life, o.Store, o.Clock, o.Logger, cat)
	s.locks.shared = o.Lease > 0
	if o.Lease > 0 {
		s.locks.remote = notifiers(o.Observers).lock
	}
	s.freezes = newFreezeBook(o.Store, o.Clock, o.Freeze)
	rules := chain{permissionRule{s.access}, badRule{o.Store}, lockRule{s.locks}, freezeRule{s.freezes},
		checksRule{checker: o.Checker, log: o.Logger}, approvalRule{o.Store}}
	s.waiting = &waitingBook{life: s.life, store: o.Store, door: s.door, rules: rules, cat: cat, checker: o.Checker,
		clock: o.Clock, log: o.Logger, every: o.RecheckEvery, wakes: map[int64]Timer{}, timeouts: map[int64]Timer{}}
	s.admit = &admission{cat: cat, access: s.access, rules: rules, locks: s.locks, freezes: s.freezes, store: o.Store, runners: o.Runners,
		door: s.door, resolver: o.Resolver, clock: o.Clock, log: o.Logger}
	s.approvals = &approvalDesk{store: o.Store, cat: cat, access: s.access, door: s.door, logs: s.logs,
		waiting: s.waiting, clock: o.Clock}
	s.promoter = &promoter{life: s.life, store: o.Store, cat: cat, admit: s.admit, logs: s.logs, door: s.door,
		clock: o.Clock, log: o.Logger, pending: map[int64]Timer{}}
	ns := notifiers(append(append([]Notifier(nil), o.Notifiers...), o.Observers...))
	s.door.mail = mailersOf(o.Notifiers)
	for _, n := range o.Notifiers {
		if f, ok := n.(FreezeNotifier); ok {
			s.freezeNews = append(s.freezeNews, f)
		}
	}
	exec := &executor{life: s.life, runners: o.Runners, logs: s.logs, door: s.door, runs: s.runs, notify: ns,
		clock: o.Clock, log: o.Logger, server: o.Server, lease: o.Lease, prober: o.Prober}
	exec.rollBack = s.rollBackFailed
	s.dispatch = newDispatcher(dispatcher{life: s.life, cat: cat, store: o.Store, door: s.door, locks: s.locks,
		runs: s.runs, exec: exec, clock: o.Clock, log: o.Logger, server: o.Server, lease: o.Lease}, o.MaxParallel)
	s.retention = &retention{life: s.life, store: o.Store, cat: cat, door: s.door, clock: o.Clock, log: o.Logger,
		first: time.Minute, every: time.Hour}
	s.board = newBoard(o.Store)
	if o.Lease > 0 {
		s.leases = &leases{life: s.life, store: o.Store, door: s.door, runs: s.runs, locks: s.locks, freezes: s.freezes,
			board: s.board, clock: o.Clock, log: o.Logger, server: o.Server, lease: o.Lease, kick: s.dispatch.kickQueued}
		if w, ok := o.Store.(Watcher); ok {
			s.watch = &watch{life: s.life, store: o.Store, watcher: w, runs: s.runs, locks: s.locks, freezes: s.freezes,
				board: s.board, dispatch: s.dispatch, observers: notifiers(o.Observers), server: o.Server, log: o.Logger,
				rescan: s.leases.lookAround, first: make(chan struct{})}
		}
	}
	s.viewer = &viewer{cat: cat, store: o.Store, runs: s.runs, locks: s.locks, freezes: s.freezes, approvals: s.approvals, board: s.board}

	// Who hears of what, in order: the runs of this process, the waiting
	// book, promotion, the adapters, then the dispatcher (a deploy is said
	// queued before it can start), and last the log's end, so that whoever
	// follows a log to its end finds all it caused.
	s.door.on(s.runs.onChange)
	s.door.on(s.board.onChange)
	s.door.on(s.waiting.onChange)
	s.door.on(s.promoter.onChange)
	s.door.on(ns.onChange)
	s.door.on(s.dispatch.onChange)
	s.door.on(func(_ context.Context, c change) {
		if c.d.State.Terminal() {
			s.logs.end(c.d.ID)
		}
	})
	s.locks.changed = append(s.locks.changed, func(_ context.Context, l *Lock, locked bool) { ns.lock(l, locked) }, s.dispatch.onLock,
		s.waiting.onLock)
	s.locks.audit = s.door.audit
	s.freezes.changed = s.waiting.onFreeze
	return s, nil
}

// Start recovers from a previous run (running deploys become interrupted,
// queued ones go on) and starts one dispatcher per app+env. ctx bounds the
// life of the Service; Stop ends it sooner.
func (s *Service) Start(ctx context.Context) error {
	// However the parent ends, for the deploys it is a shutdown.
	stop := context.AfterFunc(ctx, func() { s.stop(ErrShutdown) })
	go func() { <-s.life.Done(); stop() }()
	for _, load := range []func(context.Context) error{s.board.load, s.dispatch.recover, s.locks.load, s.freezes.load, s.waiting.load} {
		if err := load(ctx); err != nil {
			return err
		}
	}
	s.started = true
	s.dispatch.run(&s.wg)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.waiting.watch() // at once, then every so often
	}()
	go func() {
		defer s.wg.Done()
		s.retention.run()
	}()
	if s.leases != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.leases.run()
		}()
	}
	if s.watch != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.watch.run()
		}()
		// Until the watch listens (or could not), for at most 10 s: what
		// it hears is trusted from then; before, the locks are read for
		// each decision.
		waited := make(chan struct{})
		t := s.clock.AfterFunc(10*time.Second, func() { close(waited) })
		select {
		case <-s.watch.first:
		case <-waited:
		case <-ctx.Done():
		}
		t.Stop()
	}
	s.promoter.resume(s.life)
	return nil
}

// Stop ends running deploys (they become interrupted: their runners are
// stopped and their process trees killed) and waits for the dispatchers.
// Queued deploys stay queued, and verifying ones verifying, for the next
// start.
func (s *Service) Stop() {
	if !s.started {
		return
	}
	s.stop(ErrShutdown)
	s.wg.Wait()
	s.locks.stop()
	s.waiting.stop()
	s.promoter.stop()
}

// Apps returns the configured apps.
func (s *Service) Apps() []*App { return s.cat.apps }

// Lookup returns an app and one of its environments; an empty env means
// the app's default. ENotFound names what exists.
func (s *Service) Lookup(appName, envName string) (*App, *Environment, error) {
	return s.cat.lookup(appName, envName)
}

// View returns what adapters show of d: the end it reached while that
// end is being stored, its progress while it runs (even when d was read
// before it started), why it waits, whether it waits for approvals, and
// its app's repo. It reads only memory.
func (s *Service) View(d *Deploy) DeployView { return s.viewer.view(d) }

// Environments returns the status of every configured app+env, in config
// order.
func (s *Service) Environments(ctx context.Context) ([]EnvStatus, error) {
	return s.viewer.environments(ctx)
}

// Environment returns the status of one app in one environment (by name
// or alias), from memory: what an adapter shows again when a deploy or a
// lock of it changed. ENotFound.
func (s *Service) Environment(app, env string) (EnvStatus, error) {
	return s.viewer.environment(app, env)
}

// PruneLogs prunes, on demand, the logs of deploys that ended more than
// olderThan ago, everywhere, to their last lines (dryRun: only counts).
// Admins only (EForbidden).
func (s *Service) PruneLogs(ctx context.Context, user string, olderThan time.Duration, dryRun bool) (PruneReport, error) {
	if err := ValidUser(user); err != nil {
		return PruneReport{}, err
	}
	if !s.access.isAdmin(ctx, nil, user) {
		return PruneReport{}, Errorf(EForbidden, "%s may not prune logs (admins: %s)", user, orNobody(s.access.admins))
	}
	if olderThan <= 0 {
		return PruneReport{}, Errorf(EInvalid, "prune logs older than a positive duration")
	}
	return s.retention.prune(ctx, user, olderThan, dryRun)
}

// Health is nil when deploys can be recorded, EUnavailable (saying why)
// when the database cannot be written.
func (s *Service) Health(ctx context.Context) error { return s.store.Health(ctx) }
