package policy

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// guardConfig is a config with one rules policy on container creates;
// settings are the adapter's hook settings, as YAML lines.
func guardConfig(settings, rules string) string {
	return `version: 1
endpoints:
  "route container.create":
    pre: [guard]
adapters:
  guard:
` + settings + `    rules:
` + rules
}

const noPrivilegedRule = `      - expr: '!request.body.HostConfig.Privileged'
        message: privileged containers are not allowed
`

func privilegedCreate() *http.Request {
	r, _ := http.NewRequest("POST", "/v1.41/containers/create?name=web", strings.NewReader(`{"Image":"busybox","HostConfig":{"Privileged":true}}`))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func TestRulesThroughTheProxy(t *testing.T) {
	h := powerstriptest.Start(t, powerstriptest.Setup{
		Config: guardConfig("", noPrivilegedRule),
		Options: []powerstrip.Option{powerstrip.WithPolicies(New()),
			powerstrip.WithLogger(slog.New(slog.DiscardHandler))},
	})
	got := h.Call(privilegedCreate())
	if got.Status != http.StatusForbidden || got.DockerGot != nil {
		t.Fatalf("got %d %s; Docker got it: %v", got.Status, got.Body, got.DockerGot != nil)
	}
	var e struct{ Message string }
	if err := got.JSON(&e); err != nil || e.Message != "guard: privileged containers are not allowed" {
		t.Fatalf("got %s (%v)", got.Body, err)
	}
	if got := h.Call(powerstriptest.CreateRequest()); got.Status != http.StatusCreated {
		t.Fatalf("the CLI's unprivileged create: got %d %s", got.Status, got.Body)
	}
}

func TestRulesDryRun(t *testing.T) {
	var log bytes.Buffer
	h := powerstriptest.Start(t, powerstriptest.Setup{
		Config: guardConfig("    dryRun: true\n", noPrivilegedRule),
		Options: []powerstrip.Option{powerstrip.WithPolicies(New()),
			powerstrip.WithLogger(slog.New(slog.NewTextHandler(&log, nil)))},
	})
	got := h.Call(privilegedCreate())
	if got.Status != http.StatusCreated || got.DockerGot == nil {
		t.Fatalf("dry run: got %d %s; want Docker's 201", got.Status, got.Body)
	}
	if !strings.Contains(log.String(), "dry run: the hook would have rejected the call") || !strings.Contains(log.String(), "privileged containers are not allowed") {
		t.Errorf("the log does not say what the rule would have done:\n%s", log.String())
	}
}

// slowRule takes far longer than a millisecond on slowBody: it compares
// 3000 strings with each other, nine million steps.
const slowRule = `      - expr: 'request.body.Env.all(a, request.body.Env.all(b, a != b || b.size() >= 0))'
`

func slowBody() *http.Request {
	env := make([]string, 3000)
	for i := range env {
		env[i] = fmt.Sprintf(`"V%d=x"`, i)
	}
	r, _ := http.NewRequest("POST", "/v1.41/containers/create", strings.NewReader(`{"Image":"busybox","Env":[`+strings.Join(env, ",")+`]}`))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func TestRulesFailurePolicy(t *testing.T) {
	for _, tc := range []struct {
		name, settings string
		through        bool
	}{
		{"default", "    timeout: 1ms\n", false},
		{"fail", "    timeout: 1ms\n    failurePolicy: fail\n", false},
		{"ignore", "    timeout: 1ms\n    failurePolicy: ignore\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := powerstriptest.Start(t, powerstriptest.Setup{
				Config: guardConfig(tc.settings, slowRule),
				Options: []powerstrip.Option{powerstrip.WithPolicies(New()),
					powerstrip.WithLogger(slog.New(slog.DiscardHandler))},
			})
			got := h.Call(slowBody())
			if tc.through {
				if got.Status != http.StatusCreated || got.DockerGot == nil {
					t.Fatalf("got %d %s; want the call through", got.Status, got.Body)
				}
				return
			}
			if got.Status != http.StatusGatewayTimeout || got.DockerGot != nil || !strings.Contains(string(got.Body), "guard") {
				t.Fatalf("got %d %s (Docker got it: %v); want a 504 naming the policy", got.Status, got.Body, got.DockerGot != nil)
			}
		})
	}
}
