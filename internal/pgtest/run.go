package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// process is one run of the postmaster.
type process struct {
	proc *os.Process
	done chan struct{} // closed once it exited and was reaped
}

// Start starts the server on its data directory, after a Stop or Crash,
// and waits until it takes connections. A server that runs already is
// left as it is.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return errors.New("pgtest: the server was closed")
	}
	if s.proc != nil {
		return nil
	}
	logf, err := os.OpenFile(filepath.Join(s.Dir, "postgres.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.in.path("postgres"), "-D", filepath.Join(s.Dir, "data"), "-k", s.Dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=",
		// fast, and still a commit is in the write-ahead log (in the page
		// cache) when it returns: what was acknowledged survives Crash
		"-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "max_parallel_workers_per_gather=0",
		// shared memory in the data directory, which goes with it even
		// when the server was killed, rather than in /dev/shm
		"-c", "dynamic_shared_memory_type=mmap",
		"-c", "log_min_messages=warning", "-c", "log_min_error_statement=panic")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = serverEnv()
	// Pdeathsig: a test binary that dies (a panic, a timeout, a kill)
	// takes its server with it; its backends follow their postmaster.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	p, err := spawn(cmd)
	if err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	if err := s.waitReady(ctx, p); err != nil {
		p.signal(syscall.SIGQUIT)
		p.wait(10 * time.Second)
		return err
	}
	s.proc = p
	return nil
}

// spawn starts cmd from a goroutine locked to its OS thread, which stays
// until the process ends: the kernel sends Pdeathsig when the thread that
// started the process exits, not only when the whole test binary does.
func spawn(cmd *exec.Cmd) (*process, error) {
	started := make(chan error, 1)
	p := &process{done: make(chan struct{})}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.proc = cmd.Process
		started <- nil
		cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// signal signals the process it started, through its handle (a pidfd:
// never another process that got the same pid).
func (p *process) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		p.proc.Signal(sig)
	}
}

// wait waits up to d for the process to end.
func (p *process) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// waitReady waits until the server takes connections, or it exited, or
// ctx ends.
func (s *Server) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var last error
	for wait := time.Millisecond; ; wait = min(wait*2, 50*time.Millisecond) {
		conn, err := pgx.Connect(ctx, s.SuperDSN("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		last = err
		select {
		case <-p.done:
			return fmt.Errorf("pgtest: postgres exited:\n%s", s.LogTail())
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres never took connections: %v\n%s", last, s.LogTail())
		case <-time.After(wait):
		}
	}
}

// Stop shuts the server down (fast: sessions are ended, a checkpoint is
// written) and waits until it is gone. The data stays for Start.
func (s *Server) Stop() error { return s.halt(syscall.SIGINT) }

// Crash ends the server as a crash would (immediate shutdown: no
// checkpoint; the next Start recovers from the write-ahead log) and
// waits until it is gone.
func (s *Server) Crash() error { return s.halt(syscall.SIGQUIT) }

// Restart stops the server and starts it again on the same data.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start(ctx)
}

// halt sends sig to the postmaster it started (and to nothing else),
// then an immediate shutdown, then SIGKILL, as long as it does not end.
func (s *Server) halt(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{sig, 30 * time.Second}, {syscall.SIGQUIT, 10 * time.Second}, {syscall.SIGKILL, time.Minute}} {
		p.signal(step.sig)
		if p.wait(step.wait) {
			return nil
		}
	}
	return fmt.Errorf("pgtest: postgres (pid %d) did not end", p.proc.Pid)
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	return errors.Join(err, os.RemoveAll(s.Dir))
}
