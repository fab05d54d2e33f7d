// Command slowreq is the original Powerstrip demo as a remote adapter: it
// delays every call it is configured on by a second, then lets it through
// unchanged. Run it, and point an endpoint at it:
//
//	go run ./examples/slowreq -listen 127.0.0.1:8081
//
//	version: 1
//	endpoints:
//	  "POST /*/containers/create":
//	    pre: [slowreq]
//	adapters:
//	  slowreq: http://127.0.0.1:8081/slowreq-adapter
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/powerstrip-go/powerstrip"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve the adapter on")
	delay := flag.Duration("delay", time.Second, "how long to hold each call")
	flag.Parse()
	http.Handle("/slowreq-adapter", handler(*delay))
	log.Fatal(http.ListenAndServe(*listen, nil))
}

// handler answers protocol v1: it holds the call for delay (or until the
// proxy gives up on it), then returns it unchanged.
func handler(delay time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req powerstrip.HookRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"message":"slowreq: not a protocol v1 call"}`, http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(powerstrip.HookResponse{
			PowerstripProtocolVersion: powerstrip.ProtocolVersion,
			ModifiedClientRequest:     &req.ClientRequest,
		})
	})
}
