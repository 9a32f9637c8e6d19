package slack_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/internal/gittest"
	"github.com/deployq/deployq/queue"
	"github.com/gorilla/websocket"
)

// /deploy alone (the fixture as it is) opens the deploy form in time; its
// preview follows; choosing another environment shows that environment's
// parameters; a submission is checked field by field, and carried out as
// the typed command.
func TestDeployFormOverSocketMode(t *testing.T) {
	e := startApps(t, "socket", "true", nil, nil, formApps)
	c := e.fake.conn()
	send(t, e.fake, c, fixture(t, "socket-mode.slash_commands.json"))
	if p := e.fake.ackPayload("1d3c79ab-0ffb-41f3-a080-d19e85f53649"); len(p) != 0 {
		t.Errorf("the ack of /deploy says %s; the form answers", p)
	}
	opened := e.fake.nthView(t, "views.open", 1)
	if opened.TriggerID != "111.222.xxx" || opened.View.CallbackID != slack.CallbackDeploy || opened.View.PrivateMetadata != "C111" ||
		!slices.Equal(opened.blockIDs(), []string{"app", "env:web", "ref:web", "preview"}) || !contains(opened, `"action_id":"deployq_form_ref","initial_option":{"text":{"type":"plain_text","text":"main","emoji":false},"value":"main"},"min_query_length":0`) {
		t.Fatalf("opened %s", opened.raw)
	}
	if contains(opened, `"value":"api"`) || !contains(opened, `"value":"web"`) {
		t.Errorf("the form offers an app whose environments the user may not deploy to (api), or not web:\n%s", opened.raw)
	}

	// the preview, on the view Slack opened (the fixture's answer)
	preview := e.fake.nthView(t, "views.update", 1)
	if preview.ViewID != "VMHU10V25" || preview.Hash != "156772938.1827394" ||
		!contains(preview, `web has no git URL to resolve \"main\": give a full 40-hex sha`) {
		t.Fatalf("preview %s", preview.raw)
	}

	// production: its parameters, and what a deploy of sha brings there
	state := deployState("web", "production", sha, nil)
	send(t, e.fake, c, viewAction(t, "U111", "V0FORM", "1655863316.uFehmGP0", "C111", state, slack.ActionFormEnv, "env:web", "production"))
	changed := e.fake.nthView(t, "views.update", 2)
	want := []string{"app", "env:web", "ref:web", "param:web:production:migrate", "param:web:production:region",
		"param:web:production:replicas", "param:web:production:note", "preview"}
	if changed.ViewID != "V0FORM" || changed.Hash != "1655863316.uFehmGP0" || !slices.Equal(changed.blockIDs(), want) ||
		!contains(changed, "Nothing ran in production yet → `1111111`") {
		t.Fatalf("after choosing production: %v %s", changed.blockIDs(), changed.raw)
	}

	region := map[string]map[string]any{"region": chose("eu"), "migrate": ticked()}
	for _, tc := range []struct {
		name  string
		state values
		want  map[string]string
	}{
		{"ErrRef", deployState("web", "production", "no-such-branch", region),
			map[string]string{"ref:web": `web has no git URL to resolve "no-such-branch": give a full 40-hex sha`}},
		{"ErrRefSyntax", deployState("web", "production", "$(id)", region),
			map[string]string{"ref:web": "Not a ref: use a branch, a tag or a sha"}},
		{"ErrParam", deployState("web", "production", sha, map[string]map[string]any{"region": chose("eu"), "replicas": wrote("many")}),
			map[string]string{"param:web:production:replicas": `parameter replicas: want a whole number, got "many"`}},
		{"ErrRequired", deployState("web", "production", sha, nil),
			map[string]string{"param:web:production:region": "region is required in production"}},
		{"ErrRule", deployState("api", "staging", sha, nil),
			map[string]string{"env:api": "slack:U111 may not deploy api in staging (deployers: nobody)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.submit(t, c, "U111", slack.CallbackDeploy, "C111", tc.state); !maps.Equal(got, tc.want) {
				t.Errorf("errors %q, want %q", got, tc.want)
			}
		})
	}
	if n := len(e.deploys(t)); n != 0 {
		t.Fatalf("%d deploys from refused forms", n)
	}

	// accepted: the form closes, and the deploy is the typed command's
	params := map[string]map[string]any{"region": chose("eu"), "migrate": ticked("true"), "note": wrote("from the form")}
	if errs := e.submit(t, c, "U111", slack.CallbackDeploy, "C111", deployState("web", "production", sha, params)); errs != nil {
		t.Fatalf("refused: %v", errs)
	}
	form := e.waitDeploy(t, e.deploys(t)[0].ID)
	typed := e.slash(t, c, "web@"+sha+" to production with region=eu migrate=true note=from")
	if form.State != queue.StateSucceeded || typed.State != queue.StateSucceeded {
		t.Fatalf("form %s %q, typed %s %q", form.State, form.Error, typed.State, typed.Error)
	}
	if form.App != typed.App || form.Env != typed.Env || form.Ref != typed.Ref || form.User != typed.User ||
		form.Source != typed.Source || form.ChatThread != typed.ChatThread || form.Force != typed.Force {
		t.Errorf("from the form:\n%+v\ntyped:\n%+v", form, typed)
	}
	if p, _ := e.svc.Meta(context.Background(), form.ID, queue.MetaParams); p != `{"migrate":"true","note":"from the form","region":"eu"}` {
		t.Errorf("parameters kept: %s", p)
	}
	// its message, where /deploy was typed
	e.fake.waitFor(t, "the deploy's message in C111", func() bool {
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if p.Form.Get("channel") == "C111" && strings.Contains(blocksOf(p), "*web* to *production*") {
				return true
			}
		}
		return false
	})
}

