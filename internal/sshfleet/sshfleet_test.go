package sshfleet

import (
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
