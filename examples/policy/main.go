// Command policy is a remote adapter that refuses privileged containers and
// bind mounts of host paths, with a message the docker CLI prints:
//
//	go run ./examples/policy -listen 127.0.0.1:8083
//
//	endpoints:
//	  "POST /*/containers/create":
//	    pre: [policy]
//	adapters:
//	  policy: http://127.0.0.1:8083/
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"

	"github.com/powerstrip-go/powerstrip"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8083", "address to serve the adapter on")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*listen, powerstrip.NewAdapterHandler(Policy{})))
}

// Policy is the pre-hook. Named volumes stay allowed.
type Policy struct{}

type createSpec struct {
	HostConfig struct {
		Privileged bool
		Binds      []string
		Mounts     []struct{ Type, Source string }
	}
}

// ServeHook implements powerstrip.Hook.
func (Policy) ServeHook(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
	var spec createSpec
	if err := req.ClientRequest.DecodeBody(&spec); err != nil {
		return nil, powerstrip.Reject(http.StatusBadRequest, "policy: containers/create without a JSON body")
	}
	if spec.HostConfig.Privileged {
		return nil, powerstrip.Reject(http.StatusForbidden, "policy: privileged containers are not allowed")
	}
	for _, b := range spec.HostConfig.Binds {
		if src, _, _ := strings.Cut(b, ":"); strings.HasPrefix(src, "/") {
			return nil, powerstrip.Reject(http.StatusForbidden, fmt.Sprintf("policy: bind mounts of host paths are not allowed (%s); use a named volume", src))
		}
	}
	for _, m := range spec.HostConfig.Mounts {
		if m.Type == "bind" {
			return nil, powerstrip.Reject(http.StatusForbidden, fmt.Sprintf("policy: bind mounts of host paths are not allowed (%s); use a named volume", m.Source))
		}
	}
	return nil, nil // unchanged
}
