package main

import (
	"context"
	"errors"
)

// serve is the serve command: it opens Main and runs it until ctx ends (a
// signal) or the HTTP server fails, then closes it.
func serve(ctx context.Context, x *call) error {
	p, err := x.parse()
	if err != nil {
		return err
	}
	if err := p.noWords(); err != nil {
		return err
	}
	m := NewMain(x.stdout, x.stderr)
	m.ConfigPath, m.Listen = p.get("config"), p.get("listen")
	if err := m.Open(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err = <-m.Err():
	}
	return errors.Join(err, m.Close())
}
