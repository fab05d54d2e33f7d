// Command registrar is a remote post-hook that records containers as they
// start and stop, one line per event appended to a file: what the original
// Powerstrip's roadmap wanted for consul or etcd, with a file standing in.
//
//	go run ./examples/registrar -listen 127.0.0.1:8084 -file /var/lib/registrar/containers
//
//	endpoints:
//	  "POST /*/containers/*/start":
//	    post: [registrar]
//	  "POST /*/containers/*/stop":
//	    post: [registrar]
//	adapters:
//	  registrar: http://127.0.0.1:8084/
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/powerstrip-go/powerstrip"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8084", "address to serve the adapter on")
	file := flag.String("file", "containers.log", "the file to append events to")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*listen, powerstrip.NewAdapterHandler(&Registrar{Path: *file})))
}

// Registrar is the post-hook. It records only what Docker did: a start or
// stop that Docker refused is not an event.
type Registrar struct {
	// Path is the file events are appended to: "started ID" or "stopped ID".
	Path string
	mu   sync.Mutex
}

// ServeHook implements powerstrip.Hook; the answer passes unchanged.
func (r *Registrar) ServeHook(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
	if req.ServerResponse == nil || req.ServerResponse.Code < 200 || req.ServerResponse.Code > 299 {
		return nil, nil
	}
	path := strings.SplitN(req.ClientRequest.Request, "?", 2)[0]
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 3 || parts[len(parts)-3] != "containers" {
		return nil, nil
	}
	event := map[string]string{"start": "started", "stop": "stopped"}[parts[len(parts)-1]]
	if event == "" {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(r.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("registrar: %w", err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s %s %s\n", time.Now().UTC().Format(time.RFC3339), event, parts[len(parts)-2]); err != nil {
		return nil, fmt.Errorf("registrar: %w", err)
	}
	return nil, nil
}
