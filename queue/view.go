package queue

import "context"

// EnvStatus is what runs where: one app in one environment.
type EnvStatus struct {
	App, Env string
	Current  *Deploy   // newest succeeded
	Running  *Deploy   // nil when nothing runs
	Progress *Progress // of the running deploy, if it reported any
	Last     *Deploy   // newest of any state
	Queued   int
	Waiting  int
	Lock     *Lock  // the lock that holds this app in this env: app scope first
	Freeze   string // what freezes the env now ("" if nothing)
	Repo     string // the app's repo
}

// viewer composes what adapters show from the owners of each part; it
// reads memory only, but for the one Lanes query of the environments.
type viewer struct {
	cat       *catalog
	store     Store
	runs      *runs
	locks     *lockTable
	freezes   *freezeBook
	approvals *approvalDesk
	board     *board
}

func (v *viewer) view(d *Deploy) DeployView {
	d = v.runs.overlay(d)
	out := DeployView{Deploy: d}
	if d == nil {
		return out
	}
	if app, _, err := v.cat.lookup(d.App, d.Env); err == nil {
		out.Repo = app.Repo
	}
	out.Progress = v.runs.progressOf(d.ID) // only a running deploy has any
	if d.State == StateWaiting {
		out.Waiting = d.Waiting
		out.NeedsApproval = v.approvals.needs(d)
	}
	return out
}

// environments is the status of every configured app+env, in config
// order, from memory.
func (v *viewer) environments(ctx context.Context) ([]EnvStatus, error) {
	locks := map[scope]*Lock{}
	for _, l := range v.locks.live() {
		locks[scope{l.Env, l.App}] = l
	}
	var out []EnvStatus
	v.cat.each(func(a *App, e *Environment) { out = append(out, v.status(a, e, locks)) })
	return out, nil
}

// environment is the status of one app in one environment.
func (v *viewer) environment(appName, envName string) (EnvStatus, error) {
	a, e, err := v.cat.lookup(appName, envName)
	if err != nil {
		return EnvStatus{}, err
	}
	locks := map[scope]*Lock{}
	for _, k := range []scope{{e.Name, a.Name}, {e.Name, ""}} {
		if l := v.locks.current(k); l != nil {
			c := *l
			locks[k] = &c
		}
	}
	return v.status(a, e, locks), nil
}

func (v *viewer) status(a *App, e *Environment, locks map[scope]*Lock) EnvStatus {
	sum := v.board.snapshot(laneKey{a.Name, e.Name})
	st := EnvStatus{App: a.Name, Env: e.Name, Current: sum.Current, Running: v.runs.overlay(sum.Running),
		Last: v.runs.overlay(sum.Last), Queued: sum.Queued, Waiting: sum.Waiting, Freeze: v.freezes.status(e), Repo: a.Repo}
	if st.Running != nil && !st.Running.State.Holds() {
		st.Running = nil // it ended; its end is being stored
	}
	st.Lock = locks[scope{e.Name, a.Name}]
	if st.Lock == nil {
		st.Lock = locks[scope{e.Name, ""}]
	}
	if st.Running != nil {
		st.Progress = v.runs.progressOf(st.Running.ID)
	}
	return st
}
