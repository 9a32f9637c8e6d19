package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/github"
	"github.com/deployq/deployq/queue"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	"github.com/deployq/deployq/runners/marathon"
	"github.com/deployq/deployq/runners/shell"
	sshrunner "github.com/deployq/deployq/runners/ssh"
)

// kinds are the runner kinds this build knows, with their settings types.
var kinds = config.Kinds{
	"shell":              func() any { return &shell.Settings{} },
	"ssh":                func() any { return &sshrunner.Settings{} },
	"kubernetes":         func() any { return &kuberunner.Settings{} },
	"marathon":           func() any { return &marathon.Settings{} },
	github.ActionsRunner: func() any { return &github.ActionsSettings{} },
}

// newRunners returns one runner of each kind (actions: the gate of
// Actions jobs, when there is one). The shell runner works in
// dataDir/workspaces; first it ends the process groups that deploys of a
// server that died left behind. The kubernetes runner starts a
// deployq-kubernetes process for each deploy; what it says on its stderr
// is logged.
func newRunners(dataDir string, killGrace time.Duration, actions *github.Actions, log *slog.Logger) map[string]queue.Runner {
	sh := shell.New(filepath.Join(dataDir, "workspaces"))
	if killGrace > 0 {
		sh.Grace = killGrace
	}
	if pgids := sh.Reap(); len(pgids) > 0 {
		log.Warn("ended process groups left by deploys of a server that died", "pgids", pgids)
	}
	runners := map[string]queue.Runner{
		"shell":      sh,
		"ssh":        sshrunner.New(func(msg string) { log.Warn(msg) }),
		"kubernetes": &kuberunner.Runner{Log: func(msg string) { log.Warn(msg) }},
		"marathon":   marathon.New(),
	}
	if actions != nil {
		runners[github.ActionsRunner] = actions
	}
	return runners
}

// missingRunner says what the config's runners lack on this machine: the
// kubernetes runner's deployq-kubernetes, when an environment uses it.
func missingRunner(cfg *config.Config) error {
	for _, a := range cfg.Apps {
		for _, e := range a.Environments {
			if e.Runner != "kubernetes" {
				continue
			}
			if _, err := kuberunner.Find(); err != nil {
				return fmt.Errorf("apps[%s].environments[%s]: %w", a.Name, e.Name, err)
			}
			return nil
		}
	}
	return nil
}
