package pgtest_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/deployq/deployq/internal/pgtest"
	"github.com/deployq/deployq/internal/proctest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Each test gets a database of its own, owned by an ordinary role, on a
// server that listens on its socket only; the database goes with the
// test.
func TestNew(t *testing.T) {
	var name string
	t.Run("database", func(t *testing.T) {
		a, b := pgtest.New(t), pgtest.New(t)
		if a == b {
			t.Fatalf("two tests share %s", a)
		}
		conn := connect(t, a)
		var super bool
		var user, listen string
		if err := conn.QueryRow(t.Context(), `SELECT current_database(), current_user, usesuper,
			current_setting('listen_addresses') FROM pg_user WHERE usename = current_user`).Scan(&name, &user, &super, &listen); err != nil {
			t.Fatal(err)
		}
		if user != pgtest.Role || super || listen != "" {
			t.Fatalf("connected as %s (superuser %v), listening on %q", user, super, listen)
		}
		if _, err := conn.Exec(t.Context(), `CREATE TABLE t (x int)`); err != nil {
			t.Fatalf("the role cannot create a table in its database: %v", err)
		}
		conn.Close(t.Context())
	})
	var n int
	srv := pgtest.Shared(t)
	conn := connect(t, srv.SuperDSN("postgres"))
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the database of a test that ended is still there (%d, %v)", n, err)
	}
}

// A private server can be stopped, started, restarted and crashed; what
// was committed is there after each; Close ends its process and removes
// its directory.
func TestPrivate(t *testing.T) {
	var pids []int
	var dir string
	t.Run("server", func(t *testing.T) {
		srv := pgtest.Private(t)
		dir = srv.Dir
		ctx := t.Context()
		dsn := srv.NewDB(t)
		write := func(x int) {
			t.Helper()
			conn := connect(t, dsn)
			if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS t (x int); INSERT INTO t VALUES (`+strconv.Itoa(x)+`)`); err != nil {
				t.Fatal(err)
			}
			conn.Close(ctx)
		}
		count := func() int {
			t.Helper()
			var n int
			if err := connect(t, dsn).QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		write(1)
		pids = append(pids, srv.Pid())
		if err := srv.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, srv.Pid())
		if n := count(); n != 1 {
			t.Fatalf("%d rows after a restart", n)
		}
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		if _, err := pgx.Connect(ctx, dsn); err == nil {
			t.Fatal("connected to a stopped server")
		}
		if err := srv.Start(ctx); err != nil {
			t.Fatal(err)
		}
		write(2)
		pids = append(pids, srv.Pid())
		if err := srv.Crash(); err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(ctx); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, srv.Pid())
		if n := count(); n != 2 {
			t.Fatalf("%d rows after a crash, want the 2 committed", n)
		}
		if err := srv.Exec(ctx, "postgres", `SELECT 1`); err != nil {
			t.Fatalf("superuser: %v", err)
		}
	})
	for _, pid := range pids {
		if pid == 0 || proctest.Alive(pid) {
			t.Fatalf("postmaster %d is still there after Close", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s is still there after Close: %v", dir, err)
	}
}

// Two test binaries that find no cached cluster make it at once: both
// start, and one cluster stays in the cache.
func TestCacheRace(t *testing.T) {
	pgtest.Shared(t) // skips without PostgreSQL
	cache := t.TempDir()
	t.Setenv("DEPLOYQ_PG_CACHE", cache)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			srv, err := pgtest.Start(t.Context())
			if err == nil {
				err = srv.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := filepath.Glob(filepath.Join(cache, "*"))
	if len(entries) != 1 || strings.Contains(entries[0], ".tmp-") {
		t.Fatalf("the cache holds %v, want one cluster", entries)
	}
	if _, err := os.Stat(filepath.Join(entries[0], "data", "PG_VERSION")); err != nil {
		t.Fatal(err)
	}
}
