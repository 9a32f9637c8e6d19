package sshfleet

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Each host is a machine of its own: its own hostname and home, so that
// nothing of this machine's dotfiles runs in the fleet's sessions.
func TestHostsHaveTheirOwnHomeAndName(t *testing.T) {
	f, err := Start(t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	b, err := os.ReadFile(f.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	kh, err := knownhosts.New(f.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: kh}
	for i, h := range f.Hosts {
		c, err := ssh.Dial("tcp", h.Name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Output(`hostname; touch ~/.deployq-fleet-mark; ls -A ~`)
		c.Close()
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		lines := strings.Fields(string(out))
		want := []string{"host" + string(rune('0'+i)), ".deployq-fleet-mark"}
		if strings.Join(lines, " ") != strings.Join(want, " ") {
			t.Errorf("%s: got %q, want %q", h.Name, lines, want)
		}
		if _, err := os.Stat(filepath.Join(h.Dir, "home", ".deployq-fleet-mark")); err != nil {
			t.Errorf("%s: the file did not land in the host's home: %v", h.Name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(userHome(), ".deployq-fleet-mark")); err == nil {
		os.Remove(filepath.Join(userHome(), ".deployq-fleet-mark"))
		t.Error("a session wrote into this machine's home")
	}
}

// A port taken between its pick and sshd's bind (by two hosts of a fleet
// at once, or by another test): the host starts again on another port,
// and the fleet's names and pinned keys are those of its own servers.
func TestTakenPortIsLeftForAnother(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	picks := 0
	pickPort = func() (int, error) {
		if picks++; picks == 1 {
			return port, nil
		}
		return freePort()
	}
	t.Cleanup(func() { pickPort = freePort })
	f, err := Start(t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	h := f.Hosts[0]
	if picks < 2 || h.Port == port {
		t.Fatalf("host on port %d after %d picks; %d was taken", h.Port, picks, port)
	}
	kh, err := knownhosts.New(f.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", h.Name, &ssh.ClientConfig{User: loginUser(), HostKeyCallback: kh,
		Auth: []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			b, err := os.ReadFile(f.KeyFile)
			if err != nil {
				return nil, err
			}
			s, err := ssh.ParsePrivateKey(b)
			return []ssh.Signer{s}, err
		})}})
	if err != nil {
		t.Fatalf("a session on %s: %v", h.Name, err)
	}
	c.Close()
}
