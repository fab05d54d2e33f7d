package powerstriptest_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/policy"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

const guardYAML = `version: 1
endpoints:
  "route container.create":
    pre: [guard]
adapters:
  guard:
    rules:
      - expr: '!request.body.HostConfig.Privileged'
        message: privileged containers are not allowed
      - expr: has(request.body.Labels.owner)
        message: label containers with their owner
        action: warn
`

// privileged is the docker CLI's create fixture with --privileged.
func privileged() *http.Request {
	body := bytes.Replace(powerstriptest.CreateBody(), []byte(`"Privileged":false`), []byte(`"Privileged":true`), 1)
	return powerstriptest.CreateRequestWith(body)
}

func ExampleCheckPolicies() {
	cfg, err := powerstrip.ParseConfig([]byte(guardYAML))
	if err != nil {
		fmt.Println(err)
		return
	}
	verdicts, err := powerstriptest.CheckPolicies(cfg, policy.New(),
		powerstriptest.CreateRequest(), // docker create --name web ... busybox
		privileged(),                   // the same with --privileged
		powerstriptest.StartRequest("web"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range verdicts {
		fmt.Println(v.Call, "→", v)
	}
	// Output:
	// POST /v1.41/containers/create?name=web → allowed; warnings: guard: label containers with their owner
	// POST /v1.41/containers/create?name=web → denied 403: guard: privileged containers are not allowed
	// POST /v1.41/containers/web/start → allowed
}

func TestCheckPolicies(t *testing.T) {
	labelled := bytes.Replace(powerstriptest.CreateBody(), []byte(`"Labels":{}`), []byte(`"Labels":{"owner":"ops"}`), 1)
	for _, tc := range []struct {
		name, yaml string
		call       *http.Request
		want       string
	}{
		{"labelled", guardYAML, powerstriptest.CreateRequestWith(labelled), "allowed"},
		{"unlabelled", guardYAML, powerstriptest.CreateRequest(), "allowed; warnings: guard: label containers with their owner"},
		{"privileged", guardYAML, privileged(), "denied 403: guard: privileged containers are not allowed"},
		{"case variant", guardYAML, powerstriptest.CreateRequestWith([]byte(`{"Image":"busybox","hostconfig":{"privileged":true}}`)), "denied 403: guard: privileged containers are not allowed"},
		{"not JSON by its Content-Type", guardYAML, func() *http.Request {
			r := privileged()
			r.Header.Set("Content-Type", "text/plain")
			return r
		}(), "denied 403: guard: the body is not JSON by its Content-Type"},
		{"dry run", strings.Replace(guardYAML, "    rules:", "    dryRun: true\n    rules:", 1), privileged(), "allowed"},
		{"other routes", guardYAML, powerstriptest.StartRequest("web"), "allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := powerstrip.ParseConfig([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got, err := powerstriptest.CheckPolicies(cfg, policy.New(), tc.call)
			if err != nil || len(got) != 1 || !strings.HasPrefix(got[0].String(), tc.want) {
				t.Fatalf("got %v (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func TestCheckPoliciesRefusesABadRule(t *testing.T) {
	cfg, err := powerstrip.ParseConfig([]byte(strings.Replace(guardYAML, "has(request.body.Labels.owner)", "has(requst.body.Labels.owner)", 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = powerstriptest.CheckPolicies(cfg, policy.New(), powerstriptest.CreateRequest())
	if err == nil || !strings.Contains(err.Error(), `line 10: adapter "guard": rule 2: ERROR: <input>:1:5: undeclared reference to 'requst'`) {
		t.Fatalf("got %v", err)
	}
}
