// Package sshfleet starts real OpenSSH servers on 127.0.0.1, one per host,
// each with its own port, host key and directory ($HOSTDIR in sessions),
// for the ssh runner's tests and benchmark.
package sshfleet

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Fleet is a set of running sshd servers.
type Fleet struct {
	Dir        string
	KeyFile    string // the client's private key (ed25519, OpenSSH format)
	KnownHosts string // pinned keys of every host
	Hosts      []*Host
}

// Host is one sshd.
type Host struct {
	Name    string // 127.0.0.1:port
	Port    int
	Dir     string // $HOSTDIR in its sessions
	HostKey ssh.PublicKey
	cmd     *exec.Cmd
	done    chan struct{}            // closed once its sshd exited and was reaped
	sshd    func(port int) *exec.Cmd // its sshd on port (its config written), not started
}

// Binary finds sshd.
func Binary() (string, error) {
	for _, p := range []string{"/usr/sbin/sshd", "/usr/bin/sshd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("sshd is not installed (make test installs openssh-server)")
}

func writeKey(path string, key ed25519.PrivateKey) error {
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

// pickPort picks the port of a host's next start (a test may say).
var pickPort = freePort

// freePort is a port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts n servers under dir; tweak may change host i's
// sshd_config text. Stop them with Close.
func Start(dir string, n int, tweak ...func(i int, config string) string) (*Fleet, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation directory
	f := &Fleet{Dir: dir}
	_, clientKey, _ := ed25519.GenerateKey(rand.Reader)
	f.KeyFile = filepath.Join(dir, "id_ed25519")
	if err := writeKey(f.KeyFile, clientKey); err != nil {
		return nil, err
	}
	clientPub, _ := ssh.NewPublicKey(clientKey.Public())
	authorized := filepath.Join(dir, "authorized_keys")
	os.WriteFile(authorized, ssh.MarshalAuthorizedKey(clientPub), 0o600)
	var known []string
	for i := range n {
		h := &Host{Dir: filepath.Join(dir, fmt.Sprintf("host%d", i))}
		os.MkdirAll(h.Dir, 0o755)
		_, hk, _ := ed25519.GenerateKey(rand.Reader)
		hkFile := filepath.Join(dir, fmt.Sprintf("hostkey%d", i))
		if err := writeKey(hkFile, hk); err != nil {
			f.Close()
			return nil, err
		}
		h.HostKey, _ = ssh.NewPublicKey(hk.Public())
		cfg := filepath.Join(dir, fmt.Sprintf("sshd%d.conf", i))
		// Each server runs in its own mount and UTS namespace with its own
		// home bound over the login user's, as a separate machine would:
		// the fleet's sessions never read this machine's dotfiles, and
		// `hostname` names the host. unshare and sh exec, so the pid is
		// sshd's.
		home := filepath.Join(h.Dir, "home")
		os.MkdirAll(home, 0o700)
		h.sshd = func(port int) *exec.Cmd {
			text := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AuthorizedKeysFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxStartups 200:30:400
MaxSessions 50
AcceptEnv DEPLOY_*
SetEnv HOSTDIR=%s
LogLevel QUIET
`, port, hkFile, authorized, h.Dir)
			for _, t := range tweak {
				text = t(i, text)
			}
			os.WriteFile(cfg, []byte(text), 0o644)
			cmd := exec.Command("unshare", "--mount", "--uts", "sh", "-c",
				`mount --bind "$1" "$2" && hostname "$3" && exec "$4" -D -e -f "$5"`,
				"sh", home, userHome(), fmt.Sprintf("host%d", i), bin, cfg)
			cmd.Stderr = os.Stderr
			return cmd
		}
		f.Hosts = append(f.Hosts, h)
		if err := h.launch(); err != nil {
			f.Close()
			return nil, err
		}
	}
	// A port picked free may be taken before sshd binds it (by another
	// host of this fleet starting at the same moment, or by another
	// test): that sshd exits, and its host starts again on another port.
	// A host is up once a session on its port finds its own host key.
	signer, err := ssh.NewSignerFromKey(clientKey)
	if err != nil {
		f.Close()
		return nil, err
	}
	for _, h := range f.Hosts {
		for attempt := 0; ; attempt++ {
			up, err := h.up(signer, time.Now().Add(30*time.Second))
			if err != nil {
				f.Close()
				return nil, err
			}
			if up {
				break
			}
			if attempt == 10 {
				f.Close()
				return nil, fmt.Errorf("sshd of %s exited at each of %d starts", h.Dir, attempt+1)
			}
			if err := h.launch(); err != nil {
				f.Close()
				return nil, err
			}
		}
		known = append(known, knownhosts.Line([]string{knownhosts.Normalize(h.Name)}, h.HostKey))
	}
	f.KnownHosts = filepath.Join(dir, "known_hosts")
	os.WriteFile(f.KnownHosts, []byte(strings.Join(known, "\n")+"\n"), 0o644)
	return f, nil
}

// launch starts the host's sshd on a port free a moment before.
func (h *Host) launch() error {
	port, err := pickPort()
	if err != nil {
		return err
	}
	h.Port, h.Name = port, fmt.Sprintf("127.0.0.1:%d", port)
	h.cmd = h.sshd(port)
	if err := h.cmd.Start(); err != nil {
		return err
	}
	done, cmd := make(chan struct{}), h.cmd
	h.done = done
	go func() {
		cmd.Wait()
		close(done)
	}()
	return nil
}

// up waits until a session on the host's port finds the host's own key
// (true; whether it may then log in is the test's), or its sshd exited
// (false: it could not have its port), until deadline.
func (h *Host) up(signer ssh.Signer, deadline time.Time) (bool, error) {
	fixed := ssh.FixedHostKey(h.HostKey)
	for {
		select {
		case <-h.done:
			return false, nil
		default:
		}
		var own bool
		cfg := &ssh.ClientConfig{User: loginUser(), Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
				err := fixed(host, remote, key)
				own = err == nil
				return err
			}}
		// a deadline on the whole handshake: what holds the port may
		// never answer
		conn, err := net.DialTimeout("tcp", h.Name, 2*time.Second)
		if err == nil {
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			var c ssh.Conn
			if c, _, _, err = ssh.NewClientConn(conn, h.Name, cfg); err == nil {
				c.Close()
			} else {
				conn.Close()
			}
		}
		if own {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("sshd on %s never took a session: %v", h.Name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// loginUser is the user the sessions log in as (this process's).
func loginUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

// userHome is the home of the user the sessions log in as (this
// process's, root: sshd needs it).
func userHome() string {
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	return "/root"
}

// Close stops every server (by pid).
func (f *Fleet) Close() {
	for _, h := range f.Hosts {
		h.Stop()
	}
}

// Stop ends this host's sshd and returns once its port refuses
// connections: a session child forked just before the kill may still
// hold the listening socket until it runs, and a host that is down
// must not take a connection and then reset it.
func (h *Host) Stop() {
	if h.cmd == nil {
		return
	}
	select {
	case <-h.done:
		return
	default:
	}
	h.cmd.Process.Kill()
	<-h.done
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", h.Name, time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Names lists the hosts as host:port.
func (f *Fleet) Names() []string {
	var out []string
	for _, h := range f.Hosts {
		out = append(out, h.Name)
	}
	return out
}

// File reads a file in the host's directory, trimmed.
func (h *Host) File(name string) string {
	b, _ := os.ReadFile(filepath.Join(h.Dir, name))
	return strings.TrimSpace(string(b))
}
