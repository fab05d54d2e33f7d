// Command embedded is your own Go tool with Powerstrip inside: it serves
// the Docker API on a unix socket and labels every container it creates
// with the name of the user who asked, using an in-process hook and no
// config file.
//
//	go run ./examples/embedded -listen /tmp/labelled.sock -docker unix:///var/run/docker.sock
//	DOCKER_HOST=unix:///tmp/labelled.sock docker run --rm busybox true
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/powerstrip-go/powerstrip"
)

func main() {
	listen := flag.String("listen", "/tmp/labelled.sock", "unix socket to serve the Docker API on")
	docker := flag.String("docker", powerstrip.DefaultUpstream, "the Docker daemon")
	flag.Parse()

	owner := os.Getenv("USER")
	cfg := &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{
		{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"owner-label"}},
	}}
	proxy, err := powerstrip.New(cfg,
		powerstrip.WithUpstream(*docker),
		powerstrip.WithHook("owner-label", labeller("example.owner", owner)),
		powerstrip.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))),
	)
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("unix", *listen)
	if err != nil {
		log.Fatal(err)
	}
	// Serve, rather than http.Serve: calls the hook does not touch take
	// the lean path.
	srv := &http.Server{Handler: proxy, ConnContext: powerstrip.ConnContext}
	log.Fatal(proxy.Serve(srv, l))
}

// labeller is a pre-hook that adds a label to containers/create.
func labeller(key, value string) powerstrip.Hook {
	return powerstrip.HookFunc(func(ctx context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		var spec map[string]any
		if err := req.ClientRequest.DecodeBody(&spec); err != nil {
			return nil, powerstrip.Reject(400, "containers/create without a JSON body: "+err.Error())
		}
		labels, _ := spec["Labels"].(map[string]any)
		if labels == nil {
			labels = map[string]any{}
		}
		labels[key] = value
		spec["Labels"] = labels
		out := req.ClientRequest
		if err := out.SetBody(spec); err != nil {
			return nil, err
		}
		return &powerstrip.HookResponse{ModifiedClientRequest: &out}, nil
	})
}
