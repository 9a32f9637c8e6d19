package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/deployq/deployq/queue"
)

// exitWait is how long deployq-kubernetes has to exit once its call has
// ended and its stdin is closed, before it is killed.
const exitWait = 10 * time.Second

// call is one deployq-kubernetes process answering one request.
type call struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events *json.Decoder
	stderr *stderrLog

	mu  sync.Mutex // writes to stdin
	enc *json.Encoder
}

// start starts deployq-kubernetes and writes the request to it. The
// process is in a process group of its own: a Ctrl-C at deployq's
// terminal is deployq's to handle, and deployq tells deployq-kubernetes.
func (r *Runner) start(req request) (*call, error) {
	path := r.Path
	if path == "" {
		var err error
		if path, err = Find(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A child of deployq-kubernetes (a kubeconfig's exec credential plugin) that
	// keeps its stderr open does not hold the call up.
	cmd.WaitDelay = exitWait
	c := &call{cmd: cmd, stderr: &stderrLog{log: r.log}}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("the kubernetes runner: starting %s: %w", path, err)
	}
	c.events = json.NewDecoder(stdout)
	c.enc = json.NewEncoder(c.stdin)
	if err := c.enc.Encode(req); err != nil {
		c.finish()
		return nil, fmt.Errorf("the kubernetes runner: %s did not take the request: %w%s", path, err, c.stderr.last())
	}
	return c, nil
}

// send writes a control; one that cannot be written is lost with the
// process, whose end converse reports.
func (c *call) send(ctl control) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enc.Encode(ctl)
}

// converse hands every event but the end to on, and tells the process
// why when ctx ends. It returns the end once the process is gone; an
// error when it ended without one.
func (c *call) converse(ctx context.Context, on func(event)) (end, error) {
	stopWatch := context.AfterFunc(ctx, func() {
		s := &stop{Why: context.Cause(ctx).Error()}
		if errors.Is(context.Cause(ctx), queue.ErrShutdown) {
			s = &stop{Shutdown: true}
		}
		c.send(control{Stop: s})
	})
	defer stopWatch()
	for {
		var ev event
		if err := c.events.Decode(&ev); err != nil {
			exit := c.finish()
			if exit == nil {
				exit = err
			}
			return end{}, fmt.Errorf("%s ended without saying how the call went (%v)%s", Executable, exit, c.stderr.last())
		}
		if ev.End != nil {
			if err := c.finish(); err != nil {
				c.stderr.log(fmt.Sprintf("%s exited after its call with %v", Executable, err))
			}
			return *ev.End, nil
		}
		on(ev)
	}
}

// finish closes the process's stdin and waits for it to exit, killing it
// if it takes longer than exitWait. It returns how it exited.
func (c *call) finish() error {
	c.mu.Lock()
	c.stdin.Close()
	c.mu.Unlock()
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-time.After(exitWait):
		c.cmd.Process.Kill()
		<-exited
		return fmt.Errorf("still running %s after its call: killed", exitWait)
	}
}

// stderrLog logs deployq-kubernetes's stderr a line at a time and keeps its last
// lines, for an error that says why it ended.
type stderrLog struct {
	log     func(string)
	mu      sync.Mutex
	partial []byte
	tail    []string
}

const (
	tailLines     = 5        // how many of the last lines stderrLog keeps
	maxStderrLine = 64 << 10 // the longest line of stderr kept
)

func (s *stderrLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := string(s.partial[:i])
		s.partial = s.partial[i+1:]
		s.log(Executable + ": " + line)
		s.tail = append(s.tail, line)
		if len(s.tail) > tailLines {
			s.tail = s.tail[1:]
		}
	}
	if len(s.partial) > maxStderrLine { // a line without end is cut, never held whole
		s.partial = s.partial[:maxStderrLine]
	}
	return len(p), nil
}

// last says the last lines, after ": it said: ", or nothing.
func (s *stderrLog) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := s.tail
	if len(s.partial) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(s.partial))
	}
	if len(lines) == 0 {
		return ""
	}
	return ": it said: " + strings.Join(lines, "; ")
}
