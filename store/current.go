package store

import (
	"sync"

	"github.com/deployq/deployq/queue"
)

// laneCurrents keeps what runs in each lane (the sha of its newest
// succeeded deploy that is no operation), read from the file once per
// lane and kept up to date by this Store's own writes: only this Store
// writes its file (one server), so a start learns it without a query.
type laneCurrents struct {
	mu    sync.Mutex
	known map[laneKey]laneCurrent
	// wrote counts the succeeded deploys this Store wrote per lane: a
	// read that one raced is not kept (the next read is).
	wrote map[laneKey]uint64
}

type laneKey struct{ app, env string }

type laneCurrent struct {
	id  int64
	sha string
}

func newLaneCurrents() *laneCurrents {
	return &laneCurrents{known: map[laneKey]laneCurrent{}, wrote: map[laneKey]uint64{}}
}

// get returns the lane's current sha if it is known, and else the count
// to give fill with what a read finds.
func (c *laneCurrents) get(app, env string) (sha string, known bool, version uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := laneKey{app, env}
	cur, ok := c.known[k]
	return cur.sha, ok, c.wrote[k]
}

// fill keeps what a read found (id 0: the lane has none) unless a
// succeeded deploy was written since version.
func (c *laneCurrents) fill(app, env string, version uint64, id int64, sha string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := laneKey{app, env}
	if c.wrote[k] != version {
		return
	}
	if cur, ok := c.known[k]; !ok || id > cur.id {
		c.known[k] = laneCurrent{id, sha}
	}
}

// stored hears of d as it was committed.
func (c *laneCurrents) stored(d *queue.Deploy) {
	if d.State != queue.StateSucceeded || d.Op != "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := laneKey{d.App, d.Env}
	c.wrote[k]++
	if cur, ok := c.known[k]; ok && d.ID > cur.id {
		c.known[k] = laneCurrent{d.ID, d.SHA}
	}
}
