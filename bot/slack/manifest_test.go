package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/deployq/deployq/bot/slack"
	"github.com/santhosh-tekuri/jsonschema/v6"
	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"gopkg.in/yaml.v3"
)

// The scopes of the manifest are those of the calls this package makes:
// every slack-go Client method called here is listed with its scope, and
// every one listed is called.
func TestManifestScopesAreThoseOfTheCallsMade(t *testing.T) {
	pkg := typeCheck(t)
	used := map[string]string{} // call -> where
	for expr, sel := range pkg.info.Selections {
		if sel.Kind() != types.MethodVal {
			continue
		}
		fn := sel.Obj().(*types.Func)
		recv := named(fn.Type().(*types.Signature).Recv().Type())
		if recv == nil || recv.Obj().Pkg() == nil || recv.Obj().Name() != "Client" || !strings.HasPrefix(recv.Obj().Pkg().Path(), "github.com/slack-go/slack") {
			continue
		}
		used[recv.Obj().Pkg().Name()+".Client."+fn.Name()] = pkg.fset.Position(expr.Sel.Pos()).String()
	}
	if len(used) == 0 {
		t.Fatal("found no slack-go calls: the scan is broken")
	}
	want := []string{"commands"}
	listed := map[string]bool{}
	for _, c := range slack.ManifestWebAPICalls {
		listed[c.Call] = true
		if _, ok := used[c.Call]; !ok {
			t.Errorf("%s is listed in manifest.go but never called: remove it (and its scope, %q, if nothing else needs it)", c.Call, c.Scope)
		}
		if c.Scope != "" {
			want = append(want, c.Scope)
		}
	}
	for call, at := range used {
		if !listed[call] {
			t.Errorf("%s: %s is called but manifest.go does not list it: add its Web API method and scope", at, call)
		}
	}
	for _, e := range slack.ManifestBotEvents {
		if e.Scope != "" { // an event that needs no scope
			want = append(want, e.Scope)
		}
	}
	slices.Sort(want)
	if got := slack.BotScopes(); !slices.Equal(got, slices.Compact(want)) {
		t.Errorf("BotScopes() = %v, want %v", got, slices.Compact(want))
	}
}

// Each listed call makes the Web API method it is listed with.
func TestManifestCallsMakeTheirMethod(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
	}))
	defer srv.Close()
	api := slackgo.New("xoxb-test", slackgo.OptionAPIURL(srv.URL+"/"), slackgo.OptionAppLevelToken("xapp-test"))
	clients := map[string]reflect.Value{"slack": reflect.ValueOf(api), "socketmode": reflect.ValueOf(socketmode.New(api))}
	for _, c := range slack.ManifestWebAPICalls {
		if c.Method == "" {
			continue
		}
		pkgName, method, _ := strings.Cut(c.Call, ".Client.")
		m := clients[pkgName].MethodByName(method)
		if !m.IsValid() {
			t.Errorf("%s: no such method", c.Call)
			continue
		}
		mu.Lock()
		paths = nil
		mu.Unlock()
		m.Call(zeroArgs(t.Context(), m.Type()))
		mu.Lock()
		if len(paths) == 0 || paths[0] != "/"+c.Method {
			t.Errorf("%s called %v, listed as %s", c.Call, paths, c.Method)
		}
		mu.Unlock()
	}
}

// zeroArgs are arguments for a call of type ft: ctx, "x" for each string
// and each string field of a struct (a call that needs an id makes no
// request without one), zero values for the rest; no variadic ones.
func zeroArgs(ctx context.Context, ft reflect.Type) []reflect.Value {
	n := ft.NumIn()
	if ft.IsVariadic() {
		n--
	}
	args := make([]reflect.Value, n)
	for i := range n {
		args[i] = reflect.New(ft.In(i)).Elem()
		switch {
		case ft.In(i) == reflect.TypeFor[context.Context]():
			args[i] = reflect.ValueOf(ctx)
		case ft.In(i).Kind() == reflect.String:
			args[i].SetString("x")
		case ft.In(i).Kind() == reflect.Struct:
			for f := range ft.In(i).NumField() {
				if field := args[i].Field(f); field.Kind() == reflect.String && field.CanSet() {
					field.SetString("x")
				}
			}
		}
	}
	return args
}

