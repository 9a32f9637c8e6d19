package marathon_test

import (
	"testing"

	"github.com/deployq/deployq/queue"
)

// A dry run says, field by field, how the app's definition would change,
// and changes nothing.
func TestNoopSaysTheDefinitionDiff(t *testing.T) {
	m := simulator(t)
	seed(t, m, "/web", "registry.example.com/web:old", 2)
	e := start(t, m, settings(m, nil))
	d, err := e.Svc.Submit(e.Ctx, queue.Request{App: "web", Ref: sha1, User: "alice", Noop: true})
	if err != nil {
		t.Fatal(err)
	}
	d, log := e.wait(t, d)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s %q\n%s", d.State, d.Error, log)
	}
	contains(t, log, "dry run: /web would change:", `- container.docker.image: "registry.example.com/web:old"`,
		`+ container.docker.image: "registry.example.com/web:`+sha1+`"`, `+ labels.DEPLOYQ_SHA: "`+sha1+`"`)
	d, log = e.deploy(t, sha2) // the app was not changed by the dry run: the deploy changes it from old
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s\n%s", d.State, log)
	}
	contains(t, log, "/web: image registry.example.com/web:old -> registry.example.com/web:"+sha2)
}