// slash types /deploy text over Socket Mode (the fixture with that text
// and a trigger of its own) and returns the deploy it made, ended.
func (e *env) slash(t testing.TB, c *websocket.Conn, text string) *queue.Deploy {
	t.Helper()
	e.sent++
	n := len(e.deploys(t))
	raw := withValue(t, fixture(t, "socket-mode.slash_commands.json"), text, "payload", "text")
	raw = withValue(t, raw, "111.222.slash"+text, "payload", "trigger_id")
	raw = withValue(t, raw, "env-slash-"+text, "envelope_id")
	send(t, e.fake, c, raw)
	e.fake.waitFor(t, "the deploy of /deploy "+text, func() bool { return len(e.deploys(t)) == n+1 })
	return e.waitDeploy(t, e.deploys(t)[0].ID)
}

// The global shortcut (the fixture with deployq's callback id) opens the
// form; its deploy's message goes to the user's DM, and is updated in
// the channel Slack made of it.
func TestDeployShortcutDeploysToTheDM(t *testing.T) {
	e := startApps(t, "socket", "true", nil, nil, formApps)
	c := e.fake.conn()
	send(t, e.fake, c, withValue(t, fixture(t, "socket-mode.interactive.shortcut.json"), slack.CallbackDeploy, "payload", "callback_id"))
	if opened := e.fake.nthView(t, "views.open", 1); opened.TriggerID != "111.222.xxx" || opened.View.PrivateMetadata != "" {
		t.Fatalf("opened %s", opened.raw)
	}
	if errs := e.submit(t, c, "U111", slack.CallbackDeploy, "", deployState("web", "staging", sha, nil)); errs != nil {
		t.Fatalf("refused: %v", errs)
	}
	d := e.waitDeploy(t, e.deploys(t)[0].ID)
	if d.ChatThread != "slack:U111" || d.User != "slack:U111" || d.Source != queue.SourceChat {
		t.Fatalf("deploy %+v", d)
	}
	e.fake.waitFor(t, "the message in the DM, updated", func() bool {
		posted := slices.ContainsFunc(e.fake.callsOf("chat.postMessage"), func(p call) bool {
			return p.Form.Get("channel") == "U111" && blocksOf(p) != ""
		})
		updated := slices.ContainsFunc(e.fake.callsOf("chat.update"), func(u call) bool {
			return u.Form.Get("channel") == "C1H9RESGL" && strings.Contains(blocksOf(u), "succeeded")
		})
		return posted && updated
	})
}

// A submission not carried out in time closes the form; its refusal
// comes as a private answer where the form was opened.
func TestLateSubmissionIsToldInAMessage(t *testing.T) {
	e := startApps(t, "socket", "true", nil, func(a *slack.Adapter) { a.AnswerWithin = 0 }, formApps)
	c := e.fake.conn()
	if errs := e.submit(t, c, "U111", slack.CallbackDeploy, "C111", deployState("api", "staging", sha, nil)); errs != nil {
		t.Fatalf("errors %v: the form was to close", errs)
	}
	e.fake.waitFor(t, "the refusal, privately", func() bool {
		said := e.fake.said("U111")
		return len(said) == 1 && said[0] == "slack:U111 may not deploy api in staging (deployers: nobody)"
	})
	if r := e.fake.callsOf("chat.postEphemeral")[0].Form; r.Get("channel") != "C111" {
		t.Errorf("told in %q", r.Get("channel"))
	}
}

// When Slack refuses to open the form (the trigger expired), /deploy
// answers with the command to type.
func TestFormThatCannotOpen(t *testing.T) {
	e := startApps(t, "socket", "true", nil, nil, func(f *fakeSlack, staging *queue.Environment) []*queue.App {
		f.openErr = true
		return formApps(f, staging)
	})
	c := e.fake.conn()
	send(t, e.fake, c, fixture(t, "socket-mode.slash_commands.json"))
	var ack struct{ Text string }
	if err := json.Unmarshal(e.fake.ackPayload("1d3c79ab-0ffb-41f3-a080-d19e85f53649"), &ack); err != nil ||
		ack.Text != "deployq could not open its form (Slack said: invalid_arguments); type the command instead: /deploy APP[@REF] to ENV [with NAME=VALUE ...]" {
		t.Fatalf("ack %q (%v)", ack.Text, err)
	}
}