// The events of the manifest are those this package reads: the
// slackevents types its type switches take.
func TestManifestEventsAreThoseRead(t *testing.T) {
	pkg := typeCheck(t)
	var read []string
	for _, f := range pkg.files {
		ast.Inspect(f, func(n ast.Node) bool {
			sw, ok := n.(*ast.TypeSwitchStmt)
			if !ok {
				return true
			}
			for _, cc := range sw.Body.List {
				for _, e := range cc.(*ast.CaseClause).List {
					if nt := named(pkg.info.TypeOf(e)); nt != nil && nt.Obj().Pkg() != nil && nt.Obj().Pkg().Path() == "github.com/slack-go/slack/slackevents" {
						read = append(read, "slackevents."+nt.Obj().Name())
					}
				}
			}
			return true
		})
	}
	var listed []string
	for _, e := range slack.ManifestBotEvents {
		listed = append(listed, e.Type)
	}
	slices.Sort(read)
	slices.Sort(listed)
	if len(read) == 0 || !slices.Equal(slices.Compact(read), listed) {
		t.Errorf("the adapter reads %v; manifest.go lists %v", read, listed)
	}
}

// Socket Mode (the default): a manifest Slack's schema accepts, with
// exactly the scopes and events deployq uses and no request URLs.
func TestManifestSocketMode(t *testing.T) {
	out, err := slack.Manifest(slack.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := validManifest(t, out)
	if got := strings.Join(m.OAuth.Scopes.Bot, " "); got != "app_mentions:read chat:write commands im:history usergroups:read users:read users:read.email" {
		t.Errorf("bot scopes: %s", got)
	}
	if got := strings.Join(m.Settings.Events.BotEvents, " "); got != "app_mention message.im app_home_opened" {
		t.Errorf("bot events: %s", got)
	}
	if len(m.Features.Shortcuts) != 1 || m.Features.Shortcuts[0].Type != "global" || m.Features.Shortcuts[0].CallbackID != slack.CallbackDeploy {
		t.Errorf("shortcuts: %+v", m.Features.Shortcuts)
	}
	if !m.Features.AppHome.HomeTab {
		t.Errorf("no Home tab: %+v", m.Features.AppHome)
	}
	if !m.Settings.SocketMode || !m.Settings.Interactivity.Enabled {
		t.Errorf("socket_mode_enabled %v, interactivity %v: want both", m.Settings.SocketMode, m.Settings.Interactivity.Enabled)
	}
	if len(m.urls()) != 0 {
		t.Errorf("request URLs in Socket Mode: %v", m.urls())
	}
	if len(m.Features.Slash) != 1 || m.Features.Slash[0].Command != "/deploy" {
		t.Errorf("slash commands: %+v", m.Features.Slash)
	}
	if !m.Features.AppHome.MessagesTab || m.Features.AppHome.MessagesReadOnly {
		t.Errorf("people cannot write to the bot: %+v", m.Features.AppHome)
	}
	if m.Display.Name != "deployq" || m.Features.BotUser.DisplayName != "deployq" {
		t.Errorf("name %q, bot %q", m.Display.Name, m.Features.BotUser.DisplayName)
	}
}

// HTTP mode: the request URLs are base_url plus the paths the adapter
// serves.
func TestManifestHTTPMode(t *testing.T) {
	out, err := slack.Manifest(slack.ManifestOptions{Name: "Deploy Bot", Mode: "http", BaseURL: "https://deployq.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	m := validManifest(t, out)
	want := map[string]string{
		"events":      "https://deployq.example.com/slack/events",
		"commands":    "https://deployq.example.com/slack/commands",
		"interactive": "https://deployq.example.com/slack/interactive",
	}
	if got := m.urls(); !reflect.DeepEqual(got, want) {
		t.Errorf("request URLs %v, want %v", got, want)
	}
	served := slack.New(slack.Config{Mode: "http"}, nil).Handlers()
	for _, u := range want {
		if served[strings.TrimPrefix(u, "https://deployq.example.com")] == nil {
			t.Errorf("%s: the adapter does not serve it", u)
		}
	}
	if m.Settings.SocketMode {
		t.Error("socket_mode_enabled in http mode")
	}
	if m.Display.Name != "Deploy Bot" || m.Features.BotUser.DisplayName != "Deploy Bot" {
		t.Errorf("name %q, bot %q", m.Display.Name, m.Features.BotUser.DisplayName)
	}
}

func TestManifestRefuses(t *testing.T) {
	for name, o := range map[string]slack.ManifestOptions{
		"a name too long":        {Name: strings.Repeat("x", 36)},
		"a blank name":           {Name: " "},
		"http without base_url":  {Mode: "http"},
		"http with a bare host":  {Mode: "http", BaseURL: "deployq.example.com"},
		"an unknown mode":        {Mode: "rtm"},
		"http with ftp base_url": {Mode: "http", BaseURL: "ftp://deployq.example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := slack.Manifest(o); err == nil {
				t.Errorf("no error; manifest:\n%s", out)
			}
		})
	}
}

// parsedManifest is what the tests read of a manifest.
type parsedManifest struct {
	Display struct {
		Name string `yaml:"name"`
	} `yaml:"display_information"`
	Features struct {
		AppHome struct {
			HomeTab          bool `yaml:"home_tab_enabled"`
			MessagesTab      bool `yaml:"messages_tab_enabled"`
			MessagesReadOnly bool `yaml:"messages_tab_read_only_enabled"`
		} `yaml:"app_home"`
		BotUser struct {
			DisplayName string `yaml:"display_name"`
		} `yaml:"bot_user"`
		Slash []struct {
			Command string `yaml:"command"`
			URL     string `yaml:"url"`
		} `yaml:"slash_commands"`
		Shortcuts []struct {
			Type       string `yaml:"type"`
			CallbackID string `yaml:"callback_id"`
		} `yaml:"shortcuts"`
	} `yaml:"features"`
	OAuth struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		Events struct {
			RequestURL string   `yaml:"request_url"`
			BotEvents  []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			Enabled    bool   `yaml:"is_enabled"`
			RequestURL string `yaml:"request_url"`
		} `yaml:"interactivity"`
		SocketMode bool `yaml:"socket_mode_enabled"`
	} `yaml:"settings"`
}

