package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"time"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/git"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/shell"
	"github.com/deployq/deployq/store"
)

// apps is the configuration of the lanes the history was built for.
func (h *history) apps() []*queue.App {
	var apps []*queue.App
	for a := range h.o.apps {
		app := &queue.App{Name: fmt.Sprintf("app%03d", a), DefaultRef: "main"}
		for e := range h.o.envs {
			app.Environments = append(app.Environments, &queue.Environment{Name: fmt.Sprintf("env%d", e), Runner: "shell",
				Settings: &shell.Settings{Command: "true"}})
		}
		app.DefaultEnv = app.Environments[0].Name
		apps = append(apps, app)
	}
	return apps
}

// measurePages serves the API over the database, as deployq does, and
// times the dashboard's pages: what runs where, and a lane's history with
// each filter the dashboard offers.
func measurePages(ctx context.Context, o options, db string, h *history) error {
	st, err := store.Open(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	dir := filepath.Dir(db)
	svc, err := queue.New(h.apps(), queue.Options{Store: st, Runners: map[string]queue.Runner{"shell": shell.New(filepath.Join(dir, "ws"))},
		Resolver: git.NewResolver(filepath.Join(dir, "git"))})
	if err != nil {
		return err
	}
	start := time.Now()
	if err := svc.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("queue started on the history in %s\n", time.Since(start).Round(time.Millisecond))
	defer svc.Stop()
	srv := httptest.NewServer(api.New(api.Options{Service: svc, NoUI: true}))
	defer srv.Close()
	l := h.lanes[len(h.lanes)/2]
	for _, p := range []struct{ name, path string }{
		{"environments", "/api/v1/environments"},
		{"history", fmt.Sprintf("/api/v1/deploys?app=%s&env=%s&limit=200", l.app, l.env)},
		{"history, failed", fmt.Sprintf("/api/v1/deploys?app=%s&env=%s&state=failed&limit=200", l.app, l.env)},
		{"history, all lanes", "/api/v1/deploys?limit=200"},
		{"history, all lanes, failed", "/api/v1/deploys?state=failed,canceled&limit=200"},
	} {
		lat, size, err := timeGets(srv.URL+p.path, o.requests)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Printf("GET %-28s p50 %6.1f ms  p99 %6.1f ms  %s\n", p.name, lat[len(lat)/2], lat[len(lat)*99/100], kb(size))
	}
	return nil
}

// timeGets makes n GETs of url one after another and returns their
// latencies in ms, sorted, and the size of the answer.
func timeGets(url string, n int) ([]float64, int, error) {
	var lat []float64
	size := 0
	for range n {
		t := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			return nil, 0, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("%d %v: %.200s", resp.StatusCode, err, b)
		}
		lat = append(lat, float64(time.Since(t))/float64(time.Millisecond))
		size = len(b)
	}
	slices.Sort(lat)
	return lat, size, nil
}

func kb(n int) string { return fmt.Sprintf("%.0f kB", float64(n)/1e3) }
