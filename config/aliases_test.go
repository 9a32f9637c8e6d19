package config_test

import (
	"strings"
	"testing"

	"github.com/deployq/deployq/config"
)

// aliases gives environments other names and marks production as one
// that must be named; the top-level environment's alias means the same
// in both apps.
const aliases = `apps:
  - name: web
    git: /srv/git/web.git
    default_env: production
    environments:
      - {name: staging, aliases: [stage], runner: shell, shell: {command: x}}
      - {name: production, aliases: [prod, live], require_explicit: true, runner: shell, shell: {command: x}}
  - name: api
    git: /srv/git/api.git
    environments:
      - {name: qa, runner: shell, shell: {command: x}}
environments:
  - {name: sandbox, aliases: [sb], apps: [web, api], runner: shell, shell: {command: x}}
`

func TestAliasesAndRequireExplicit(t *testing.T) {
	c, err := config.Parse("deployq.yaml", []byte(aliases), kinds)
	if err != nil {
		t.Fatal(err)
	}
	web, api := c.Apps[0], c.Apps[1]
	prod := web.Env("production")
	if prod == nil || web.Env("prod") != prod || web.Env("live") != prod || !prod.RequireExplicit ||
		strings.Join(prod.Aliases, ",") != "prod,live" {
		t.Fatalf("production %+v", prod)
	}
	if st := web.Env("stage"); st == nil || st.Name != "staging" || st.RequireExplicit {
		t.Fatalf("stage is %+v", st)
	}
	if web.Env("sb") == nil || api.Env("sb") == nil || api.Env("sb").Name != "sandbox" {
		t.Fatal("the top-level environment's alias is not in both apps")
	}
	if api.Env("prod") != nil {
		t.Fatal("api answers to web's alias")
	}
}

func TestAliasErrors(t *testing.T) {
	env := func(lines ...string) string {
		return "apps:\n  - name: web\n    environments:\n" + strings.Join(lines, "\n") + "\n"
	}
	for _, c := range []struct{ name, yaml, want string }{
		{"NotAName", env("      - {name: production, aliases: [Prod], runner: shell, shell: {command: x}}"),
			`deployq.yaml:4: apps[web].environments[production].aliases[0]: want a name of lower-case letters, digits, '-', '_' or '.', got "Prod"`},
		{"AnotherEnvironmentsName", env("      - {name: staging, aliases: [production], runner: shell, shell: {command: x}}",
			"      - {name: production, runner: shell, shell: {command: x}}"),
			`deployq.yaml:4: apps[web].environments[staging].aliases[0]: "production" is the name of an environment (of web)`},
		{"ItsOwnName", env("      - {name: production, aliases: [production], runner: shell, shell: {command: x}}"),
			`deployq.yaml:4: apps[web].environments[production].aliases[0]: "production" is the name of an environment (of web)`},
		{"TwoEnvironments", env("      - {name: production, aliases: [prod], runner: shell, shell: {command: x}}",
			"      - {name: production-eu, aliases: [prod], runner: shell, shell: {command: x}}"),
			`deployq.yaml:5: apps[web].environments[production-eu].aliases[0]: "prod" already stands for production (of web): an alias names one environment`},
		{"Twice", env("      - {name: production, aliases: [prod, prod], runner: shell, shell: {command: x}}"),
			`deployq.yaml:4: apps[web].environments[production].aliases[1]: "prod" is given twice`},
		{"AcrossApps", env("      - {name: production, aliases: [prod], runner: shell, shell: {command: x}}") +
			"  - name: api\n    environments:\n      - {name: production-eu, aliases: [prod], runner: shell, shell: {command: x}}\n",
			`deployq.yaml:7: apps[api].environments[production-eu].aliases[0]: "prod" already stands for production (of web): an alias names one environment`},
		{"AnotherAppsEnvironment", env("      - {name: production, aliases: [qa], runner: shell, shell: {command: x}}") +
			"  - name: api\n    environments:\n      - {name: qa, runner: shell, shell: {command: x}}\n",
			`deployq.yaml:4: apps[web].environments[production].aliases[0]: "qa" is the name of an environment (of api)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("deployq.yaml", []byte(c.yaml), kinds)
			if err == nil || err.Error() != c.want {
				t.Fatalf("got  %v\nwant %s", err, c.want)
			}
		})
	}
}