func (m parsedManifest) urls() map[string]string {
	urls := map[string]string{}
	for k, v := range map[string]string{"events": m.Settings.Events.RequestURL, "interactive": m.Settings.Interactivity.RequestURL} {
		if v != "" {
			urls[k] = v
		}
	}
	for _, s := range m.Features.Slash {
		if s.URL != "" {
			urls["commands"] = s.URL
		}
	}
	return urls
}

// validManifest parses a manifest and checks it against Slack's schema.
func validManifest(t *testing.T, out []byte) parsedManifest {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, out)
	}
	asJSON, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(asJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := manifestSchema(t).Validate(inst); err != nil {
		t.Fatalf("Slack's schema refuses the manifest: %v\n%s", err, out)
	}
	var m parsedManifest
	if err := yaml.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func manifestSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "manifest.schema.1.0.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.UseRegexpEngine(goRegexp)
	if err := c.AddResource("manifest.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("manifest.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goRegexp compiles a schema's patterns with Go's regexp. The two that
// Go cannot read (lookaheads, in unfurl_domains and outgoing_domains)
// match nothing: a manifest with those fields would be refused, and
// deployq's has neither.
func goRegexp(pattern string) (jsonschema.Regexp, error) {
	if re, err := regexp.Compile(pattern); err == nil {
		return re, nil
	}
	return matchesNothing(pattern), nil
}

type matchesNothing string

func (m matchesNothing) MatchString(string) bool { return false }
func (m matchesNothing) String() string          { return string(m) }

// checked is this package's source (not its tests), type-checked.
type checked struct {
	fset  *token.FileSet
	files []*ast.File
	info  *types.Info
}

// typeCheck type-checks this package against its dependencies' export
// data, as the go command builds them.
func typeCheck(t *testing.T) checked {
	t.Helper()
	out, err := exec.Command("go", "list", "-export", "-deps", "-json=ImportPath,Export,Dir,GoFiles", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type listed struct {
		ImportPath, Export, Dir string
		GoFiles                 []string
	}
	exports := map[string]string{}
	var self listed
	for dec := json.NewDecoder(bytes.NewReader(out)); dec.More(); {
		var p listed
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath], self = p.Export, p // the package itself comes last
	}
	c := checked{fset: token.NewFileSet(), info: &types.Info{
		Selections: map[*ast.SelectorExpr]*types.Selection{},
		Types:      map[ast.Expr]types.TypeAndValue{},
	}}
	for _, name := range self.GoFiles {
		f, err := parser.ParseFile(c.fset, filepath.Join(self.Dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		c.files = append(c.files, f)
	}
	conf := types.Config{Importer: importer.ForCompiler(c.fset, "gc", func(path string) (io.ReadCloser, error) {
		return os.Open(exports[path])
	})}
	if _, err := conf.Check(self.ImportPath, c.fset, c.files, c.info); err != nil {
		t.Fatal(err)
	}
	return c
}

// named is t's named type, through a pointer; nil for another type.
func named(t types.Type) *types.Named {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, _ := t.(*types.Named)
	return n
}
