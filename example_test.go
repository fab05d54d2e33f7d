package powerstrip_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/powerstrip-go/powerstrip"
)

// An in-process hook that rejects privileged containers. The fake daemon
// stands in for Docker so the example runs anywhere.
func Example() {
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"Id":"4f1c","Warnings":[]}`)
	}))
	defer daemon.Close()

	cfg, err := powerstrip.ParseConfig([]byte(`
version: 1
endpoints:
  "POST /*/containers/create":
    pre: [policy]
adapters: {}
`))
	if err != nil {
		log.Fatal(err)
	}
	policy := powerstrip.HookFunc(func(ctx context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		var spec struct{ HostConfig struct{ Privileged bool } }
		if err := req.ClientRequest.DecodeBody(&spec); err != nil {
			return nil, powerstrip.Reject(http.StatusBadRequest, err.Error())
		}
		if spec.HostConfig.Privileged {
			return nil, powerstrip.Reject(http.StatusForbidden, "privileged containers are not allowed")
		}
		return nil, nil // unchanged
	})
	proxy, err := powerstrip.New(cfg,
		powerstrip.WithUpstream("tcp://"+daemon.Listener.Addr().String()),
		powerstrip.WithHook("policy", policy))
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()

	for _, body := range []string{`{"Image":"busybox"}`, `{"Image":"busybox","HostConfig":{"Privileged":true}}`} {
		resp, err := http.Post(srv.URL+"/v1.41/containers/create", "application/json", strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %s\n", resp.StatusCode, strings.TrimSpace(string(answer)))
	}
	// Output:
	// 201 {"Id":"4f1c","Warnings":[]}
	// 403 {"message":"privileged containers are not allowed"}
}

// A pre-hook that rewrites the JSON body with the helpers, no hand-escaping.
func ExampleClientRequest_SetBody() {
	req := powerstrip.ClientRequest{Method: "POST", Request: "/v1.41/containers/create", Body: new(string)}
	*req.Body = `{"Image":"busybox","Env":["A=1"]}`

	var spec map[string]any
	if err := req.DecodeBody(&spec); err != nil {
		log.Fatal(err)
	}
	spec["Env"] = append(spec["Env"].([]any), "INJECTED=yes")
	if err := req.SetBody(spec); err != nil {
		log.Fatal(err)
	}
	fmt.Println(*req.Body)
	// Output: {"Env":["A=1","INJECTED=yes"],"Image":"busybox"}
}
