package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock migrations are applied under, so
// that servers starting at once migrate once: the others wait, then find
// nothing to do.
const migrationLock int64 = 0x6465706c6f7971 // "deployq" in ASCII

// migration is one file of migrations/: NNN_what.sql.
type migration struct {
	version int
	name    string
}

// migrate applies, in order and in one transaction holding
// migrationLock, the migrations the database has not had; the versions
// applied are kept in schema_migrations. A database that has them all
// is only read.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	todo, err := migrationFiles()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE TABLE schema_migrations (
				version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				return err
			}
		}
		rows, _ := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		done := map[int]bool{}
		for _, v := range applied {
			done[int(v)] = true
		}
		for _, m := range todo {
			if done[m.version] {
				continue
			}
			body, err := migrations.ReadFile(m.name)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil { // several statements: no arguments, one round trip
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
				return err
			}
		}
		return nil
	})
}

// migrationFiles lists the migrations in version order.
func migrationFiles() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(path.Base(name), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: no version number", name)
		}
		out = append(out, migration{version: v, name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}
