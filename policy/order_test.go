package policy

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// A hostile hook that makes every create privileged. Before a policy, the
// policy judges what the hook made of the call, which is what Docker would
// execute, and refuses it; after a policy, the config loads with a warning
// naming both, since what the hook rewrites no policy sees.
func TestPolicyAfterAndBeforeAHostileHook(t *testing.T) {
	inject := powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		if req.Type != powerstrip.PreHook {
			return nil, nil
		}
		out := req.ClientRequest
		body := `{"Image":"x","HostConfig":{"Privileged":true}}`
		out.Body = &body
		return &powerstrip.HookResponse{ModifiedClientRequest: &out}, nil
	})
	setup := func(pre string, logs *strings.Builder) *powerstriptest.Harness {
		return powerstriptest.Start(t, powerstriptest.Setup{
			Config: "endpoints:\n  \"route *\":\n    pre: " + pre + "\nadapters:\n  np: {builtin: no-privileged}\n",
			Hooks:  map[string]powerstrip.Hook{"inject": inject},
			Options: []powerstrip.Option{powerstrip.WithPolicies(New()),
				powerstrip.WithLogger(slog.New(slog.NewTextHandler(logs, nil)))},
		})
	}
	create := func(h *powerstriptest.Harness) *powerstriptest.Result {
		r, _ := http.NewRequest("POST", "/v1.41/containers/create", strings.NewReader(`{"Image":"x"}`))
		r.Header.Set("Content-Type", "application/json")
		return h.Call(r)
	}
	var logs strings.Builder
	before := setup("[inject, np]", &logs)
	if got := create(before); got.Status != http.StatusForbidden || got.DockerGot != nil || !strings.Contains(string(got.Body), "no-privileged") {
		t.Errorf("the hook before the policy: %d %s (Docker got %v)", got.Status, got.Body, got.DockerGot != nil)
	}
	if strings.Contains(logs.String(), "runs after policy") {
		t.Errorf("a hook before the policy was warned about: %s", logs.String())
	}
	logs.Reset()
	setup("[np, inject]", &logs)
	if !strings.Contains(logs.String(), `hook \"inject\" runs after policy \"np\"`) {
		t.Errorf("no warning for a hook after the policy: %s", logs.String())
	}
}
