package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is one deployq process of the cluster. Killed, it starts again
// under the same name, on the same data directory and the same port.
type server struct {
	name   string // server.name, and the application_name of its connections
	bin    string
	config string
	env    []string
	log    string // its stdout and stderr, across restarts

	mu     sync.Mutex // guards what follows
	listen string     // host:port, once it first listened
	url    string
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current process exited
	ending bool          // killed or stopped here: its exit is expected
	exits  []string      // exits nobody here asked for
}

// startTimeout bounds a server's start, to "deployq listening on".
const startTimeout = time.Minute

// start runs `deployq serve` and waits until it listens.
func (s *server) start(ctx context.Context) error {
	s.mu.Lock()
	listen := s.listen
	s.mu.Unlock()
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	logf, err := os.OpenFile(s.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "--- chaos: %s starts %s at %s\n", s.name, listen, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, "serve", "--config", s.config, "--listen", listen)
	cmd.Dir = filepath.Dir(s.config)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stderr = logf
	// Should this program die without its cleanup, its servers die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	listening := make(chan string, 1)
	started := make(chan error, 1)
	s.mu.Lock()
	s.ending = false
	s.mu.Unlock()
	// The process is started from a goroutine locked to its OS thread
	// until the process ends: the kernel sends Pdeathsig when the thread
	// that started it exits, and a thread that other code locks and ends
	// (pgtest's, when PostgreSQL restarts) must not take a server with it.
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with the goroutine
		defer close(done)
		defer logf.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if u, ok := strings.CutPrefix(sc.Text(), "deployq listening on "); ok {
				listening <- u
			}
		}
		io.Copy(logf, out)
		err := cmd.Wait()
		s.mu.Lock()
		if !s.ending {
			s.exits = append(s.exits, fmt.Sprintf("%s exited by itself at %s (%v); its log ends: %s", s.name, clock(time.Now()), err, s.lastLine()))
		}
		s.mu.Unlock()
	}()
	if err := <-started; err != nil {
		return err
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	select {
	case u := <-listening:
		pu, err := url.Parse(u)
		if err != nil {
			s.kill()
			return fmt.Errorf("%s says it listens on %q: %w", s.name, u, err)
		}
		s.mu.Lock()
		s.url, s.listen = u, pu.Host
		s.mu.Unlock()
		return nil
	case <-done:
		return fmt.Errorf("%s exited before it listened:\n%s", s.name, s.logTail())
	case <-time.After(startTimeout):
		s.kill()
		return fmt.Errorf("%s did not listen within %s:\n%s", s.name, startTimeout, s.logTail())
	case <-ctx.Done():
		s.kill()
		return ctx.Err()
	}
}

// base is the server's URL (it stays the same across restarts).
func (s *server) base() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// pid is the process id of the running process, 0 if none.
func (s *server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.exited() {
		return 0
	}
	return s.cmd.Process.Pid
}

// exited reports whether the current process ended; s.mu is held.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// kill ends the process at once (SIGKILL) and waits for it.
func (s *server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	s.expectExit()
	cmd.Process.Signal(syscall.SIGKILL) // through its handle: never another process with its pid
	<-done
}

// expectExit says that the process is being ended here.
func (s *server) expectExit() {
	s.mu.Lock()
	s.ending = true
	s.mu.Unlock()
}

// unexpectedExits are the times the server exited without being killed
// or stopped here (a crash).
func (s *server) unexpectedExits() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.exits)
}

// pause stops the process (SIGSTOP); resume lets it go on (SIGCONT).
func (s *server) pause() { s.signal(syscall.SIGSTOP) }

func (s *server) resume() { s.signal(syscall.SIGCONT) }

func (s *server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && !s.exited() {
		s.cmd.Process.Signal(sig)
	}
}

// stop ends the server as an operator does (SIGTERM: its running deploys
// end interrupted), then with SIGKILL if it does not end in time. A
// stopped server is continued first.
func (s *server) stop() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	s.expectExit()
	s.resume()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		s.kill()
		return fmt.Errorf("%s ignored SIGTERM for 30s: killed", s.name)
	}
}

// logTail is the end of the server's log.
func (s *server) logTail() string {
	b, _ := os.ReadFile(s.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// lastLine is the last line of the server's log.
func (s *server) lastLine() string {
	b, _ := os.ReadFile(s.log)
	t := strings.TrimSpace(string(b))
	return t[strings.LastIndexByte(t, '\n')+1:]
}
