package slack_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot/slack"
)

// lockState is a lock form's state.
func lockState(env, app, reason, duration string) values {
	return values{
		"lock_env":    {"deployq_lock_env": chose(env)},
		"lock_app":    {"deployq_lock_app": chose(app)},
		"lock_reason": {"deployq_lock_reason": wrote(reason)},
		"lock_for":    {"deployq_lock_for": chose(duration)},
	}
}

// /deploy lock alone opens the lock form; a submission is checked field
// by field, and carried out as the typed lock: the same rules, the lock's
// card where the form was opened.
func TestLockForm(t *testing.T) {
	e := startApps(t, "socket", "true", nil, nil, formApps)
	c := e.fake.conn()
	raw := withValue(t, fixture(t, "socket-mode.slash_commands.json"), "lock", "payload", "text")
	send(t, e.fake, c, raw)
	opened := e.fake.nthView(t, "views.open", 1)
	if opened.View.CallbackID != slack.CallbackLock || opened.View.PrivateMetadata != "C111" ||
		!slices.Equal(opened.blockIDs(), []string{"lock_env", "lock_app", "lock_reason", "lock_for"}) {
		t.Fatalf("opened %s", opened.raw)
	}

	for _, tc := range []struct {
		name  string
		state values
		want  map[string]string
	}{
		{"ErrNoReason", lockState("production", "web", " \n ", "2h"),
			map[string]string{"lock_reason": "Say why: others see it when their deploy is refused"}},
		{"ErrLongReason", lockState("production", "web", strings.Repeat("x", 501), "2h"),
			map[string]string{"lock_reason": "the reason is too long (501 characters; at most 500)"}},
		{"ErrAppNotThere", lockState("production", "api", "release", "2h"),
			map[string]string{"lock_app": "api is not deployed to production"}},
		{"ErrDuration", lockState("production", "web", "release", "3w"),
			map[string]string{"lock_for": "Choose how long"}},
		{"ErrNoEnv", lockState("", "*", "release", "2h"),
			map[string]string{"lock_env": "Choose an environment"}},
		{"ErrUnknownEnv", lockState("qa", "*", "release", "2h"),
			map[string]string{"lock_env": `unknown environment "qa"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.submit(t, c, "U111", slack.CallbackLock, "C111", tc.state); !maps.Equal(got, tc.want) {
				t.Errorf("errors %q, want %q", got, tc.want)
			}
		})
	}
	if locks, _ := e.svc.Locks(t.Context()); len(locks) != 0 {
		t.Fatalf("locks from refused forms: %v", locks)
	}

	if errs := e.submit(t, c, "U111", slack.CallbackLock, "C111", lockState("production", "web", "db migration\nstep 2", "2h")); errs != nil {
		t.Fatalf("refused: %v", errs)
	}
	locks, _ := e.svc.Locks(t.Context())
	if len(locks) != 1 || locks[0].Scope() != "web in production" || locks[0].Owner != "slack:U111" ||
		locks[0].Reason != "db migration step 2" || locks[0].ExpiresAt.Sub(locks[0].CreatedAt) != 2*time.Hour {
		t.Fatalf("locks %+v", locks)
	}
	e.fake.waitFor(t, "the lock's card in C111", func() bool {
		return slices.ContainsFunc(e.fake.callsOf("chat.postMessage"), func(p call) bool {
			return p.Form.Get("channel") == "C111" && strings.Contains(blocksOf(p), "is locked by slack:U111: db migration step 2")
		})
	})

	// someone else's lock is refused as the typed command is
	got := e.submit(t, c, "U222", slack.CallbackLock, "C111", lockState("production", "web", "mine now", "0"))
	if len(got) != 1 || !strings.HasPrefix(got["lock_env"], "web in production is locked by slack:U111") {
		t.Fatalf("errors %q", got)
	}
}
