package main

import (
	"log/slog"
	"path/filepath"
	"time"

	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/queue"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
	"github.com/deployq/deployq/runners/marathon"
	"github.com/deployq/deployq/runners/shell"
	sshrunner "github.com/deployq/deployq/runners/ssh"
)

// kinds are the runner kinds this build knows, with their settings types.
var kinds = config.Kinds{
	"shell":      func() any { return &shell.Settings{} },
	"ssh":        func() any { return &sshrunner.Settings{} },
	"kubernetes": func() any { return &kuberunner.Settings{} },
	"marathon":   func() any { return &marathon.Settings{} },
}

// newRunners returns one runner of each kind. The shell runner works in
// dataDir/workspaces; first it ends the process groups that deploys of a
// server that died left behind.
func newRunners(dataDir string, killGrace time.Duration, log *slog.Logger) map[string]queue.Runner {
	sh := shell.New(filepath.Join(dataDir, "workspaces"))
	if killGrace > 0 {
		sh.Grace = killGrace
	}
	if pgids := sh.Reap(); len(pgids) > 0 {
		log.Warn("ended process groups left by deploys of a server that died", "pgids", pgids)
	}
	return map[string]queue.Runner{
		"shell":      sh,
		"ssh":        sshrunner.New(func(msg string) { log.Warn(msg) }),
		"kubernetes": kuberunner.New(),
		"marathon":   marathon.New(),
	}
}
