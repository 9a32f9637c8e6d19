package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/deployq/deployq/config"
)

// defaultConfig is used when --config is not given and it exists.
const defaultConfig = "deployq.yaml"

// loadConfig reads the config at path, or at defaultConfig when path is
// empty; with neither (no path, no defaultConfig) it returns nil.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat(defaultConfig); err != nil {
			return nil, nil
		}
		path = defaultConfig
	}
	return config.Load(path, kinds)
}

// checkConfig is the check-config command: it validates a config file
// without starting anything.
func checkConfig(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	path := fs.String("config", "", "config file (default ./deployq.yaml)")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if *path == "" {
		*path = defaultConfig
	}
	cfg, err := config.Load(*path, kinds)
	if err != nil {
		return err
	}
	envs := 0
	for _, a := range cfg.Apps {
		envs += len(a.Environments)
	}
	fmt.Fprintf(stdout, "%s: ok, %d apps, %d environments\n", cfg.File, len(cfg.Apps), envs)
	return nil
}
