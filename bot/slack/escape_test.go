package slack_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/deployq/deployq/queue"
)

// loggedText is the text of the message in the fixture's log line: a
// message as Slack sent it, its & escaped as &amp;.
func loggedText(t testing.TB) string {
	t.Helper()
	var line struct{ Data string }
	var msg struct{ Text string }
	if err := json.Unmarshal(fixture(t, "rtm.message.escaped-ampersand.log.json"), &line); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(line.Data), &msg); err != nil {
		t.Fatal(err)
	}
	return msg.Text
}

// Slack sends &, < and > as &amp;, &lt; and &gt;: deployq keeps what was
// typed, and shows it back escaped once.
func TestSlackEscapesAreUndone(t *testing.T) {
	e := start(t, "socket", "true", nil)
	c := e.fake.conn()
	lock := func() *queue.Lock {
		var locks []*queue.Lock
		e.fake.waitFor(t, "the lock", func() bool {
			locks, _ = e.svc.Locks(t.Context())
			return len(locks) == 1
		})
		return locks[0]
	}

	sent := loggedText(t)
	if !strings.Contains(sent, "(&amp;(") {
		t.Fatalf("the fixture's text %q has no escaped &", sent)
	}
	e.say(t, c, "U222", "lock staging: "+sent)
	typed := "!u -ldapfilter ‘(&(samaccountname=wframe)(samaccountname=wframe))’"
	if l := lock(); l.Reason != typed {
		t.Fatalf("kept %q, want %q", l.Reason, typed)
	}
	want := "is locked by slack:U222: !u -ldapfilter ‘(&amp;(samaccountname=wframe)(samaccountname=wframe))’"
	e.fake.waitFor(t, "the card, escaped once", func() bool {
		for _, p := range e.fake.callsOf("chat.postMessage") {
			var blocks any
			json.Unmarshal([]byte(blocksOf(p)), &blocks)
			shown := false
			walkTexts(blocks, func(s string) { shown = shown || strings.HasSuffix(s, want) })
			if shown {
				return true
			}
		}
		return false
	})
	e.say(t, c, "U222", "unlock staging")
	e.fake.waitFor(t, "the unlock", func() bool {
		locks, _ := e.svc.Locks(t.Context())
		return len(locks) == 0
	})

	// /deploy's text is escaped the same way.
	slash := withValue(t, fixture(t, "socket-mode.slash_commands.json"), "lock staging: db &amp; cache &lt;primary&gt;", "payload", "text")
	send(t, e.fake, c, slash)
	if l := lock(); l.Reason != "db & cache <primary>" {
		t.Fatalf("kept %q from /deploy", l.Reason)
	}
}
