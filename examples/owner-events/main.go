// Command owner-events is a remote post-hook with the stream and caller
// extensions that gives each user of a shared daemon their own `docker
// events`: every event message is dropped unless it is about a container
// labelled owner=<the caller's uid>. The proxy must listen on a unix
// socket, where it knows the caller's uid.
//
//	go run ./examples/owner-events -listen 127.0.0.1:8085
//
//	endpoints:
//	  "GET /*/events":        # also matches the unversioned /events
//	    post: [owner-events]
//	adapters:
//	  owner-events:
//	    url: http://127.0.0.1:8085/
//	    extensions: [stream, caller]
//
// With the stream extension each message of the event stream is one
// post-hook call, as it arrives: Body is the message, StreamMessage its
// index. The adapter answers DropMessage to hide it. It speaks the wire
// protocol with its own types, as an adapter in any language does.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"strconv"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8085", "address to serve the adapter on")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*listen, Handler{Label: "owner"}))
}

// hookRequest is the part of the protocol's call this adapter reads.
type hookRequest struct {
	Type           string          `json:"Type"`
	ServerResponse *serverResponse `json:"ServerResponse"`
	Caller         *struct {
		UID *uint32 `json:"UID"`
	} `json:"Caller"`
	StreamMessage *struct {
		Index int `json:"Index"`
	} `json:"StreamMessage"`
}

type serverResponse struct {
	ContentType string  `json:"ContentType"`
	Body        *string `json:"Body"`
	Code        int     `json:"Code"`
}

// hookResponse is the adapter's answer: the message unchanged, or dropped.
type hookResponse struct {
	PowerstripProtocolVersion int  `json:"PowerstripProtocolVersion"`
	DropMessage               bool `json:"DropMessage,omitempty"`
}

// event is the part of a Docker event this adapter reads.
type event struct {
	Type  string `json:"Type"`
	Actor struct {
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
}

// Handler is the adapter. Label is the container label that names the
// owner's uid.
type Handler struct{ Label string }

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, `{"message":"adapters answer POST only"}`, http.StatusMethodNotAllowed)
		return
	}
	var req hookRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&req); err != nil {
		http.Error(w, `{"message":"not a protocol call"}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(hookResponse{PowerstripProtocolVersion: 2, DropMessage: h.drop(&req)}) //nolint:errcheck // the proxy hung up
}

// drop decides one message. Only a message of the event stream is judged:
// other calls (a pre-hook, the answer of a config mistake) pass unchanged.
// An event is shown only if it is about a container whose Label is the
// caller's uid; an unknown caller sees none, and events that are not about
// a container (images, networks, volumes) are hidden too, as they may be
// another user's. A message that is not an event (Docker's error message
// in the stream) passes, so the user learns why the stream ended.
func (h Handler) drop(req *hookRequest) bool {
	if req.Type != "post-hook" || req.StreamMessage == nil || req.ServerResponse == nil || req.ServerResponse.Body == nil {
		return false
	}
	var ev event
	if err := json.Unmarshal([]byte(*req.ServerResponse.Body), &ev); err != nil || ev.Type == "" {
		return false
	}
	if req.Caller == nil || req.Caller.UID == nil || ev.Type != "container" {
		return true
	}
	owner, ok := ev.Actor.Attributes[h.Label]
	return !ok || owner != strconv.FormatUint(uint64(*req.Caller.UID), 10)
}
