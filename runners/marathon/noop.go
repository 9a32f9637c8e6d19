package marathon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
)

// Noop implements queue.Rehearser: for the canary and each app, the
// difference between its definition in Marathon and the one the deploy
// would PUT, field by field; nothing is changed.
func (r *Runner) Noop(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	st, ok := job.Settings.(*Settings)
	if !ok {
		return queue.Result{}, fmt.Errorf("marathon runner: settings are %T", job.Settings)
	}
	c, err := r.client(st)
	if err != nil {
		return queue.Result{}, err
	}
	image, err := runners.ExpandPlain(st.Image, runners.Placeholders(job))
	if err != nil {
		return queue.Result{}, err
	}
	w := out.Stream(queue.StreamStdout, "")
	defer w.Close()
	type target struct {
		id        string
		instances *int
	}
	var targets []target
	if cn := st.Canary; cn != nil {
		n := max(cn.Instances, 1)
		targets = append(targets, target{cn.AppID, &n})
	}
	for _, id := range st.AppID {
		targets = append(targets, target{id: id})
	}
	for _, t := range targets {
		def, _, err := c.GetApp(ctx, t.id)
		if err != nil {
			return queue.Result{}, fmt.Errorf("%s: %v", t.id, notFound(err, t.id))
		}
		if def.Container == nil || def.Container.Docker == nil {
			return queue.Result{Message: fmt.Sprintf("%s has no docker container whose image could be set", t.id)}, nil
		}
		fmt.Fprintf(w, "dry run: %s would change:\n", t.id)
		if err := diff(w, def, desired(def, job, image, t.instances)); err != nil {
			return queue.Result{}, err
		}
	}
	return queue.Result{OK: true}, nil
}

// diff writes the fields of the definitions a and b that differ, as
// "- path: a's" and "+ path: b's", in the order of their paths.
func diff(w io.Writer, a, b *AppDefinition) error {
	fa, err := flat(a)
	if err != nil {
		return err
	}
	fb, err := flat(b)
	if err != nil {
		return err
	}
	lines := runners.Changes(fa, fb)
	if len(lines) == 0 {
		lines = []string{"  nothing"}
	}
	_, err = fmt.Fprintln(w, strings.Join(lines, "\n"))
	return err
}

// flat is a definition's JSON as path -> value (JSON text) of its leaves.
func flat(d *AppDefinition) (map[string]string, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(join(path, k), e)
			}
		case []any:
			for i, e := range x {
				walk(join(path, strconv.Itoa(i)), e)
			}
		default:
			j, _ := json.Marshal(x)
			out[path] = string(j)
		}
	}
	walk("", v)
	return out, nil
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}
