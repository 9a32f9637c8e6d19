package main_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The deploy form shows a field for each of the environment's typed
// parameters; what is chosen there is checked, kept with the deploy and
// given to the runner, quoted.
func TestDashboardDeployParameters(t *testing.T) {
	base := runWeb(t, `  - name: web
    environments:
      - name: production
        runner: shell
        shell: {command: "echo region={param.region} migrate={param.migrate} note={param.note}"}
        parameters:
          - {name: migrate, type: bool, default: "false"}
          - {name: region, type: enum, values: [eu, us], required: true}
          - {name: note, type: string, max: 40}
`)
	b := newBrowser(t)
	b.signIn(t, base)
	b.run(t, "the deploy form", open(base, "#/deploy-new/web/production"), poll(t, `document.getElementById("d-param-region")`))
	if got := textOf(t, b, `#d-params`); !strings.Contains(got, "migrate") || !strings.Contains(got, "region *") || !strings.Contains(got, "note") {
		t.Fatalf("the parameters' fields: %q", got)
	}
	sha := strings.Repeat("c", 40)
	b.run(t, "fill and submit",
		chromedp.SendKeys(chromedp.ID("#d-ref"), sha),
		script(`document.getElementById("d-param-region").value = "us"`),
		script(`document.getElementById("d-param-migrate").checked = true`),
		chromedp.SendKeys(chromedp.ID("#d-param-note"), "$(touch pwned)"),
		chromedp.Click(chromedp.CSS(".deployform button[type=submit]")),
		poll(t, `location.hash.startsWith("#/deploy/")`),
		poll(t, `document.getElementById("log")?.textContent.includes("region=us migrate=true note=$(touch pwned)")`))
	var d struct {
		Params map[string]string `json:"params"`
		State  string            `json:"state"`
	}
	apiCall(t, base, webToken, "GET", "/api/v1/deploys/1", "", &d)
	if d.Params["region"] != "us" || d.Params["migrate"] != "true" || d.Params["note"] != "$(touch pwned)" {
		t.Fatalf("the deploy's params: %+v", d.Params)
	}
	b.checkProblems(t)
}
