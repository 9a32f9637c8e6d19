package main

import (
	"context"
	"errors"
	"flag"
	"io"
)

// serve is the serve command: it opens Main and runs it until ctx ends (a
// signal) or the HTTP server fails, then closes it.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m := NewMain(stdout, stderr)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&m.ConfigPath, "config", "", "config file (default ./deployq.yaml; without one, a demo)")
	fs.StringVar(&m.Listen, "listen", "", "address to listen on, overriding server.listen (port 0: any free port)")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if err := m.Open(ctx); err != nil {
		return err
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-m.Err():
	}
	return errors.Join(err, m.Close())
}
