package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// clientConfig returns the SSH client settings and what to close after
// the deploy.
func (r *Runner) clientConfig(st *Settings) (_ *ssh.ClientConfig, closer func() error, _ error) {
	auth, closer, err := authMethod(st)
	if err != nil {
		return nil, nil, err
	}
	cb, err := r.hostKeyCallback(st)
	if err != nil {
		closer()
		return nil, nil, err
	}
	timeout := st.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &ssh.ClientConfig{Auth: []ssh.AuthMethod{auth}, HostKeyCallback: cb, Timeout: timeout}, closer, nil
}

// authMethod is one publickey method with every key of the key files and,
// with agent, of the ssh-agent (the client tries a method once). The
// agent signs during the whole deploy: its connection is closed by closer.
func authMethod(st *Settings) (_ ssh.AuthMethod, closer func() error, _ error) {
	closer = func() error { return nil }
	var signers []ssh.Signer
	for _, f := range st.KeyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("key %s: %w", f, err)
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, nil, fmt.Errorf("key %s: %w", f, err)
		}
		signers = append(signers, s)
	}
	keys := func() ([]ssh.Signer, error) { return signers, nil }
	if st.Agent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, nil, errors.New("agent: SSH_AUTH_SOCK is not set")
		}
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, nil, fmt.Errorf("agent: %w", err)
		}
		closer = conn.Close
		ag := agent.NewClient(conn)
		keys = func() ([]ssh.Signer, error) {
			more, err := ag.Signers()
			return append(append([]ssh.Signer{}, signers...), more...), err
		}
	}
	return ssh.PublicKeysCallback(keys), closer, nil
}

// hostKeyCallback verifies host keys against known_hosts, or, when the
// settings say so explicitly, does not (and warns).
func (r *Runner) hostKeyCallback(st *Settings) (ssh.HostKeyCallback, error) {
	if st.InsecureIgnoreHostKey {
		if r.Warn != nil {
			r.Warn("ssh: insecure_ignore_host_key is set: host keys are NOT verified")
		}
		return ssh.InsecureIgnoreHostKey(), nil
	}
	kh, err := knownhosts.New(st.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	return kh, nil
}

// dial connects to a host as its user. A failure is how the host ends
// ("unreachable" at "connect"), said on its stderr: a refused host key
// says whether the key is unknown or changed.
func dial(ctx context.Context, h host, base *ssh.ClientConfig, stderr io.Writer) (*ssh.Client, *hostState) {
	cfg := *base
	cfg.User = h.user
	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		fmt.Fprintf(stderr, "cannot connect: %v\n", err)
		return nil, &hostState{state: "unreachable", step: "connect", detail: err.Error()}
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, h.addr, &cfg)
	if err != nil {
		conn.Close()
		msg := err.Error()
		var kerr *knownhosts.KeyError
		if errors.As(err, &kerr) {
			if len(kerr.Want) == 0 {
				msg = "host key unknown: not in known_hosts"
			} else {
				msg = "host key changed: it does not match known_hosts"
			}
		}
		fmt.Fprintf(stderr, "refused: %s\n", msg)
		return nil, &hostState{state: "unreachable", step: "connect", detail: msg}
	}
	return ssh.NewClient(c, chans, reqs), nil
}
