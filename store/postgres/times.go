package postgres

import (
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// A time is kept in two columns: a timestamptz, to the microsecond (what
// PostgreSQL keeps, and what SQL compares), and the nanoseconds below the
// microsecond (0-999). A time comes back as it went in, to the
// nanosecond and in UTC, as it does from the SQLite store.

// stamp splits t for a NOT NULL column.
func stamp(t time.Time) (time.Time, int16) {
	at := t.Truncate(time.Microsecond)
	return at, int16(t.Sub(at))
}

// nullStamp splits t for a column where the zero time is NULL.
func nullStamp(t time.Time) (pgtype.Timestamptz, int16) {
	if t.IsZero() {
		return pgtype.Timestamptz{}, 0
	}
	at, ns := stamp(t)
	return pgtype.Timestamptz{Time: at, Valid: true}, ns
}

// unstamp joins what stamp split.
func unstamp(at time.Time, ns int16) time.Time {
	t := at.Add(time.Duration(ns)).UTC()
	if t.IsZero() {
		return time.Time{}
	}
	return t
}

// unstampNull joins what nullStamp split: the zero time for NULL.
func unstampNull(at pgtype.Timestamptz, ns int16) time.Time {
	if !at.Valid {
		return time.Time{}
	}
	return unstamp(at.Time, ns)
}
