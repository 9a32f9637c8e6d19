package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// shell returns the path of a shell, or skips the test without it
// (fails with DEPLOYQ_SHELLS_REQUIRED set: `make test` installs them).
func shell(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("DEPLOYQ_SHELLS_REQUIRED") != "" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, name)
	}
	return path
}

// script writes `deployq completion SHELL` to a file and returns its path.
func completionScript(t *testing.T, sh string) string {
	t.Helper()
	out, code := run(t, t.TempDir(), "completion", sh)
	if code != 0 {
		t.Fatalf("completion %s: exit %d\n%s", sh, code, out)
	}
	for _, c := range commands(t) {
		if !strings.Contains(out, c) {
			t.Fatalf("the %s script lacks %s", sh, c)
		}
	}
	path := filepath.Join(t.TempDir(), "deployq."+sh)
	os.WriteFile(path, []byte(out), 0o644)
	return path
}

// shellOut runs a shell script; it fails the test if the shell does.
func shellOut(t *testing.T, sh string, args ...string) string {
	t.Helper()
	out, err := exec.Command(sh, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", sh, args, err, out)
	}
	return string(out)
}

// The bash script parses, and completes commands, their flags and the
// flags' values, also after global flags.
func TestCompletionBash(t *testing.T) {
	bash := shell(t, "bash")
	path := completionScript(t, "bash")
	shellOut(t, bash, "-n", path)
	cases := []struct {
		line string // COMP_WORDS; the last one is completed
		want string
	}{
		{"deployq dep", "deploy"},
		{"deployq un", "unlock unfreeze unmark"},
		{"deployq --server http://127.0.0.1:9 deploy --fo", "--force --follow"},
		{"deployq init --runner ''", "shell ssh kubernetes marathon"},
		{"deployq serve --log-format ''", "text json"},
		{"deployq completion ''", "bash zsh fish"},
		{"deployq history --", "--limit --server --token --help"},
		{"deployq history ''", ""},
	}
	for _, c := range cases {
		words := strings.Fields(c.line)
		got := shellOut(t, bash, "-c", "source "+path+"; COMP_WORDS=("+c.line+"); COMP_CWORD="+
			strconv.Itoa(len(words)-1)+`; _deployq; echo "${COMPREPLY[*]}"`)
		if strings.TrimSpace(got) != c.want {
			t.Errorf("%s<TAB>: %q, want %q", c.line, strings.TrimSpace(got), c.want)
		}
	}
}

// The zsh script parses, and registers itself for deployq.
func TestCompletionZsh(t *testing.T) {
	zsh := shell(t, "zsh")
	path := completionScript(t, "zsh")
	shellOut(t, zsh, "-n", path)
	got := shellOut(t, zsh, "-f", "-c", "autoload -U compinit; compinit -u -D; source "+path+"; print -r -- $_comps[deployq]")
	if strings.TrimSpace(got) != "_deployq" {
		t.Fatalf("deployq completes with %q", got)
	}
}

// The fish script parses, and completes commands, flags and values.
func TestCompletionFish(t *testing.T) {
	fish := shell(t, "fish")
	path := completionScript(t, "fish")
	shellOut(t, fish, "-n", path)
	cases := []struct{ line, want string }{
		{"deployq dep", "deploy"},
		{"deployq logs --fo", "--follow"},
		{"deployq init --runner ", "kubernetes marathon shell ssh"},
		{"deployq completion ", "bash fish zsh"},
	}
	for _, c := range cases {
		out := shellOut(t, fish, "-c", "source "+path+"; complete -C '"+c.line+"'")
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			got = append(got, strings.SplitN(line, "\t", 2)[0])
		}
		slices.Sort(got)
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s<TAB>: %q, want %q", c.line, got, c.want)
		}
	}
}

func TestCompletionRefusesOtherShells(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}} {
		if out, code := run(t, t.TempDir(), args...); code != 2 || !strings.Contains(out, "usage: deployq completion bash|zsh|fish") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
}
