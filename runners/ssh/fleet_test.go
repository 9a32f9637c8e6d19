package ssh_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// fleet is a set of real OpenSSH servers on 127.0.0.1, one per host.
type fleet struct {
	dir        string
	keyFile    string // the client's private key
	knownHosts string
	hosts      []*sshHost
}

type sshHost struct {
	name    string // 127.0.0.1:port
	dir     string // $HOSTDIR on that host
	cmd     *exec.Cmd
	hostKey ssh.PublicKey
}

func sshd(t *testing.T) string {
	for _, p := range []string{"/usr/sbin/sshd", "/usr/bin/sshd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("sshd is not installed (make test installs openssh-server)")
	return ""
}

func writeKey(t *testing.T, path string, key ed25519.PrivateKey) {
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newFleet starts n sshd servers, each with its own host key and home;
// tweak may change host i's sshd_config text.
func newFleet(t *testing.T, n int, tweak ...func(i int, config string) string) *fleet {
	bin := sshd(t)
	os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation directory
	f := &fleet{dir: t.TempDir()}
	_, clientKey, _ := ed25519.GenerateKey(rand.Reader)
	f.keyFile = filepath.Join(f.dir, "id_ed25519")
	writeKey(t, f.keyFile, clientKey)
	clientPub, _ := ssh.NewPublicKey(clientKey.Public())
	authorized := filepath.Join(f.dir, "authorized_keys")
	os.WriteFile(authorized, ssh.MarshalAuthorizedKey(clientPub), 0o600)
	var known []string
	for i := range n {
		h := &sshHost{dir: filepath.Join(f.dir, fmt.Sprintf("host%d", i))}
		os.MkdirAll(h.dir, 0o755)
		_, hk, _ := ed25519.GenerateKey(rand.Reader)
		hkFile := filepath.Join(h.dir, "..", fmt.Sprintf("hostkey%d", i))
		writeKey(t, hkFile, hk)
		h.hostKey, _ = ssh.NewPublicKey(hk.Public())
		port := freePort(t)
		h.name = fmt.Sprintf("127.0.0.1:%d", port)
		cfg := filepath.Join(f.dir, fmt.Sprintf("sshd%d.conf", i))
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
LogLevel ERROR
`, port, hkFile, authorized, h.dir)
		for _, f := range tweak {
			text = f(i, text)
		}
		os.WriteFile(cfg, []byte(text), 0o644)
		h.cmd = exec.Command(bin, "-D", "-e", "-f", cfg)
		h.cmd.Stderr = os.Stderr
		if err := h.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.stop() })
		known = append(known, knownhosts.Line([]string{knownhosts.Normalize(h.name)}, h.hostKey))
		f.hosts = append(f.hosts, h)
	}
	f.knownHosts = filepath.Join(f.dir, "known_hosts")
	os.WriteFile(f.knownHosts, []byte(strings.Join(known, "\n")+"\n"), 0o644)
	for _, h := range f.hosts {
		deadline := time.Now().Add(30 * time.Second)
		for {
			c, err := net.Dial("tcp", h.name)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sshd on %s never listened", h.name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return f
}

// stop ends the host's sshd (by its pid).
func (h *sshHost) stop() {
	if h.cmd.ProcessState == nil {
		h.cmd.Process.Kill()
		h.cmd.Wait()
	}
}

func (f *fleet) names() []string {
	var out []string
	for _, h := range f.hosts {
		out = append(out, h.name)
	}
	return out
}

func (h *sshHost) file(name string) string {
	b, _ := os.ReadFile(filepath.Join(h.dir, name))
	return strings.TrimSpace(string(b))
}
