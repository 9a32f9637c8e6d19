package github_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/deployq/deployq/github"
	gh "github.com/google/go-github/v62/github"
)

// The App's permissions are those of the calls this package makes: every
// go-github method called here is listed with its permission, and every
// one listed is called.
func TestAppManifestPermissionsAreThoseOfTheCallsMade(t *testing.T) {
	pkg := typeCheck(t)
	used := map[string]string{} // Service.Method -> where
	for expr, sel := range pkg.info.Selections {
		if sel.Kind() != types.MethodVal {
			continue
		}
		fn := sel.Obj().(*types.Func)
		recv := named(fn.Type().(*types.Signature).Recv().Type())
		if recv == nil || recv.Obj().Pkg() == nil || recv.Obj().Pkg().Path() != "github.com/google/go-github/v62/github" || !strings.HasSuffix(recv.Obj().Name(), "Service") {
			continue
		}
		used[recv.Obj().Name()+"."+fn.Name()] = pkg.fset.Position(expr.Sel.Pos()).String()
	}
	if len(used) == 0 {
		t.Fatal("found no go-github calls: the scan is broken")
	}
	listed := map[string]bool{}
	for _, c := range github.ManifestAPICalls {
		listed[c.Call] = true
		if _, ok := used[c.Call]; !ok {
			t.Errorf("%s is listed in appmanifest.go but never called: remove it", c.Call)
		}
	}
	for call, at := range used {
		if !listed[call] {
			t.Errorf("%s: %s is called but appmanifest.go does not list it: add its endpoint and permission", at, call)
		}
	}
	want := map[string]string{"contents": "read", "deployments": "write", "statuses": "read", "checks": "read", "pull_requests": "write",
		"actions": "write", "metadata": "read"}
	if got := github.AppPermissions(); !maps.Equal(got, want) {
		t.Errorf("permissions %v, want %v", got, want)
	}
}

// Each listed call reaches the endpoint it is listed with.
func TestAppManifestCallsReachTheirEndpoint(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Method + " " + r.URL.Path
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}))
	defer srv.Close()
	client, err := gh.NewClient(nil).WithEnterpriseURLs(srv.URL, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	for _, c := range github.ManifestAPICalls {
		service, method, _ := strings.Cut(c.Call, ".")
		m := reflect.ValueOf(client).Elem().FieldByName(strings.TrimSuffix(service, "Service")).MethodByName(method)
		if !m.IsValid() {
			t.Errorf("%s: no such method", c.Call)
			continue
		}
		got = ""
		m.Call(someArgs(t.Context(), m.Type()))
		verb, path, _ := strings.Cut(c.Endpoint, " ")
		literal := param.Split(path, -1)
		for i := range literal {
			literal[i] = regexp.QuoteMeta(literal[i])
		}
		want := regexp.MustCompile("^" + verb + " /api/v3" + strings.Join(literal, `[^/]+`) + "$")
		if !want.MatchString(got) {
			t.Errorf("%s reached %q, listed as %s", c.Call, got, c.Endpoint)
		}
	}
}

// someArgs are arguments for a call of type ft: ctx, "x" for strings, 1
// for numbers, zero values for the rest.
func someArgs(ctx context.Context, ft reflect.Type) []reflect.Value {
	args := make([]reflect.Value, ft.NumIn())
	for i := range args {
		switch in := ft.In(i); {
		case in == reflect.TypeFor[context.Context]():
			args[i] = reflect.ValueOf(ctx)
		case in.Kind() == reflect.String:
			args[i] = reflect.ValueOf("x")
		case in.Kind() == reflect.Int64:
			args[i] = reflect.ValueOf(int64(1))
		default:
			args[i] = reflect.Zero(in)
		}
	}
	return args
}

// The App's events are those the Receiver handles (ping is sent to every
// webhook, without a subscription).
func TestAppManifestEventsAreThoseHandled(t *testing.T) {
	pkg := typeCheck(t)
	var handled []string
	for _, f := range pkg.files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Name.Name != "handle" || fd.Recv == nil || named(pkg.info.TypeOf(fd.Recv.List[0].Type)).Obj().Name() != "Receiver" {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if cc, ok := n.(*ast.CaseClause); ok {
					for _, e := range cc.List {
						if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							s, _ := strconv.Unquote(lit.Value)
							handled = append(handled, s)
						}
					}
				}
				return true
			})
		}
	}
	handled = slices.DeleteFunc(handled, func(s string) bool { return s == "ping" })
	slices.Sort(handled)
	events := slices.Sorted(slices.Values(github.AppEvents()))
	if len(handled) == 0 || !slices.Equal(handled, events) {
		t.Errorf("the Receiver handles %v; the App subscribes to %v", handled, events)
	}
}

