package main

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/deployq/deployq/queue"
)

//go:embed init.yaml.tmpl
var starterText string

var starter = template.Must(template.New("deployq.yaml").Funcs(template.FuncMap{"quote": yamlQuote}).Parse(starterText))

// yamlQuote is s as a double-quoted YAML scalar that config reads back as
// s: a literal ${ is written $${, else it would be read from the
// environment.
func yamlQuote(s string) string { return strconv.Quote(strings.ReplaceAll(s, "${", "$${")) }

// runnerKinds are the runners `deployq init` writes a starter for.
func runnerKinds() []string { return []string{"shell", "ssh", "kubernetes", "marathon"} }

// repoRe is a GitHub owner/name.
var repoRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$`)

// starterConfig is what the starter config is written from.
type starterConfig struct {
	App, Repo, Runner string
	Git               string // where refs resolve
	KnownHosts        string // the ssh runner's known_hosts, next to the config
	Envs              []string
}

// initConfig is the init command: it writes a commented starter config
// that check-config passes as written, and refuses to overwrite a file
// without --force.
func initConfig(_ context.Context, x *call) error {
	p, err := x.parse()
	if err != nil {
		return err
	}
	if err := p.noWords(); err != nil {
		return err
	}
	path := cmp.Or(p.get("config"), defaultConfig)
	known, err := filepath.Abs(filepath.Join(filepath.Dir(path), "known_hosts")) // wherever the server is started from
	if err != nil {
		return err
	}
	sc := starterConfig{App: cmp.Or(p.get("app"), "web"), Repo: p.get("repo"), Runner: cmp.Or(p.get("runner"), "shell"),
		KnownHosts: known, Envs: []string{"staging", "production"}}
	if !queue.ValidName(sc.App) {
		return usageError{msg: fmt.Sprintf("--app: want a name of lower-case letters, digits, '-', '_' or '.', got %q", sc.App)}
	}
	if sc.Repo != "" && !repoRe.MatchString(sc.Repo) {
		return usageError{msg: fmt.Sprintf("--repo: want a GitHub owner/name, got %q", sc.Repo)}
	}
	switch sc.Git = p.get("git"); {
	case sc.Git == "" && sc.Repo != "":
		sc.Git = "https://github.com/" + sc.Repo + ".git"
	case sc.Git == "":
		sc.Git = "https://git.example.com/" + sc.App + ".git"
	}
	var text bytes.Buffer
	if err := starter.Execute(&text, sc); err != nil {
		return err
	}
	if err := writeNew(path, text.Bytes(), p.on("force")); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: --force overwrites it", path)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "wrote %s: app %s, runner %s, environments staging and production\n", path, sc.App, sc.Runner)
	if sc.Runner == "ssh" {
		err := writeNew(sc.KnownHosts, nil, false)
		switch {
		case err == nil:
			fmt.Fprintf(x.stdout, "wrote %s, empty: add your hosts' keys (ssh-keyscan HOST >> %s)\n", sc.KnownHosts, sc.KnownHosts)
		case !errors.Is(err, fs.ErrExist):
			return err
		}
	}
	fmt.Fprintf(x.stdout, "edit it, check it with `deployq check-config --config %s`, then `deployq serve --config %s`\n", path, path)
	return nil
}

// writeNew writes a file that must not exist, unless overwrite.
func writeNew(path string, data []byte, overwrite bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if overwrite {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}