// The shortcut's form that Slack refuses to open: its user is told by DM.
func TestShortcutFormThatCannotOpen(t *testing.T) {
	e := startApps(t, "socket", "true", nil, nil, func(f *fakeSlack, staging *queue.Environment) []*queue.App {
		f.openErr = true
		return formApps(f, staging)
	})
	c := e.fake.conn()
	var envelope map[string]any
	json.Unmarshal(withValue(t, fixture(t, "socket-mode.interactive.shortcut.json"), slack.CallbackDeploy, "payload", "callback_id"), &envelope)
	p := envelope["payload"].(map[string]any)
	p["user"].(map[string]any)["id"] = "U111"
	e.interactive(t, c, p)
	e.fake.waitFor(t, "the DM", func() bool {
		for _, m := range e.fake.callsOf("chat.postMessage") {
			if m.Form.Get("channel") == "U111" && strings.HasPrefix(m.Form.Get("text"), "deployq could not open its form (Slack said: invalid_arguments)") {
				return true
			}
		}
		return false
	})
}

// An environment with confirm: the form asks for a tick, and refuses a
// submission without it.
func TestDeployFormConfirm(t *testing.T) {
	e := startApps(t, "socket", "true", nil, nil, func(_ *fakeSlack, staging *queue.Environment) []*queue.App {
		staging.Confirm = true
		return []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{staging}}}
	})
	c := e.fake.conn()
	send(t, e.fake, c, fixture(t, "socket-mode.slash_commands.json"))
	opened := e.fake.nthView(t, "views.open", 1)
	if !slices.Contains(opened.blockIDs(), "confirm:web:staging") || !contains(opened, "I mean to deploy web to staging") {
		t.Fatalf("no confirmation in the form: %v %s", opened.blockIDs(), opened.raw)
	}
	state := deployState("web", "staging", sha, nil)
	if got := e.submit(t, c, "U111", slack.CallbackDeploy, "C111", state); got["confirm:web:staging"] != "Tick this to deploy to staging" {
		t.Fatalf("without the tick: %q", got)
	}
	state["confirm:web:staging"] = map[string]any{"deployq_form_confirm": ticked("yes")}
	if got := e.submit(t, c, "U111", slack.CallbackDeploy, "C111", state); got != nil {
		t.Fatalf("with the tick: %q", got)
	}
	e.fake.waitFor(t, "the deploy", func() bool { return len(e.deploys(t)) == 1 })
}

// The ref field offers, as the user types, what they typed and the app's
// branches and tags that contain it, the default ref first.
func TestDeployFormRefOptions(t *testing.T) {
	repo := gittest.New(t)
	repo.Commit("one", map[string]string{"a": "1"})
	repo.Tag("v1.0.0", "release one")
	repo.Git("checkout", "--quiet", "-b", "feature/x")
	repo.Commit("two", map[string]string{"a": "2"})
	e := startApps(t, "socket", "true", nil, nil, func(_ *fakeSlack, staging *queue.Environment) []*queue.App {
		return []*queue.App{{Name: "web", Git: repo.Bare, DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{staging}}}
	})
	c := e.fake.conn()
	suggest := func(value string) []string {
		t.Helper()
		var p map[string]any
		if err := json.Unmarshal(fixture(t, "interactive.block_suggestion.json"), &p); err != nil {
			t.Fatal(err)
		}
		p["user"].(map[string]any)["id"], p["block_id"], p["action_id"], p["value"] = "U111", "ref:web", "deployq_form_ref", value
		var ack struct {
			Options []struct{ Value string }
		}
		id := e.interactive(t, c, p)
		e.fake.waitFor(t, "the options", func() bool { return e.fake.ackPayload(id) != nil })
		if err := json.Unmarshal(e.fake.ackPayload(id), &ack); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range ack.Options {
			got = append(got, o.Value)
		}
		return got
	}
	if got, want := suggest(""), []string{"main", "feature/x", "v1.0.0"}; !slices.Equal(got, want) {
		t.Errorf("nothing typed: %q, want %q", got, want)
	}
	if got, want := suggest("FEA"), []string{"FEA", "feature/x"}; !slices.Equal(got, want) {
		t.Errorf("FEA typed: %q, want %q", got, want)
	}
	if got, want := suggest("$(id)"), []string(nil); !slices.Equal(got, want) {
		t.Errorf("not a ref typed: %q, want none", got)
	}
}
