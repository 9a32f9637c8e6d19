package slack

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
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
	byUser   map[string]*person  // deployq user (lower case) -> their Slack user
	groups   map[string][]string // user id -> @handles
	groupsAt time.Time
}

func newDirectory() *directory {
	return &directory{byID: map[string]*person{}, byUser: map[string]*person{}, groups: map[string][]string{}}
}

// lookup returns what Slack says of a user id (users.info), kept for
// identityTTL; the id stands for the name when Slack cannot say it.
func (a *Adapter) lookup(ctx context.Context, id string) *person {
	dir := a.dir
	dir.mu.Lock()
	p := dir.byID[id]
	dir.mu.Unlock()
	if p != nil && time.Since(p.at) < identityTTL {
		return p
	}
	u, err := a.api.GetUserInfoContext(ctx, id)
	if err != nil {
		a.log.Warn("slack: users.info", "user", id, "err", a.checked(err))
		if p != nil {
			return p
		}
		return &person{id: id, name: id}
	}
	p = &person{id: id, name: u.Name, email: u.Profile.Email, at: time.Now()}
	if p.name == "" {
		p.name = id
	}
	dir.mu.Lock()
	dir.byID[id] = p
	dir.mu.Unlock()
	return p
}

// who returns the deployq user of a Slack user id: the person of the
// config who lists the user (by id or user name), else "slack:<user
// name>" ("slack:<id>" when Slack cannot say the name), never a bare name
// that an API token or a GitHub login could also bear. A name deployq
// cannot keep (control or invisible characters, too long) is EInvalid.
func (a *Adapter) who(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", queue.Errorf(queue.EInvalid, "a command without a Slack user")
	}
	p := a.lookup(ctx, id)
	user, err := a.people.Who(queue.FromSlack, p.id)
	if err != nil || strings.Contains(user, ":") { // no person lists the id
		user, err = a.people.Who(queue.FromSlack, p.name)
	}
	if err != nil {
		return "", err
	}
	a.dir.mu.Lock()
	a.dir.byUser[strings.ToLower(user)] = p
	a.dir.mu.Unlock()
	return user, nil
}

// Identify returns the Slack identities of a deployq user this adapter has
// seen: its Slack id (bare and as slack:ID), email and @group handles. It
// is the queue's Options.Identify for the deployers and lockers rules.
func (a *Adapter) Identify(ctx context.Context, user string) []string {
	dir := a.dir
	dir.mu.Lock()
	p := dir.byUser[strings.ToLower(user)]
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
	ids := []string{p.id, queue.FromSlack + ":" + p.id}
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
func (a *Adapter) slackID(user string) string {
	a.dir.mu.Lock()
	defer a.dir.mu.Unlock()
	if p := a.dir.byUser[strings.ToLower(user)]; p != nil {
		return p.id
	}
	return ""
}
