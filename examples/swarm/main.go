// Command swarm is a remote pre-hook for a Swarm manager: it adds
// environment variables to the task spec of every service created, so each
// task's container gets them. This is the "Powerstrip-enabled Swarm" the
// original project promised: Powerstrip in front of a manager, hooking the
// Swarm API as it hooks containers.
//
//	go run ./examples/swarm -listen 127.0.0.1:8085 -env DATACENTER=eu-1
//
//	endpoints:
//	  "POST /*/services/create":
//	    pre: [swarm-env]
//	adapters:
//	  swarm-env: http://127.0.0.1:8085/
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"strings"

	"github.com/powerstrip-go/powerstrip"
)

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	listen := flag.String("listen", "127.0.0.1:8085", "address to serve the adapter on")
	var env stringList
	flag.Var(&env, "env", "KEY=VALUE to add to every service's tasks; repeatable")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*listen, powerstrip.NewAdapterHandler(ServiceEnv(env))))
}

// ServiceEnv is the pre-hook: it appends env to
// TaskTemplate.ContainerSpec.Env of services/create, keeping the rest of
// the spec as the client wrote it.
type ServiceEnv []string

// ServeHook implements powerstrip.Hook.
func (env ServiceEnv) ServeHook(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
	var spec map[string]any
	if err := req.ClientRequest.DecodeBody(&spec); err != nil {
		return nil, powerstrip.Reject(http.StatusBadRequest, "swarm-env: services/create without a JSON body")
	}
	task, _ := spec["TaskTemplate"].(map[string]any)
	container, _ := task["ContainerSpec"].(map[string]any)
	if container == nil {
		// A plugin service, say: nothing of ours to change.
		return nil, nil
	}
	list, _ := container["Env"].([]any)
	for _, e := range env {
		list = append(list, e)
	}
	container["Env"] = list
	out := req.ClientRequest
	if err := out.SetBody(spec); err != nil {
		return nil, err
	}
	return &powerstrip.HookResponse{PowerstripProtocolVersion: powerstrip.ProtocolVersion, ModifiedClientRequest: &out}, nil
}
