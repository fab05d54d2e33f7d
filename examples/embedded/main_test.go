package main

import (
	"context"
	"testing"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

func TestLabeller(t *testing.T) {
	body := `{"Image":"busybox","Labels":{"keep":"me"}}`
	resp, err := labeller("example.owner", "ada").ServeHook(context.Background(), &powerstrip.HookRequest{
		PowerstripProtocolVersion: 1, Type: powerstrip.PreHook,
		ClientRequest: powerstrip.ClientRequest{Method: "POST", Request: "/v1.41/containers/create", Body: &body},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := *resp.ModifiedClientRequest.Body; got != `{"Image":"busybox","Labels":{"example.owner":"ada","keep":"me"}}` {
		t.Errorf("body %s", got)
	}
	_, err = labeller("k", "v").ServeHook(context.Background(), &powerstrip.HookRequest{Type: powerstrip.PreHook})
	if rej, ok := err.(*powerstrip.Rejection); !ok || rej.Code != 400 {
		t.Errorf("a create without body: %v", err)
	}
}

// Through the real chain: Docker gets the label.
func TestLabellerThroughProxy(t *testing.T) {
	h := powerstriptest.Start(t, powerstriptest.Setup{
		Config: "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [owner-label]\nadapters: {}\n",
		Hooks:  map[string]powerstrip.Hook{"owner-label": labeller("example.owner", "ada")},
	})
	got := h.Call(powerstriptest.CreateRequest())
	var spec struct{ Labels map[string]string }
	if err := got.DockerGot.JSON(&spec); err != nil || spec.Labels["example.owner"] != "ada" {
		t.Errorf("Docker got labels %v (%v)", spec.Labels, err)
	}
}
