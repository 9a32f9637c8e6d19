package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// migrationSteps are the parts of migrations written in Go, run in the
// transaction of the migration's SQL, after it.
var migrationSteps = map[int]func(context.Context, *sql.Tx) error{
	9: logLinesToChunks,
}

// afterMigration runs once a migration committed, outside a transaction
// (VACUUM cannot run in one).
var afterMigration = map[int]func(context.Context, *sql.DB) error{
	9: incrementalVacuum,
}

// migrate applies the migrations the database has not had, in order,
// each in its own transaction.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(path.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: no version number", name)
		}
		var n int
		if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
			if step := migrationSteps[v]; step != nil {
				if err := step(ctx, tx); err != nil {
					return fmt.Errorf("migration %s: %w", name, err)
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, fmtTime(time.Now()))
			return err
		})
		if err != nil {
			return err
		}
		if after := afterMigration[v]; after != nil {
			if err := after(ctx, s.w); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
	}
	return nil
}

// logLinesToChunks moves the log lines of the row-a-line table into
// sealed chunks, deploy by deploy, then drops it.
func logLinesToChunks(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT deploy_id, seq, time, stream, host, text FROM log_lines ORDER BY deploy_id, seq`)
	if err != nil {
		return err
	}
	var batch []queue.LogLine
	size := 0
	var chunks [][]queue.LogLine
	cut := func() {
		if len(batch) > 0 {
			chunks = append(chunks, batch)
		}
		batch, size = nil, 0
	}
	for rows.Next() {
		var l queue.LogLine
		var t sql.NullString
		if err := rows.Scan(&l.DeployID, &l.Seq, &t, &l.Stream, &l.Host, &l.Text); err != nil {
			rows.Close()
			return err
		}
		l.Time = parseTime(t)
		if len(batch) > 0 && (batch[0].DeployID != l.DeployID || size >= sealBytes) {
			cut()
		}
		batch = append(batch, l)
		size += len(l.Text)
	}
	cut()
	if err := rows.Close(); err != nil {
		return err
	}
	for _, c := range chunks {
		if err := insertChunk(ctx, tx, c, true); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `DROP TABLE log_lines`)
	return err
}

// incrementalVacuum lets deleted logs give their space back: the
// database becomes one whose free pages can be returned a few at a time
// (PRAGMA incremental_vacuum), which takes a VACUUM once.
func incrementalVacuum(ctx context.Context, db *sql.DB) error {
	var mode int
	if err := db.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode == 2 {
		return err
	}
	if _, err := db.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, `VACUUM`)
	return err
}
