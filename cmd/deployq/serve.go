package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
	m.Logger = newLogger(p.get("log-format"), x.stderr)
	if err := m.Open(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err = <-m.Err():
	}
	return errors.Join(err, m.Close())
}

// newLogger is the server's log on w, one record a line: "json" (one
// object a record, for a log collector), else text (key=value pairs).
func newLogger(format string, w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: slog.LevelInfo}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
