package ssh_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/internal/sshfleet"
	"github.com/deployq/deployq/queue"
	sshrunner "github.com/deployq/deployq/runners/ssh"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

const sha1 = "1111111111111111111111111111111111111111"

var steps = []sshrunner.Step{
	{Name: "install", Command: `echo {sha} > "$HOSTDIR/version"; echo installed {app}`}, // placeholders, single-quoted
	{Name: "verify", Command: `[ ! -e "$HOSTDIR/broken" ] && [ "$(cat "$HOSTDIR/version")" = "$DEPLOY_SHA" ]`, Retries: 1},
}

func settings(f *sshfleet.Fleet, tweak func(*sshrunner.Settings)) *sshrunner.Settings {
	s := &sshrunner.Settings{Hosts: f.Names(), KeyFiles: []string{f.KeyFile}, KnownHosts: f.KnownHosts,
		Canary: "1", Batch: "25%", Parallel: 4, Steps: steps,
		Rollback: &sshrunner.Step{Name: "rollback", Command: `echo "back to [$DEPLOY_PREVIOUS_SHA]" > "$HOSTDIR/rolledback"`}}
	if tweak != nil {
		tweak(s)
	}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	return s
}

func deploy(t *testing.T, s *sshrunner.Settings, during func(*queuetest.Env, *queue.Deploy)) (*queue.Deploy, string) {
	t.Helper()
	env := &queue.Environment{Name: "production", Runner: "ssh", Settings: s}
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "production", Environments: []*queue.Environment{env}}},
		func(o *queue.Options) { o.Runners["ssh"] = sshrunner.New(nil) })
	d, err := q.Svc.Submit(q.Ctx, queue.Request{App: "web", Ref: sha1, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if during != nil {
		during(q, d)
	}
	return q.Follow(t, d.ID)
}

func TestTenHostsSucceed(t *testing.T) {
	f := newFleet(t, 10)
	d, log := deploy(t, settings(f, nil), nil)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	for _, h := range f.Hosts {
		if h.File("version") != sha1 {
			t.Errorf("%s has version %q", h.Name, h.File("version"))
		}
		if !strings.Contains(log, "["+h.Name+"] installed web") {
			t.Errorf("no output of %s", h.Name)
		}
	}
	if !strings.Contains(log, "rollout to 10 hosts in 4 batches (canary 1)") || strings.Count(log, " ok ") < 10 {
		t.Fatalf("log:\n%s", log)
	}
}

// The brake trips on a host whose install ran and whose verify failed:
// the rollback covers it as well as the hosts that finished; the host
// never connected to and the hosts after the brake are not touched.
func TestBrakeRollsBackEveryChangedHost(t *testing.T) {
	f := newFleet(t, 6)
	f.Hosts[1].Stop()
	os.WriteFile(filepath.Join(f.Hosts[3].Dir, "broken"), nil, 0o644)
	d, log := deploy(t, settings(f, func(s *sshrunner.Settings) { s.Batch, s.Parallel, s.MaxFailures = "1", 1, "1" }), nil)
	if d.State != queue.StateFailed || !strings.Contains(d.Error, "brake: 2 of 6 hosts failed ("+f.Hosts[1].Name+" at connect, "+f.Hosts[3].Name+" at verify)") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	for i, h := range f.Hosts {
		rolled := h.File("rolledback") != ""
		deployed := h.File("version") != ""
		switch {
		case i == 0 || i == 2 || i == 3:
			if !rolled || !deployed {
				t.Errorf("%s was changed: deployed %v, rolled back %v", h.Name, deployed, rolled)
			}
		case i > 3 && (rolled || deployed):
			t.Errorf("%s came after the brake: deployed %v, rolled back %v", h.Name, deployed, rolled)
		}
	}
	mustMatch(t, log, `brake: 2 failures \(more than 1\); rolling back 3 host\(s\)`)
	mustMatch(t, log, regexp.QuoteMeta(f.Hosts[3].Name)+` +rolled back +at verify: `)
	mustMatch(t, log, regexp.QuoteMeta(f.Hosts[1].Name)+` +unreachable +at connect: `)
	if n := strings.Count(log, "["+f.Hosts[1].Name+"] cannot connect"); n != 1 {
		t.Errorf("the unreachable host was tried %d times, want once:\n%s", n, log)
	}
	if !strings.Contains(log, "retrying verify (1/1)") {
		t.Fatalf("log:\n%s", log)
	}
}

func mustMatch(t *testing.T, log, pattern string) {
	t.Helper()
	if !regexp.MustCompile(pattern).MatchString(log) {
		t.Errorf("no line matches %q in the log:\n%s", pattern, log)
	}
}

func TestChangedHostKeyIsRefused(t *testing.T) {
	f := newFleet(t, 3)
	other := newFleet(t, 1)
	// host 1's entry in known_hosts carries another server's key
	b, _ := os.ReadFile(f.KnownHosts)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	ob, _ := os.ReadFile(other.KnownHosts)
	lines[1] = strings.Replace(strings.TrimSpace(string(ob)), other.Hosts[0].Name[len("127.0.0.1:"):], f.Hosts[1].Name[len("127.0.0.1:"):], 1)
	os.WriteFile(f.KnownHosts, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	d, log := deploy(t, settings(f, nil), nil)
	if d.State != queue.StateFailed || !strings.Contains(log, "["+f.Hosts[1].Name+"] refused: host key changed") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	if f.Hosts[1].File("version") != "" {
		t.Fatal("deployed to a host whose key changed")
	}
}

func TestUnreachableHost(t *testing.T) {
	f := newFleet(t, 4)
	f.Hosts[2].Stop()
	d, log := deploy(t, settings(f, func(s *sshrunner.Settings) { s.MaxFailures = "1" }), nil)
	if d.State != queue.StateSucceeded || !strings.Contains(log, "["+f.Hosts[2].Name+"] cannot connect") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	if !strings.Contains(log, "unreachable") {
		t.Fatalf("no unreachable host in the table:\n%s", log)
	}
}

func TestManualPauseThenContinue(t *testing.T) {
	f := newFleet(t, 3)
	d, log := deploy(t, settings(f, func(s *sshrunner.Settings) { s.Manual = true }), func(q *queuetest.Env, d *queue.Deploy) {
		waitPaused(t, q, d)
		if f.Hosts[0].File("version") != sha1 || f.Hosts[1].File("version") != "" {
			t.Errorf("paused with the wrong hosts done")
		}
		if _, err := q.Svc.Continue(q.Ctx, d.ID, "alice"); err != nil {
			t.Error(err)
		}
	})
	if d.State != queue.StateSucceeded || !strings.Contains(log, "continued by alice") {
		t.Fatalf("%s\n%s", d.State, log)
	}
}

func TestConcurrentOutputLosesNoLine(t *testing.T) {
	f := newFleet(t, 2)
	loud := []sshrunner.Step{{Name: "loud", Command: `i=0; while [ $i -lt 500 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done`}}
	d, log := deploy(t, settings(f, func(s *sshrunner.Settings) { s.Steps = loud }), nil)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s", d.State)
	}
	for _, h := range f.Hosts {
		for i := range 500 {
			for _, s := range []string{"out", "err"} {
				if !strings.Contains(log, fmt.Sprintf("[%s] %s %d\n", h.Name, s, i)) {
					t.Fatalf("%s lost %s %d", h.Name, s, i)
				}
			}
		}
	}
}

// Cancel in the middle of a batch: no new host starts, the running remote
// commands are ended, the deploy is canceled.
func TestCancelMidBatch(t *testing.T) {
	f := newFleet(t, 4)
	t.Cleanup(func() { killRemote(f) })
	slow := []sshrunner.Step{{Name: "slow", Command: `echo $$ > "$HOSTDIR/pid"; exec sleep 300`}}
	d, log := deploy(t, settings(f, func(s *sshrunner.Settings) { s.Steps, s.Canary, s.Batch = slow, "2", "2" }), func(q *queuetest.Env, d *queue.Deploy) {
		queuetest.Eventually(t, "the command started on both canary hosts", func() bool {
			return f.Hosts[0].File("pid") != "" && f.Hosts[1].File("pid") != ""
		})
		if _, err := q.Svc.Cancel(q.Ctx, d.ID, "bob"); err != nil {
			t.Error(err)
		}
	})
	if d.State != queue.StateCanceled {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	if f.Hosts[2].File("pid") != "" || f.Hosts[3].File("pid") != "" {
		t.Fatal("a host started after the cancel")
	}
	remoteEnded(t, f.Hosts[:2]...)
}

// Hosts from an inventory file; a server that refuses SetEnv still gets
// the DEPLOY_* values (as a quoted export prefix).
func TestInventoryAndEnvFallback(t *testing.T) {
	f := newFleet(t, 2, func(i int, cfg string) string {
		if i == 1 {
			return strings.Replace(cfg, "AcceptEnv DEPLOY_*\n", "", 1)
		}
		return cfg
	})
	inv := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(inv, []byte("# the web fleet\n"+f.Hosts[0].Name+"\n\nroot@"+f.Hosts[1].Name+"  # no AcceptEnv here\n"), 0o644)
	d, log := deploy(t, settings(f, func(s *sshrunner.Settings) { s.Hosts, s.Inventory = nil, inv }), nil)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	for _, h := range f.Hosts {
		if h.File("version") != sha1 {
			t.Errorf("%s has version %q", h.Name, h.File("version"))
		}
	}
}

// The canary passes its steps, then fails verify during the bake (the
// verify step passes once per host): the brake holds the rollout, and
// the canary is rolled back.
func TestBakeWatchesVerify(t *testing.T) {
	f := newFleet(t, 3)
	once := []sshrunner.Step{
		steps[0],
		{Name: "verify", Retries: 1, Command: `n=$(cat "$HOSTDIR/verified" 2>/dev/null || echo 0); echo $((n+1)) > "$HOSTDIR/verified"; [ "$n" = 0 ]`},
	}
	d, log := deploy(t, settings(f, func(s *sshrunner.Settings) { s.Steps, s.Bake = once, 600*time.Millisecond }), nil)
	if d.State != queue.StateFailed || !strings.Contains(d.Error, "brake: 1 of 3 hosts failed ("+f.Hosts[0].Name+" at bake: verify)") {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	if f.Hosts[0].File("rolledback") == "" || f.Hosts[1].File("version") != "" || f.Hosts[2].File("version") != "" {
		t.Fatalf("canary rolled back %q, others %q %q", f.Hosts[0].File("rolledback"), f.Hosts[1].File("version"), f.Hosts[2].File("version"))
	}
}

// Keys from an ssh-agent; hosts from a command.
func TestAgentAndHostsCommand(t *testing.T) {
	f := newFleet(t, 2)
	b, _ := os.ReadFile(f.KeyFile)
	key, err := gossh.ParseRawPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	keyring.Add(agent.AddedKey{PrivateKey: key})
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go agent.ServeAgent(keyring, c)
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
	d, log := deploy(t, settings(f, func(s *sshrunner.Settings) {
		s.KeyFiles, s.Agent = nil, true
		s.Hosts, s.HostsCommand = nil, fmt.Sprintf("printf '%%s\\n' %s %s", f.Hosts[0].Name, f.Hosts[1].Name)
	}), nil)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	for _, h := range f.Hosts {
		if h.File("version") != sha1 {
			t.Errorf("%s has version %q", h.Name, h.File("version"))
		}
	}
}

// Labels on inventory lines reach the steps; canary_label picks the canary.
func TestLabelsAndCanaryLabel(t *testing.T) {
	f := newFleet(t, 3)
	inv := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(inv, []byte(f.Hosts[0].Name+" role=web\n"+f.Hosts[1].Name+" role=canary zone=a\n"+f.Hosts[2].Name+" role=web\n"), 0o644)
	labelled := []sshrunner.Step{{Name: "install", Command: `echo "$DEPLOY_HOST_LABEL_ROLE $DEPLOY_HOST_LABEL_ZONE $DEPLOY_HOST" > "$HOSTDIR/labels"; echo "$DEPLOY_SHA" > "$HOSTDIR/version"`}}
	d, log := deploy(t, settings(f, func(s *sshrunner.Settings) {
		s.Hosts, s.Inventory, s.Steps, s.CanaryLabel, s.Manual = nil, inv, labelled, "role=canary", true
	}), func(q *queuetest.Env, d *queue.Deploy) {
		waitPaused(t, q, d)
		if f.Hosts[1].File("version") != sha1 || f.Hosts[0].File("version") != "" || f.Hosts[2].File("version") != "" {
			t.Errorf("the canary was not the labelled host")
		}
		q.Svc.Continue(q.Ctx, d.ID, "alice")
	})
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	if got := f.Hosts[1].File("labels"); got != "canary a "+f.Hosts[1].Name {
		t.Fatalf("labels on the canary: %q", got)
	}
	if got := f.Hosts[0].File("labels"); got != "web  "+f.Hosts[0].Name {
		t.Fatalf("labels on a web host: %q", got)
	}
}

// waitPaused waits until the deploy is paused, waiting to be continued.
func waitPaused(t *testing.T, q *queuetest.Env, d *queue.Deploy) {
	t.Helper()
	queuetest.Eventually(t, fmt.Sprintf("deploy #%d paused", d.ID), func() bool {
		if p := q.Svc.View(d).Progress; p != nil && p.Phase == queue.PhasePaused {
			return true
		}
		if now, err := q.Svc.Deploy(q.Ctx, d.ID); err == nil && now.State.Terminal() {
			t.Fatalf("deploy #%d ended %s (%q) without a pause", d.ID, now.State, now.Error)
		}
		return false
	})
}
