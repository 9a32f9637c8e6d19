package slack

import (
	"context"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"
)

const identityTTL = 10 * time.Minute

// person is what deployq knows of a Slack user.
type person struct {
	id, name, email string
	at              time.Time
}

type directory struct {
	mu       sync.Mutex
	byID     map[string]*person
	byName   map[string]*person
	groups   map[string][]string // user id -> @handles
	groupsAt time.Time
}

func newDirectory() *directory {
	return &directory{byID: map[string]*person{}, byName: map[string]*person{}, groups: map[string][]string{}}
}

// userName returns the deployq user for a Slack user id: the workspace's
// unique user name, or the id when Slack cannot say.
func (a *Adapter) userName(ctx context.Context, id string) string {
	dir := a.dir
	dir.mu.Lock()
	p := dir.byID[id]
	dir.mu.Unlock()
	if p != nil && time.Since(p.at) < identityTTL {
		return p.name
	}
	u, err := a.api.GetUserInfoContext(ctx, id)
	if err != nil {
		a.log.Warn("slack: users.info", "user", id, "err", err)
		if p != nil {
			return p.name
		}
		return id
	}
	p = &person{id: id, name: u.Name, email: u.Profile.Email, at: time.Now()}
	if p.name == "" {
		p.name = id
	}
	dir.mu.Lock()
	dir.byID[id], dir.byName[strings.ToLower(p.name)] = p, p
	dir.mu.Unlock()
	return p.name
}

// Identify returns the Slack identities of a deployq user this adapter has
// seen: its Slack id, email and @group handles. It is the queue's
// Options.Identify for the deployers and lockers rules.
func (a *Adapter) Identify(ctx context.Context, name string) []string {
	dir := a.dir
	dir.mu.Lock()
	p := dir.byName[strings.ToLower(name)]
	stale := time.Since(dir.groupsAt) > identityTTL
	dir.mu.Unlock()
	if p == nil {
		return nil
	}
	if stale {
		a.loadGroups(ctx)
	}
	dir.mu.Lock()
	defer dir.mu.Unlock()
	ids := []string{p.id}
	if p.email != "" {
		ids = append(ids, p.email)
	}
	return append(ids, dir.groups[p.id]...)
}

func (a *Adapter) loadGroups(ctx context.Context) {
	gs, err := a.api.GetUserGroupsContext(ctx, slackgo.GetUserGroupsOptionIncludeUsers(true))
	if err != nil {
		a.log.Warn("slack: usergroups.list", "err", err)
		return
	}
	groups := map[string][]string{}
	for _, g := range gs {
		for _, u := range g.Users {
			groups[u] = append(groups[u], "@"+g.Handle)
		}
	}
	a.dir.mu.Lock()
	a.dir.groups, a.dir.groupsAt = groups, time.Now()
	a.dir.mu.Unlock()
}

// slackID returns the Slack id of a deployq user this adapter has seen.
func (a *Adapter) slackID(name string) string {
	a.dir.mu.Lock()
	defer a.dir.mu.Unlock()
	if p := a.dir.byName[strings.ToLower(name)]; p != nil {
		return p.id
	}
	return ""
}
