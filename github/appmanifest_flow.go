package github

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// ManifestFlow is the browser's side of GitHub's manifest flow, served on
// the address of the manifest's redirect URL: its page posts the
// manifest to GitHub with a random state, and its /callback, where GitHub
// sends the browser back with a code, checks the state and trades the
// code for the new App's credentials, once.
type ManifestFlow struct {
	manifest AppManifest
	postTo   string // NewAppURL
	apiURL   string
	hosts    []string // the Host headers the page answers
	created  func(*AppCredentials) error
	state    string

	mu  sync.Mutex
	app *AppCredentials // once created
}

// NewManifestFlow returns the flow of m, registered on webURL (under org
// when it is not ""), converted on apiURL. created is called once, with
// the App's credentials; what it returns the page shows.
func NewManifestFlow(m AppManifest, webURL, apiURL, org string, created func(*AppCredentials) error) (*ManifestFlow, error) {
	u, err := url.Parse(m.RedirectURL)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 16)
	rand.Read(b)
	state := hex.EncodeToString(b)
	return &ManifestFlow{manifest: m, postTo: NewAppURL(webURL, org, state), apiURL: apiURL, created: created, state: state,
		hosts: []string{u.Host, net.JoinHostPort("localhost", u.Port())}}, nil
}

// ServeHTTP serves the page (GET /) and the callback (GET /callback).
func (f *ManifestFlow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer") // the callback's URL holds the code
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	switch {
	case !slices.Contains(f.hosts, r.Host):
		f.page(w, http.StatusMisdirectedRequest, "This page answers on "+f.hosts[0]+" only.", nil)
	case r.Method != http.MethodGet:
		f.page(w, http.StatusMethodNotAllowed, "GET only.", nil)
	case r.URL.Path == "/":
		f.page(w, http.StatusOK, "", nil)
	case r.URL.Path == "/callback":
		f.callback(w, r)
	default:
		f.page(w, http.StatusNotFound, "Not found.", nil)
	}
}

func (f *ManifestFlow) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.state)) != 1 {
		f.page(w, http.StatusBadRequest, "This is not GitHub's answer to this page (its state does not match): start again from the button below.", nil)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.app != nil {
		f.page(w, http.StatusOK, "", f.app)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	app, err := ConvertAppManifest(ctx, f.apiURL, q.Get("code"))
	if err == nil {
		err = f.created(app)
	}
	if err != nil {
		f.page(w, http.StatusBadGateway, err.Error(), nil)
		return
	}
	f.app = app
	f.page(w, http.StatusOK, "", app)
}

// page shows the form, an error, or the App once created.
func (f *ManifestFlow) page(w http.ResponseWriter, status int, problem string, app *AppCredentials) {
	manifest, _ := json.Marshal(f.manifest)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	flowPage.Execute(w, map[string]any{"M": f.manifest, "JSON": string(manifest), "PostTo": f.postTo,
		"Problem": problem, "App": app})
}

var flowPage = template.Must(template.New("flow").Parse(`<!doctype html>
<html lang="en"><meta charset="utf-8"><title>deployq: its GitHub App</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44em;margin:2em auto;padding:0 1em}
code{background:#f3f3f3;padding:0 .2em}.problem{color:#a00}</style>
<h1>deployq's GitHub App</h1>
{{with .Problem}}<p class="problem">{{.}}</p>{{end}}
{{with .App}}
<p>GitHub created the App <b>{{.Name}}</b> (id {{.ID}}). deployq keeps its key and
webhook secret; the terminal shows what to add to the config.</p>
<p><a href="{{.HTMLURL}}/installations/new">Install it</a> on the repositories deployq deploys.</p>
{{else}}
<p>GitHub will register a private App named <b>{{.M.Name}}</b>, with:</p>
<ul>
<li>permissions: {{range $p, $a := .M.DefaultPermissions}}<code>{{$p}}: {{$a}}</code> {{end}}</li>
<li>events: {{range .M.DefaultEvents}}<code>{{.}}</code> {{end}}</li>
<li>webhook: <code>{{.M.HookAttributes.URL}}</code>{{if not .M.HookAttributes.Active}} (inactive: deployq polls){{end}}</li>
</ul>
<form action="{{.PostTo}}" method="post">
<input type="hidden" name="manifest" value="{{.JSON}}">
<button type="submit">Create the App on GitHub</button>
</form>
{{end}}
</html>
`))
