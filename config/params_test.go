package config_test

import (
	"strings"
	"testing"

	"github.com/deployq/deployq/config"
)

// An environment's deploy parameters are read and checked, each error
// naming its line and key.
func TestParameters(t *testing.T) {
	env := func(params string) string {
		return "apps:\n  - name: web\n    environments:\n      - name: production\n        runner: shell\n        shell: {command: x}\n        parameters:\n" + params
	}
	c, err := config.Parse("deployq.yaml", []byte(env("          - {name: migrate, type: bool, default: \"no\"}\n          - {name: region, type: enum, values: [eu, us], required: true}\n          - {name: note}\n")), kinds)
	if err != nil {
		t.Fatal(err)
	}
	ps := c.Apps[0].Environments[0].Params
	if len(ps) != 3 || ps[0].Default != "no" || ps[1].Values[1] != "us" || !ps[1].Required || ps[2].Type != "string" {
		t.Fatalf("%+v", ps)
	}
	for name, tc := range map[string]struct{ params, want string }{
		"bad name":       {"          - {name: Region}\n", `deployq.yaml:8: apps[web].environments[production].parameters[0].name: want a name of lower-case letters`},
		"twice":          {"          - {name: a}\n          - {name: a}\n", `deployq.yaml:9: apps[web].environments[production].parameters[1].name: parameter "a" twice`},
		"unknown type":   {"          - {name: a, type: float}\n", `parameters[0].type: want bool, enum, int, string, got "float"`},
		"enum, no value": {"          - {name: a, type: enum}\n", `parameters[0].values: an enum lists its values`},
		"bad default":    {"          - {name: a, type: int, default: ten}\n", `parameters[0].default: parameter a: want a whole number, got "ten"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse("deployq.yaml", []byte(env(tc.params)), kinds)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}
