package marathon_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/deployq/deployq/runners/marathon"
)

// The properties a PUT may carry are the schema's, but version and
// versionInfo.
func TestPropertiesFollowTheSchema(t *testing.T) {
	b, err := os.ReadFile("../../internal/marathontest/testdata/AppDefinition.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	var want []string
	for p := range schema.Properties {
		if p != "version" && p != "versionInfo" {
			want = append(want, p)
		}
	}
	sort.Strings(want)
	got := slices.Clone(marathon.Properties)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("Properties\n got %v\nwant %v", got, want)
	}
}

// Everything deployq does not change goes back as it came.
func TestDefinitionRoundTrip(t *testing.T) {
	in := `{"id":"/web","cmd":"run","instances":2,"tasks":[{"id":"x"}],"version":"2015","unknownThing":1,
		"container":{"type":"DOCKER","volumes":[],"docker":{"image":"a:1","network":"BRIDGE","parameters":[{"key":"k","value":"v"}]}},
		"healthChecks":[{"protocol":"HTTP","command":null,"path":"/health"}],"labels":{"a":"b"},"user":null}`
	var d marathon.AppDefinition
	if err := json.Unmarshal([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	d.Container.Docker.Image = "a:2"
	out, _ := json.Marshal(d)
	want := `{"cmd":"run","container":{"docker":{"image":"a:2","network":"BRIDGE","parameters":[{"key":"k","value":"v"}]},"type":"DOCKER","volumes":[]},"healthChecks":[{"path":"/health","protocol":"HTTP"}],"id":"/web","instances":2,"labels":{"a":"b"}}`
	if string(out) != want {
		t.Errorf("\n got %s\nwant %s", out, want)
	}
}

// TLS with a CA file, and basic auth.
func TestTLSAndBasicAuth(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "deploy" || p != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"message":"Invalid username or password."}`))
			return
		}
		w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)

	c, err := marathon.NewClient(marathon.ClientOptions{URLs: []string{srv.URL}, User: "deploy", Password: "pw", CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deployments(context.Background()); err != nil {
		t.Errorf("with the CA: %v", err)
	}
	c, _ = marathon.NewClient(marathon.ClientOptions{URLs: []string{srv.URL}, User: "deploy", Password: "pw"})
	if _, err := c.Deployments(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v", err)
	}
	c, _ = marathon.NewClient(marathon.ClientOptions{URLs: []string{srv.URL}, User: "deploy", Password: "wrong", CAFile: ca})
	if _, err := c.Deployments(context.Background()); err == nil || !strings.Contains(err.Error(), "401: Invalid username or password.") {
		t.Errorf("wrong password: %v", err)
	}
}
