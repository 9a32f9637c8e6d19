package ssh_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sshrunner "github.com/deployq/deployq/runners/ssh"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// files writes a real client key and a known_hosts file, and returns
// their paths.
func files(t *testing.T) (key, known string) {
	t.Helper()
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key = filepath.Join(dir, "id_ed25519")
	os.WriteFile(key, pem.EncodeToMemory(block), 0o600)
	sshPub, _ := gossh.NewPublicKey(pub)
	known = filepath.Join(dir, "known_hosts")
	os.WriteFile(known, []byte(knownhosts.Line([]string{"web-1.internal"}, sshPub)+"\n"), 0o644)
	return key, known
}

func write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	os.WriteFile(p, []byte(text), 0o600)
	return p
}

// Validate checks the files a first deploy reads, the hosts, the
// placeholders and the canary, and says every problem at once.
func TestValidateFilesAndTemplates(t *testing.T) {
	key, known := files(t)
	good := func() sshrunner.Settings {
		return sshrunner.Settings{Hosts: []string{"web-1.internal", "deploy@web-2.internal:2222 role=canary"},
			KeyFiles: []string{key}, KnownHosts: known,
			Steps:    []sshrunner.Step{{Name: "install", Command: "deploy-app install {sha} $HOME ${DEPLOY_SHA}"}},
			Rollback: &sshrunner.Step{Name: "rollback", Command: "deploy-app install {previous_sha}"}}
	}
	ok := good()
	if err := ok.Validate(); err != nil {
		t.Fatalf("good settings: %v", err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := gossh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	locked := write(t, "id_locked", string(pem.EncodeToMemory(block)))
	garbage := write(t, "id", "-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n-----END OPENSSH PRIVATE KEY-----\n")
	badKnown := write(t, "known_hosts", "web-1.internal ssh-ed25519 AAAA-not-base64\n")
	inventory := write(t, "hosts", "# web\nweb-1.internal\nweb-2.internal:0\n")
	for _, c := range []struct {
		name  string
		tweak func(*sshrunner.Settings)
		want  string
	}{
		{"GarbageKey", func(s *sshrunner.Settings) { s.KeyFiles = []string{garbage} }, "key_files[0]: " + garbage + ": not a private key: ssh: no key found"},
		{"MissingKey", func(s *sshrunner.Settings) { s.KeyFiles = []string{"/nonexistent/id"} }, "key_files[0]: open /nonexistent/id: no such file or directory"},
		{"EncryptedKey", func(s *sshrunner.Settings) { s.KeyFiles = []string{locked} }, "key_files[0]: " + locked + " is encrypted: deployq needs an unencrypted key (or agent: true)"},
		{"GarbageKnownHosts", func(s *sshrunner.Settings) { s.KnownHosts = badKnown }, "known_hosts: knownhosts: " + badKnown + ":1: "},
		{"MissingKnownHosts", func(s *sshrunner.Settings) { s.KnownHosts = "/nonexistent/known_hosts" }, "known_hosts: open /nonexistent/known_hosts: no such file or directory"},
		{"PortOutOfRange", func(s *sshrunner.Settings) { s.Hosts = []string{"web-1.internal:99999"} },
			"hosts[0]: web-1.internal:99999: want [user@]host[:port] with a port of 1-65535"},
		{"BadLabel", func(s *sshrunner.Settings) { s.Hosts = []string{"web-1.internal role"} }, `hosts[0]: bad label "role" on web-1.internal`},
		{"InventoryLine", func(s *sshrunner.Settings) { s.Hosts, s.Inventory = nil, inventory },
			"inventory " + inventory + ":3: web-2.internal:0: want [user@]host[:port] with a port of 1-65535"},
		{"MissingInventory", func(s *sshrunner.Settings) { s.Hosts, s.Inventory = nil, "/nonexistent/hosts" }, "inventory: open /nonexistent/hosts: no such file or directory"},
		{"StepPlaceholder", func(s *sshrunner.Settings) { s.Steps[0].Command = "deploy-app install {branch}" },
			`step "install": unknown placeholder {branch}`},
		{"RollbackPlaceholder", func(s *sshrunner.Settings) { s.Rollback.Command = "deploy-app install {previous}" },
			`step "rollback": unknown placeholder {previous}`},
		{"CanaryZeroWithBake", func(s *sshrunner.Settings) { s.Canary, s.Bake = "0", 2*time.Minute },
			"canary 0 with bake 2m0s: there is no canary to bake (a rollout still starts with one host alone); set canary to 1 or more, or remove bake"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := good()
			c.tweak(&s)
			if err := s.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got  %v\nwant %s", err, c.want)
			}
		})
	}
	// a canary of 1 (or a label) with bake is what bake is for
	baked := good()
	baked.Canary, baked.Bake = "1", time.Minute
	if err := baked.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Every problem is its own error, joined: the config says each.
func TestValidateSaysEveryProblem(t *testing.T) {
	s := sshrunner.Settings{Hosts: []string{"web-1:70000"}, KnownHosts: "/nonexistent/known_hosts", Agent: true,
		Steps: []sshrunner.Step{{Name: "install", Command: "x {nope}"}, {Name: "verify"}}}
	err := s.Validate()
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("not joined: %v", err)
	}
	var got []string
	for _, e := range j.Unwrap() {
		got = append(got, e.Error())
	}
	want := []string{
		"hosts[0]: web-1:70000: want [user@]host[:port] with a port of 1-65535",
		"known_hosts: open /nonexistent/known_hosts: no such file or directory",
		`step "install": unknown placeholder {nope} (known: {app} {env} {sha} {short_sha} {ref} {previous_sha} {id} {user} {param.NAME})`,
		`step "verify" has no command`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Probe connects to every host and logs in, running nothing: a host
// whose key is known and that takes the key is ok; one whose key changed,
// one that is down and one that never answers each say why not.
func TestProbe(t *testing.T) {
	f := newFleet(t, 3)
	// host 1's line in known_hosts carries another key
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _ := gossh.NewPublicKey(other.Public())
	b, _ := os.ReadFile(f.KnownHosts)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	lines[1] = knownhosts.Line([]string{knownhosts.Normalize(f.Hosts[1].Name)}, otherPub)
	os.WriteFile(f.KnownHosts, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	f.Hosts[2].Stop()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // takes connections, never speaks
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	s := settings(f, func(s *sshrunner.Settings) { s.Hosts = append(s.Hosts, silent.Addr().String()) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var got []string
	s.Probe(ctx, func(what string, err error) {
		if err != nil {
			what += ": FAIL " + err.Error()
		}
		got = append(got, what)
	})
	if len(got) != 4 {
		t.Fatalf("%d reports: %q", len(got), got)
	}
	for i, want := range []string{
		"root@" + f.Hosts[0].Name + ": host key in known_hosts, login accepted",
		"root@" + f.Hosts[1].Name + ": FAIL host key changed: it does not match known_hosts",
		"root@" + f.Hosts[2].Name + ": FAIL dial tcp " + f.Hosts[2].Name + ": connect: connection refused",
		"root@" + silent.Addr().String() + ": FAIL no answer in time: " + context.DeadlineExceeded.Error(),
	} {
		if got[i] != want {
			t.Errorf("report %d:\n got %s\nwant %s", i, got[i], want)
		}
	}
}