func TestAppManifest(t *testing.T) {
	m, err := github.NewAppManifest(github.AppManifestOptions{BaseURL: "https://deployq.example.com/", RedirectURL: "http://127.0.0.1:4567/callback"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	var got map[string]any
	json.Unmarshal(b, &got)
	want := map[string]any{
		"name":            "deployq",
		"url":             "https://deployq.example.com",
		"description":     "deployq: deploys from chat, with a deploy queue",
		"hook_attributes": map[string]any{"url": "https://deployq.example.com/webhooks/github", "active": true},
		"redirect_url":    "http://127.0.0.1:4567/callback",
		"public":          false,
		"default_permissions": map[string]any{"contents": "read", "deployments": "write", "statuses": "read",
			"checks": "read", "pull_requests": "write", "actions": "write", "metadata": "read"},
		"default_events": []any{"push", "pull_request", "deployment", "status", "check_run", "check_suite",
			"deployment_protection_rule", "deployment_status", "workflow_run", "workflow_job", "issue_comment"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("manifest\n%s\nwant\n%v", b, want)
	}

	m, err = github.NewAppManifest(github.AppManifestOptions{Name: "deployq-acme", BaseURL: "https://deployq.example.com", RedirectURL: "http://127.0.0.1:1/callback", Poll: true})
	if err != nil || m.HookAttributes.Active || m.Name != "deployq-acme" {
		t.Errorf("poll mode: %v, %+v", err, m)
	}
	for name, o := range map[string]github.AppManifestOptions{
		"no base_url":     {RedirectURL: "http://127.0.0.1:1/callback"},
		"a bare host":     {BaseURL: "deployq.example.com", RedirectURL: "http://127.0.0.1:1/callback"},
		"no redirect URL": {BaseURL: "https://deployq.example.com"},
	} {
		if _, err := github.NewAppManifest(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestAppManifestURLs(t *testing.T) {
	for _, c := range []struct{ api, org, want string }{
		{"", "", "https://github.com/settings/apps/new?state=s1"},
		{"https://api.github.com/", "acme", "https://github.com/organizations/acme/settings/apps/new?state=s1"},
		{"https://ghe.example.com/api/v3/", "", "https://ghe.example.com/settings/apps/new?state=s1"},
		{"https://ghe.example.com", "acme", "https://ghe.example.com/organizations/acme/settings/apps/new?state=s1"},
	} {
		if got := github.NewAppURL(github.WebURL(c.api), c.org, "s1"); got != c.want {
			t.Errorf("api %q org %q: %s, want %s", c.api, c.org, got, c.want)
		}
	}
}

// The conversion gives the App's id, key and webhook secret, from
// GitHub's documented answer.
func TestConvertAppManifest(t *testing.T) {
	calls := 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v3/app-manifests/{code}/conversions", func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.PathValue("code") != "a180b1a3d263c81bc6441d7b990bae27d4c10679" {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(fixture(t, "api/create-app-from-manifest.201.json"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	app, err := github.ConvertAppManifest(t.Context(), srv.URL, "a180b1a3d263c81bc6441d7b990bae27d4c10679")
	if err != nil {
		t.Fatal(err)
	}
	if app.ID != 1 || app.Slug != "octoapp" || app.Owner != "github" || app.HTMLURL != "https://github.com/apps/octoapp" ||
		app.WebhookSecret != "e340154128314309424b7c8e90325147d99fdafa" || !strings.HasPrefix(app.PEM, "-----BEGIN RSA PRIVATE KEY-----\n") {
		t.Errorf("%+v", app)
	}
	if _, err := github.ConvertAppManifest(t.Context(), srv.URL, "0000"); err == nil {
		t.Error("an unknown code: no error")
	}
	if _, err := github.ConvertAppManifest(t.Context(), srv.URL, "../../user"); err == nil || calls != 2 {
		t.Errorf("a code that is not one: %v, %d calls (want it refused before any)", err, calls)
	}
}

// The installations are asked for as the App, with a JWT signed by its
// key.
func TestAppInstallations(t *testing.T) {
	var app struct {
		ID  int64  `json:"id"`
		PEM string `json:"pem"`
	}
	json.Unmarshal(fixture(t, "api/create-app-from-manifest.201.json"), &app)
	block, _ := pem.Decode([]byte(app.PEM))
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v3/app/installations", func(w http.ResponseWriter, r *http.Request) {
		if err := checkJWT(r, &key.PublicKey, app.ID); err != nil {
			http.Error(w, `{"message":"`+err.Error()+`"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(fixture(t, "api/list-app-installations.200.json"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	got, err := github.AppInstallations(t.Context(), srv.URL, app.ID, []byte(app.PEM))
	want := []github.Installation{{ID: 1, Account: "octocat", HTMLURL: "https://github.com/organizations/github/settings/installations/1"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%v, %+v", err, got)
	}
	if _, err := github.AppInstallations(t.Context(), srv.URL, app.ID+1, []byte(app.PEM)); err == nil {
		t.Error("another App's id: no error")
	}
}

// checkJWT checks the bearer JWT of r: signed (RS256) with key, issued
// by the App.
func checkJWT(r *http.Request, key *rsa.PublicKey, appID int64) error {
	jwt, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	parts := strings.Split(jwt, ".")
	if !ok || len(parts) != 3 {
		return fmt.Errorf("no JWT")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return fmt.Errorf("bad signature")
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Iss any `json:"iss"`
	}
	json.Unmarshal(claims, &c)
	if fmt.Sprint(c.Iss) != strconv.FormatInt(appID, 10) {
		return fmt.Errorf("issued by %v", c.Iss)
	}
	return nil
}

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
