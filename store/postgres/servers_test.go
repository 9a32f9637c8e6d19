package postgres_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/pgtest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store/postgres"
	"github.com/jackc/pgx/v5"
)

// servers is how many deployq servers the tests share one database
// between.
const servers = 4

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)

func newDeploy(app, env string) *queue.Deploy {
	return &queue.Deploy{App: app, Env: env, Ref: "main", SHA: fmt.Sprintf("%040x", 1), State: queue.StateQueued,
		User: "alice", Source: queue.SourceChat, CreatedAt: t0}
}

func audit(d *queue.Deploy) queue.AuditEntry {
	return queue.AuditEntry{Time: d.CreatedAt, User: d.User, Action: "deploy"}
}

// openAll opens the stores of several servers on one database at once:
// they migrate it once between them.
func openAll(t *testing.T, dsn string) []*postgres.Store {
	t.Helper()
	stores := make([]*postgres.Store, servers)
	errs := make([]error, servers)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("server %d: %v", i, errs[i])
		}
		t.Cleanup(func() { s.Close() })
	}
	return stores
}

// Servers that start at once on an empty database migrate it once.
func TestMigrateOnce(t *testing.T) {
	dsn := pgtest.New(t)
	openAll(t, dsn)
	open(t, dsn) // and a later start finds nothing to do
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	files, _ := filepath.Glob("migrations/*.sql")
	var want []int32
	for i := range files {
		want = append(want, int32(i+1))
	}
	if err != nil || len(want) == 0 || !slices.Equal(versions, want) {
		t.Fatalf("schema_migrations holds %v (%v), want each version once", versions, err)
	}
}

// Servers creating deploys in the same lanes at once number them 1, 2,
// 3... in each lane, without a gap or a repeat, in the order of their ids.
func TestNumbersAcrossServers(t *testing.T) {
	stores := openAll(t, pgtest.New(t))
	const each = 20
	lanes := [][2]string{{"web", "prod"}, {"web", "qa"}, {"api", "prod"}}
	var wg sync.WaitGroup
	errs := make(chan error, servers*len(lanes)*each)
	for _, s := range stores {
		for _, lane := range lanes {
			wg.Go(func() {
				for range each {
					d := newDeploy(lane[0], lane[1])
					errs <- s.CreateDeploy(t.Context(), d, audit(d))
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, lane := range lanes {
		ds, err := stores[0].Deploys(t.Context(), queue.DeployFilter{App: lane[0], Env: lane[1], Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != servers*each {
			t.Fatalf("%v: %d deploys, want %d", lane, len(ds), servers*each)
		}
		for i, d := range ds { // newest first
			if want := int64(len(ds) - i); d.Number != want {
				t.Fatalf("%v: deploy #%d is number %d, want %d", lane, d.ID, d.Number, want)
			}
		}
	}
}

// Servers racing to start the queued deploys of one lane: exactly one
// runs, whichever server each update comes from.
func TestOneRunningAcrossServers(t *testing.T) {
	stores := openAll(t, pgtest.New(t))
	const n = 32
	ds := make([]*queue.Deploy, n)
	for i := range ds {
		ds[i] = newDeploy("web", "prod")
		if err := stores[0].CreateDeploy(t.Context(), ds[i], audit(ds[i])); err != nil {
			t.Fatal(err)
		}
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() {
			next := *d
			next.State, next.StartedAt = queue.StateRunning, t0.Add(time.Minute)
			<-start
			errs[i] = stores[i%servers].UpdateDeploy(t.Context(), &next, queue.StateQueued,
				[]queue.LogLine{{DeployID: d.ID, Seq: 1, Time: t0, Stream: queue.StreamSystem, Text: "started"}})
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch queue.ErrorCode(err) {
		case "":
			won++
		case queue.EConflict:
			if lines, _ := stores[0].Log(t.Context(), ds[i].ID, 0, 0); len(lines) != 0 {
				t.Fatalf("#%d did not start but kept its line", ds[i].ID)
			}
		default:
			t.Fatalf("#%d: %v; want success or EConflict", ds[i].ID, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d deploys of one lane run; want 1", won)
	}
}

// Messages of one key added at once from several servers come due in an
// order no later one breaks: a deliverer that takes what is due, one by
// one, delivers them in the order of their ids, and delivers them all.
func TestOutboxOrderAcrossServers(t *testing.T) {
	stores := openAll(t, pgtest.New(t))
	const each = 25
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			for j := range each {
				if err := s.OutboxAdd(t.Context(), "deploy:1", fmt.Sprintf("%d/%d", i, j)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	adding := make(chan struct{})
	go func() { wg.Wait(); close(adding) }()

	var delivered []int64
	next := map[int]int{} // per server, the message that comes next
	done := false
	for !done {
		select {
		case <-adding:
			done = true // one more pass: what was added last
		default:
		}
		for {
			due, err := stores[len(delivered)%servers].OutboxDue(t.Context(), "", time.Now().Add(time.Hour), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(due) == 0 {
				break
			}
			it := due[0]
			var i, j int
			fmt.Sscanf(it.Body, "%d/%d", &i, &j)
			if j != next[i] {
				t.Fatalf("server %d's message %d came when its %d was next", i, j, next[i])
			}
			next[i]++
			delivered = append(delivered, it.ID)
			if err := stores[0].OutboxDone(t.Context(), it.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !slices.IsSorted(delivered) || len(delivered) != servers*each {
		t.Fatalf("delivered %d messages, in the order %v", len(delivered), delivered)
	}
}

// A caller that gives up while its write waits does not undo it: a write
// that began runs to its end. Here it waits for a row another session
// holds, its caller gives up meanwhile, and it is stored once the row is
// free.
func TestGivingUpDoesNotInterruptAWrite(t *testing.T) {
	dsn := pgtest.New(t)
	s := open(t, dsn)
	d := newDeploy("web", "prod")
	if err := s.CreateDeploy(t.Context(), d, audit(d)); err != nil {
		t.Fatal(err)
	}
	holder, tx := holdRows(t, dsn, `SELECT 1 FROM deploys WHERE id = $1 FOR UPDATE`, d.ID)

	ctx, giveUp := context.WithCancel(t.Context())
	next := *d
	next.State = queue.StateCanceled
	res := make(chan error, 1)
	go func() { res <- s.UpdateDeploy(ctx, &next, queue.StateQueued, nil) }()
	eventually(t, "the update waits for the row", func() bool {
		var waiting int
		holder.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE deploys%'`).Scan(&waiting)
		return waiting == 1
	})
	giveUp()
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Fatalf("the update: %v", err)
	}
	if got, err := s.Deploy(t.Context(), d.ID); err != nil || got.State != queue.StateCanceled {
		t.Fatalf("the deploy after the update: %+v %v", got, err)
	}
}
