package powerstrip_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/powerstrip-go/powerstrip"
)

// Policy is a Hook: the same value runs in-process (WithHook) or as a
// remote adapter (NewAdapterHandler).
type Policy struct{}

func (Policy) ServeHook(ctx context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
	var spec struct{ HostConfig struct{ Privileged bool } }
	if err := req.ClientRequest.DecodeBody(&spec); err != nil {
		return nil, powerstrip.Reject(http.StatusBadRequest, "not a container spec")
	}
	if spec.HostConfig.Privileged {
		return nil, powerstrip.Reject(http.StatusForbidden, "privileged containers are not allowed")
	}
	return nil, nil // unchanged
}

// Embedding Powerstrip in your own tool: the Policy hook in-process, served
// as the binary serves it (Serve, with the lean path for calls no hook
// matches), stopped gracefully. The README's embedding snippet is this
// function's body. A fake daemon stands in for Docker so it runs anywhere;
// a real one is WithUpstream("unix:///var/run/docker.sock"), the default.
func Example_embedding() {
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"Id":"4f1c","Warnings":[]}`)
	}))
	defer daemon.Close()
	dockerAddr := daemon.Listener.Addr().String()

	// -- the README's snippet starts here
	cfg, err := powerstrip.ParseConfig([]byte(`
endpoints:
  "POST /*/containers/create":
    pre: [policy]
adapters: {}
`))
	if err != nil {
		log.Fatal(err)
	}
	proxy, err := powerstrip.New(cfg,
		powerstrip.WithUpstream(dockerAddr), // default: unix:///var/run/docker.sock
		powerstrip.WithHook("policy", Policy{}))
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0") // DOCKER_HOST=tcp://<l.Addr()>
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: proxy, ConnContext: powerstrip.ConnContext}
	go proxy.Serve(srv, l) // or srv.Serve(l): *Proxy is an http.Handler too, without the lean path
	// -- the README's snippet ends here

	resp, err := http.Post("http://"+l.Addr().String()+"/v1.41/containers/create", "application/json",
		strings.NewReader(`{"Image":"busybox","HostConfig":{"Privileged":true}}`))
	if err != nil {
		log.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("%d %s\n", resp.StatusCode, strings.TrimSpace(string(answer)))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)   // stops accepting, waits for calls in flight
	proxy.Shutdown(ctx) // and for the lean path's calls and attach/exec streams
	// Output: 403 {"message":"privileged containers are not allowed"}
}

// The same hook as a remote adapter, for a proxy elsewhere: its config
// lists the adapter's URL.
func ExampleNewAdapterHandler() {
	adapter := httptest.NewServer(powerstrip.NewAdapterHandler(Policy{}))
	defer adapter.Close()
	resp, err := http.Post(adapter.URL, "application/json", strings.NewReader(
		`{"PowerstripProtocolVersion":1,"Type":"pre-hook","ClientRequest":{"Method":"POST","Request":"/v1.41/containers/create","Body":"{\"HostConfig\":{\"Privileged\":true}}"}}`))
	if err != nil {
		log.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("%d %s\n", resp.StatusCode, strings.TrimSpace(string(answer)))
	// Output: 403 {"message":"privileged containers are not allowed"}
}

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
