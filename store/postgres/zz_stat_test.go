package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/pgtest"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
)

func BenchmarkZZStat(b *testing.B) {
	srv := pgtest.Shared(b)
	dsn := srv.NewDB(b)
	c, err := pgx.Connect(context.Background(), srv.SuperDSN("postgres"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Exec(context.Background(), "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		b.Fatal(err)
	}
	first := true
	queuetest.AcceptToStart(b, func(b *testing.B) queue.Store {
		return open(b, dsn)
	}, func(o *queue.Options) {
		o.Server, o.Lease = "bench-1", 15*time.Second
		if first {
			first = false
			c.Exec(context.Background(), "SELECT pg_stat_statements_reset()")
		}
	})
	rows, err := c.Query(context.Background(), `SELECT calls, round(total_exec_time::numeric,1), round((total_exec_time/calls)::numeric,3), left(regexp_replace(query, '\s+', ' ', 'g'), 120) FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 16`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var calls int64
		var tot, per float64
		var q string
		rows.Scan(&calls, &tot, &per, &q)
		fmt.Printf("%8d %9.1f %7.3f %s\n", calls, tot, per, q)
	}
}
