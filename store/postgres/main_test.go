package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/pgtest"
	"github.com/deployq/deployq/store/postgres"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// open opens a store on dsn, closed when t ends.
func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return s
}

// fresh opens a store on a database of its own, empty but for the schema.
func fresh(t testing.TB) *postgres.Store {
	t.Helper()
	return open(t, pgtest.New(t))
}

// eventually waits until cond holds, looking again every few
// milliseconds, and fails t saying what never happened after a minute.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for wait := time.Millisecond; !cond(); wait = min(wait*2, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute: %s never happened", what)
		}
		time.Sleep(wait)
	}
}

// holdRows begins, on a connection of its own (another server's), a
// transaction that locks the rows query selects (FOR UPDATE) and keeps
// them until the test ends it, and returns both. The connection closes
// when t ends.
func holdRows(t testing.TB, dsn, query string, args ...any) (*pgx.Conn, pgx.Tx) {
	t.Helper()
	holder, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Close(context.Background()) })
	tx, err := holder.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), query, args...); err != nil {
		t.Fatal(err)
	}
	return holder, tx
}
