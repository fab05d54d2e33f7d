package policy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/powerstrip-go/powerstrip"
)

// The owner policy's tests run against fakeDocker, a daemon that knows a
// few objects and answers their inspects as Docker does.

const (
	ownerAliceID = "aaaa1111aaaa1111aaaa1111aaaa1111aaaa1111aaaa1111aaaa1111aaaa1111"
	ownerBobID   = "bbbb2222bbbb2222bbbb2222bbbb2222bbbb2222bbbb2222bbbb2222bbbb2222"
	ownerAlice   = "uid:0"
	ownerBob     = "uid:1000"
)

// ownerFakeObject is one object of the fake daemon.
type ownerFakeObject struct {
	ID, Name, Owner, ContainerID string
}

// ownerFakeDaemon is the fake daemon.
type ownerFakeDaemon struct {
	mu         sync.Mutex
	containers []ownerFakeObject
	networks   []ownerFakeObject
	volumes    []ownerFakeObject
	execs      []ownerFakeObject
	calls      []string // "GET /containers/x/json"
}

func newOwnerFakeDaemon() *ownerFakeDaemon {
	return &ownerFakeDaemon{
		containers: []ownerFakeObject{{ID: ownerAliceID, Name: "alicebox", Owner: ownerAlice}, {ID: ownerBobID, Name: "bobbox", Owner: ownerBob}, {ID: "cccc", Name: "nobody"}},
		networks:   []ownerFakeObject{{ID: "n1", Name: "bridge"}, {ID: "n2", Name: "alicenet", Owner: ownerAlice}, {ID: "n3", Name: "bobnet", Owner: ownerBob}},
		volumes:    []ownerFakeObject{{Name: "alicevol", Owner: ownerAlice}, {Name: "bobvol", Owner: ownerBob}},
		execs:      []ownerFakeObject{{ID: "e1", ContainerID: ownerAliceID}, {ID: "e2", ContainerID: ownerBobID}},
	}
}

// ownerFind resolves a name as Docker does: full ID, name, ID prefix.
func ownerFind(objs []ownerFakeObject, name string) (ownerFakeObject, bool) {
	for _, o := range objs {
		if o.ID == name || o.Name == name || o.ID != "" && strings.HasPrefix(o.ID, name) {
			return o, true
		}
	}
	return ownerFakeObject{}, false
}

func ownerFakeLabels(o ownerFakeObject) map[string]string {
	if o.Owner == "" {
		return map[string]string{"other": "x"}
	}
	return map[string]string{DefaultOwnerLabel: o.Owner, "other": "x"}
}

func (d *ownerFakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, r.Method+" "+r.URL.Path)
	w.Header().Set("Content-Type", "application/json")
	p := r.URL.Path
	var answer any
	var ok bool
	switch {
	case r.Method == "POST" && p == "/volumes/create":
		d.createVolume(w, r)
		return
	case strings.HasPrefix(p, "/containers/") && strings.HasSuffix(p, "/json"):
		var o ownerFakeObject
		if o, ok = ownerFind(d.containers, strings.TrimSuffix(strings.TrimPrefix(p, "/containers/"), "/json")); ok {
			answer = map[string]any{"Id": o.ID, "Name": "/" + o.Name, "Config": map[string]any{"Labels": ownerFakeLabels(o)}}
		}
	case strings.HasPrefix(p, "/networks/"):
		var o ownerFakeObject
		if o, ok = ownerFind(d.networks, strings.TrimPrefix(p, "/networks/")); ok {
			answer = map[string]any{"Id": o.ID, "Name": o.Name, "Labels": ownerFakeLabels(o)}
		}
	case strings.HasPrefix(p, "/volumes/"):
		var o ownerFakeObject
		if o, ok = ownerFind(d.volumes, strings.TrimPrefix(p, "/volumes/")); ok {
			answer = map[string]any{"Name": o.Name, "Labels": ownerFakeLabels(o)}
		}
	case strings.HasPrefix(p, "/exec/"):
		var o ownerFakeObject
		if o, ok = ownerFind(d.execs, strings.TrimSuffix(strings.TrimPrefix(p, "/exec/"), "/json")); ok {
			answer = map[string]any{"ID": o.ID, "ContainerID": o.ContainerID}
		}
	}
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"message": "not found"}) //nolint:errcheck
		return
	}
	json.NewEncoder(w).Encode(answer) //nolint:errcheck
}

// createVolume answers a volume create as Docker does: an existing name is
// answered with that volume, unchanged.
func (d *ownerFakeDaemon) createVolume(w http.ResponseWriter, r *http.Request) {
	var spec struct {
		Name   string
		Labels map[string]string
	}
	if err := json.NewDecoder(r.Body).Decode(&spec); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	o, ok := ownerFind(d.volumes, spec.Name)
	if !ok {
		o = ownerFakeObject{Name: spec.Name, Owner: spec.Labels[DefaultOwnerLabel]}
		d.volumes = append(d.volumes, o)
	}
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"Name": o.Name, "Labels": ownerFakeLabels(o)}) //nolint:errcheck
}

func (d *ownerFakeDaemon) volume(name string) (ownerFakeObject, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return ownerFind(d.volumes, name)
}

// ownerTripper sends the policy's lookups to a test server.
type ownerTripper struct{ url *url.URL }

func (t ownerTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = t.url.Scheme, t.url.Host
	return http.DefaultTransport.RoundTrip(r)
}

// ownerHook compiles an owner policy in front of the fake daemon d.
func ownerHook(t *testing.T, d http.Handler, opts map[string]powerstrip.PolicyOption) powerstrip.Hook {
	t.Helper()
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	h, err := New().CompilePolicy("owner", powerstrip.PolicySettings{Builtin: "owner", Options: opts},
		powerstrip.PolicyEnv{Docker: ownerTripper{u}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// ownerOutcome is what a call came to: rewritten, refused, or passed.
type ownerOutcome struct {
	request *powerstrip.ClientRequest // nil: passed unchanged
	status  int                       // of a refusal
	message string                    // of a refusal
}

func ownerUID(n uint32) *powerstrip.Caller { return &powerstrip.Caller{UID: &n} }

// ownerRun sends one pre-hook call.
func ownerRun(t *testing.T, h powerstrip.Hook, caller *powerstrip.Caller, method, request string, body ...string) ownerOutcome {
	t.Helper()
	cr := powerstrip.ClientRequest{Method: method, Request: request, Headers: http.Header{}}
	if len(body) > 0 {
		cr.Body = &body[0]
		cr.Headers.Set("Content-Type", "application/json")
	}
	resp, err := h.ServeHook(context.Background(), &powerstrip.HookRequest{
		PowerstripProtocolVersion: powerstrip.ProtocolVersionExtended, Type: powerstrip.PreHook,
		ClientRequest: cr, Caller: caller})
	var rej *powerstrip.Rejection
	switch {
	case errors.As(err, &rej):
		var m struct{ Message string }
		json.Unmarshal(rej.Body, &m) //nolint:errcheck
		return ownerOutcome{status: rej.Code, message: m.Message}
	case err != nil:
		t.Fatalf("%s %s: %v", method, request, err)
	case resp == nil:
		return ownerOutcome{}
	}
	return ownerOutcome{request: resp.ModifiedClientRequest}
}

// must is the rewritten request of o, failing the test if it has none.
func (o ownerOutcome) must(t *testing.T) *powerstrip.ClientRequest {
	t.Helper()
	if o.request == nil {
		t.Fatalf("not rewritten: %+v", o)
	}
	return o.request
}
