package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// What the build says of itself, set with -ldflags: `make build` runs
//
//	go build -ldflags "-X main.version=$(git describe --tags --always --dirty)
//	  -X main.commit=$(git rev-parse HEAD) -X main.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
var (
	version string
	commit  string
	date    string
)

// buildInfo is which deployq this is.
type buildInfo struct {
	Version   string // a git describe, a module version, or "dev"
	Commit    string // the git commit, "-dirty" when built with changes; or "unknown"
	Date      string // when it was built, or "unknown"
	GoVersion string
}

// readBuild returns what -ldflags set; without it, the version is "dev"
// (or the module's version, for `go install ...@VERSION`) and the commit
// is the one the Go toolchain recorded when it built in a git checkout.
func readBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		vcs := map[string]string{}
		for _, s := range info.Settings {
			vcs[s.Key] = s.Value
		}
		if rev := vcs["vcs.revision"]; b.Commit == "" && rev != "" {
			b.Commit = rev
			if vcs["vcs.modified"] == "true" {
				b.Commit += "-dirty"
			}
		}
		// A module version is a release only when no checkout was built.
		if v := info.Main.Version; b.Version == "" && vcs["vcs.revision"] == "" && v != "" && v != "(devel)" {
			b.Version = v
		}
	}
	b.Version = cmp.Or(b.Version, "dev")
	b.Commit = cmp.Or(b.Commit, "unknown")
	b.Date = cmp.Or(b.Date, "unknown")
	return b
}

// printVersion is the version command.
func printVersion(_ context.Context, x *call) error {
	p, err := x.parse()
	if err != nil {
		return err
	}
	if err := p.noWords(); err != nil {
		return err
	}
	printBuild(x.stdout)
	return nil
}

// printBuild writes which deployq this is.
func printBuild(w io.Writer) {
	b := readBuild()
	fmt.Fprintf(w, "deployq %s\ncommit: %s\nbuilt:  %s\ngo:     %s %s/%s\n", b.Version, b.Commit, b.Date, b.GoVersion, runtime.GOOS, runtime.GOARCH)
}
