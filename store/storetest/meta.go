package storetest

import (
	"testing"

	"github.com/deployq/deployq/queue"
)

// metaCases: values adapters attach to deploys.
var metaCases = []testCase{
	// An unset key reads "".
	{"Unset", func(t *testing.T, s queue.Store) {
		d := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		wantMeta(t, s, d.ID, "slack.message", "")
	}},
	// A value is kept per deploy and key; setting it again replaces it.
	{"SetAndReplace", func(t *testing.T, s queue.Store) {
		ctx := t.Context()
		a := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		b := create(t, s, newDeploy("web", "prod", queue.StateQueued))
		for _, m := range []struct {
			id         int64
			key, value string
		}{
			{a.ID, "slack.message", "C024BE91L/1712345678.000100"},
			{a.ID, queue.MetaAuthorEmail, "zoë@example.com"},
			{b.ID, "slack.message", "C024BE91L/1712345699.000200"},
		} {
			if err := s.SetMeta(ctx, m.id, m.key, m.value); err != nil {
				t.Fatal(err)
			}
		}
		wantMeta(t, s, a.ID, "slack.message", "C024BE91L/1712345678.000100")
		wantMeta(t, s, a.ID, queue.MetaAuthorEmail, "zoë@example.com")
		wantMeta(t, s, b.ID, "slack.message", "C024BE91L/1712345699.000200")
		wantMeta(t, s, b.ID, queue.MetaAuthorEmail, "")
		if err := s.SetMeta(ctx, a.ID, "slack.message", "C024BE91L/1712349999.000300"); err != nil {
			t.Fatal(err)
		}
		wantMeta(t, s, a.ID, "slack.message", "C024BE91L/1712349999.000300")
		wantMeta(t, s, b.ID, "slack.message", "C024BE91L/1712345699.000200")
	}},
}

func wantMeta(t *testing.T, s queue.Store, id int64, key, want string) {
	t.Helper()
	if got, err := s.Meta(t.Context(), id, key); err != nil || got != want {
		t.Fatalf("meta %s of #%d: %q, %v; want %q", key, id, got, err, want)
	}
}
