package postgres_test

import (
	"strings"
	"testing"

	"github.com/deployq/deployq/internal/pgtest"
	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
)

// While the database is down, Health, writes and reads say EUnavailable;
// once it is back they work again, on new connections, and what was
// committed before is there, after a clean stop as after a crash.
func TestDatabaseDown(t *testing.T) {
	srv := pgtest.Private(t)
	s := open(t, srv.NewDB(t))
	ctx := t.Context()
	d := newDeploy("web", "prod")
	if err := s.CreateDeploy(ctx, d, audit(d)); err != nil {
		t.Fatal(err)
	}
	for _, down := range []struct {
		name string
		stop func() error
	}{{"stopped", srv.Stop}, {"crashed", srv.Crash}} {
		if err := down.stop(); err != nil {
			t.Fatal(err)
		}
		if err := s.Health(ctx); queue.ErrorCode(err) != queue.EUnavailable {
			t.Fatalf("%s: Health: %v", down.name, err)
		}
		if err := s.CreateDeploy(ctx, newDeploy("web", "prod"), audit(d)); queue.ErrorCode(err) != queue.EUnavailable {
			t.Fatalf("%s: a write: %v", down.name, err)
		}
		if _, err := s.Deploy(ctx, d.ID); queue.ErrorCode(err) != queue.EUnavailable {
			t.Fatalf("%s: a read: %v", down.name, err)
		}
		if err := srv.Start(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the store works again once the database is "+down.name, func() bool { return s.Health(ctx) == nil })
		if got, err := s.Deploy(ctx, d.ID); err != nil || got.Number != 1 {
			t.Fatalf("%s: the deploy of before: %+v %v", down.name, got, err)
		}
	}
	next := newDeploy("web", "prod")
	if err := s.CreateDeploy(ctx, next, audit(next)); err != nil || next.Number != 2 {
		t.Fatalf("a deploy after: number %d, %v", next.Number, err)
	}
}

// A database that can be read but not written (a standby, a read-only
// setting) is unavailable, and Health says why.
func TestDatabaseReadOnly(t *testing.T) {
	srv := pgtest.Shared(t)
	dsn := srv.NewDB(t)
	s := open(t, dsn)
	ctx := t.Context()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := pgx.Identifier{cfg.Database}.Sanitize()
	readOnly := func(on bool) {
		t.Helper()
		q := `ALTER DATABASE ` + db + ` SET default_transaction_read_only = on`
		if !on {
			q = `ALTER DATABASE ` + db + ` RESET default_transaction_read_only`
		}
		if err := srv.Exec(ctx, "postgres", q); err != nil {
			t.Fatal(err)
		}
		// sessions take the setting when they start: end those there are
		if err := srv.Exec(ctx, "postgres", `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, cfg.Database); err != nil {
			t.Fatal(err)
		}
	}
	readOnly(true)
	eventually(t, "Health says the database is read-only", func() bool {
		err := s.Health(ctx)
		return queue.ErrorCode(err) == queue.EUnavailable && strings.Contains(err.Error(), "read-only")
	})
	d := newDeploy("web", "prod")
	if err := s.CreateDeploy(ctx, d, audit(d)); queue.ErrorCode(err) != queue.EUnavailable {
		t.Fatalf("a write: %v", err)
	}
	if _, err := s.Deploys(ctx, queue.DeployFilter{}); err != nil {
		t.Fatalf("a read: %v", err)
	}
	readOnly(false)
	eventually(t, "the database can be written again", func() bool { return s.Health(ctx) == nil })
	if err := s.CreateDeploy(ctx, d, audit(d)); err != nil || d.Number != 1 {
		t.Fatalf("a write once it can: number %d, %v", d.Number, err)
	}
}
