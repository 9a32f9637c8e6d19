package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Role is the role DSN connects as: it owns the databases NewDB makes,
// and is not a superuser, like the role a real deployment gives deployq.
const Role = "deployq"

// Superuser is the role Exec connects as.
const Superuser = "postgres"

// port names the server's socket file (.s.PGSQL.5432); nothing listens on
// TCP.
const port = 5432

// startTimeout bounds initdb (the first time) and a start of the server.
const startTimeout = 2 * time.Minute

// Server is a private PostgreSQL server: its cluster in Dir/data, its log
// in Dir/postgres.log, and its socket in Dir. It listens on nothing else.
// Dir is in /dev/shm where there is one (see runDir).
type Server struct {
	Dir string

	in    install
	cred  *syscall.Credential
	next  atomic.Int64 // names of the databases NewDB makes
	mu    sync.Mutex   // guards proc
	proc  *process     // nil while stopped
	ended bool         // Close was called
}

// Start starts a private server on a copy of the cached cluster (made by
// initdb the first time) in a new temporary directory (see runDir), with
// Role created. Close stops it and removes the directory. ErrMissing
// when PostgreSQL cannot run here.
func Start(ctx context.Context) (*Server, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	in, err := findInstall()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	cluster, err := cachedCluster(in, cred)
	if err != nil {
		return nil, err
	}
	base := runDir()
	sweep(base)
	dir, err := os.MkdirTemp(base, dirPrefix)
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, in: in, cred: cred}
	if len(s.socket()) > 107 { // sun_path
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: the socket path %s is too long for a unix socket: set DEPLOYQ_PG_RUN to a shorter directory", s.socket())
	}
	err = os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644)
	if err == nil {
		err = copyTree(cluster, filepath.Join(dir, "data"))
	}
	if err == nil {
		err = chownTree(dir, cred)
	}
	if err == nil {
		err = s.Start(ctx)
	}
	if err == nil {
		err = s.Exec(ctx, "postgres", `CREATE ROLE `+Role+` LOGIN`)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) socket() string { return filepath.Join(s.Dir, ".s.PGSQL."+strconv.Itoa(port)) }

// DSN is how the ordinary role connects to database db.
func (s *Server) DSN(db string) string { return s.dsn(Role, db) }

// SuperDSN is how the superuser connects to database db.
func (s *Server) SuperDSN(db string) string { return s.dsn(Superuser, db) }

func (s *Server) dsn(role, db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", quoteValue(s.Dir), port, quoteValue(role), quoteValue(db))
}

// quoteValue quotes a value of a keyword=value connection string.
func quoteValue(v string) string {
	return `'` + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + `'`
}

// Exec runs sql in database db as the superuser, on a connection of its
// own.
func (s *Server) Exec(ctx context.Context, db, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, s.SuperDSN(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// NewDB creates an empty database owned by Role, from template0, and
// returns its DSN; it is dropped (its connections ended) when t ends,
// if the server runs then.
func (s *Server) NewDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", s.next.Add(1), identPart(t.Name()))
	name = name[:min(len(name), 63)] // NAMEDATALEN
	if err := s.Exec(t.Context(), "postgres", `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+` OWNER `+Role+` TEMPLATE template0`); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if !s.Running() {
			return // the test stopped it; Close removes all
		}
		if err := s.Exec(context.Background(), "postgres", `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.DSN(name)
}

// identPart keeps what a test name gives a database name to read.
func identPart(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// LogTail is the end of the server's log.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// Running reports whether the server runs.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Pid is the postmaster's process id, 0 while stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.proc.Pid
}
