package main

import (
	"context"
	"testing"

	"github.com/powerstrip-go/powerstrip"
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
