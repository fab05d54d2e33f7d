package policy

import (
	"encoding/json"
	"maps"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
)

// ownerLabelsOf decodes a rewritten create body as dockerd does and returns
// the labels the container would get.
func ownerLabelsOf(t *testing.T, route string, body *string) map[string]string {
	t.Helper()
	if body == nil {
		t.Fatal("no body")
	}
	v, err := decodeBody(route, body)
	if err != nil {
		t.Fatalf("the rewritten body %s: %v", *body, err)
	}
	switch b := v.(type) {
	case *CreateBody:
		return b.Config.Labels
	}
	var w struct{ Labels map[string]string }
	if err := json.Unmarshal([]byte(*body), &w); err != nil {
		t.Fatal(err)
	}
	return w.Labels
}

func TestOwnerStampsCreateBodies(t *testing.T) {
	h := ownerHook(t, newOwnerFakeDaemon(), nil)
	mine := map[string]string{DefaultOwnerLabel: ownerBob}
	with := func(kv ...string) map[string]string {
		m := maps.Clone(mine)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name, body string
		want       map[string]string
		keep       string // a member the rewrite must keep byte for byte
	}{
		{"no labels", `{"Image":"busybox"}`, mine, `"Image":"busybox"`},
		{"the caller's labels kept", `{"Image":"busybox","Labels":{"a":"1"}}`, with("a", "1"), ""},
		{"case variants merge as dockerd merges them", `{"labels":{"a":"1"},"Image":"x","LABELS":{"b":"2"}}`, with("a", "1", "b", "2"), `"Image":"x"`},
		{"a null empties the labels before it", `{"Labels":{"a":"1"},"labels":null,"lAbels":{"c":"3"}}`, with("c", "3"), ""},
		{"a long s folds to s", `{"Labelſ":{"a":"1"},"Image":"x"}`, with("a", "1"), ""},
		{"an escaped key", `{"L\u0061bels":{"a":"1"}}`, with("a", "1"), ""},
		{"the caller's owner label is overwritten", `{"Labels":{"org.powerstrip.owner":"uid:0","a":"1"}}`, with("a", "1"), ""},
		{"a later duplicate of the owner label too", `{"Labels":{"org.powerstrip.owner":"uid:1000"},"labels":{"org.powerstrip.owner":"uid:0"}}`, mine, ""},
		{"fields Docker's types do not know are kept", `{"Image":"x","FutureField":{"z":[1,2.50,"\u00e9"]}}`, mine, `"FutureField":{"z":[1,2.50,"\u00e9"]}`},
		{"nested labels are not the container's", `{"HostConfig":{"Labels":{"a":"1"}},"Image":"x"}`, mine, `"HostConfig":{"Labels":{"a":"1"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ownerRun(t, h, ownerUID(1000), "POST", "/v1.41/containers/create?name=web", c.body).must(t)
			if r.Request != "/v1.41/containers/create?name=web" || r.Method != "POST" {
				t.Errorf("request moved: %s %s", r.Method, r.Request)
			}
			if got := ownerLabelsOf(t, "container.create", r.Body); !reflect.DeepEqual(got, c.want) {
				t.Errorf("dockerd would label %v, want %v (body %s)", got, c.want, *r.Body)
			}
			if c.keep != "" && !strings.Contains(*r.Body, c.keep) {
				t.Errorf("%s lost from %s", c.keep, *r.Body)
			}
			var members map[string]json.RawMessage
			json.Unmarshal([]byte(*r.Body), &members) //nolint:errcheck
			for k := range members {
				if strings.EqualFold(k, "labels") && k != "Labels" {
					t.Errorf("a %q key is left in %s", k, *r.Body)
				}
			}
		})
	}
	for _, c := range []struct{ request, body string }{
		{"/v1.41/volumes/create", `{"Name":"newvol","labels":{"a":"1"},"DriverOpts":{}}`},
		{"/v1.41/networks/create", `{"Name":"newnet","Labels":{"a":"1"},"CheckDuplicate":true}`},
	} {
		r := ownerRun(t, h, ownerUID(1000), "POST", c.request, c.body).must(t)
		if got := ownerLabelsOf(t, "", r.Body); !reflect.DeepEqual(got, with("a", "1")) {
			t.Errorf("%s: labels %v", c.request, got)
		}
	}
}

func TestOwnerRefusesUnlabellableCreates(t *testing.T) {
	h := ownerHook(t, newOwnerFakeDaemon(), nil)
	for _, c := range []struct{ name, body, want string }{
		{"not JSON", `{"Image":`, "not JSON"},
		{"data after the value", `{"Image":"x"} {"Labels":{}}`, "after its JSON value"},
		{"not an object", `null`, "not a JSON object"},
		{"labels of the wrong type", `{"Labels":["a"]}`, "not JSON"},
	} {
		o := ownerRun(t, h, ownerUID(1000), "POST", "/v1.41/containers/create", c.body)
		if o.status != 400 || !strings.Contains(o.message, c.want) || !strings.HasPrefix(o.message, "owner: ") {
			t.Errorf("%s: %d %q", c.name, o.status, o.message)
		}
	}
	if o := ownerRun(t, h, ownerUID(1000), "POST", "/v1.41/volumes/create"); o.status != 400 {
		t.Errorf("a volume create without a body: %+v", o)
	}
}

// ownerFiltersOf is the filters a rewritten list call gives Docker.
func ownerFiltersOf(t *testing.T, r *powerstrip.ClientRequest) (map[string]map[string]bool, url.Values) {
	t.Helper()
	_, raw, _ := strings.Cut(r.Request, "?")
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(q["filters"]) != 1 {
		t.Fatalf("filters %q", q["filters"])
	}
	f, err := ownerParseFilters(q.Get("filters"))
	if err != nil {
		t.Fatal(err)
	}
	return f, q
}

func TestOwnerFiltersLists(t *testing.T) {
	h := ownerHook(t, newOwnerFakeDaemon(), nil)
	mine := "org.powerstrip.owner=uid:1000"
	cases := []struct {
		name, query string
		want        map[string]map[string]bool
	}{
		{"none", "all=1", map[string]map[string]bool{"label": {mine: true}}},
		{"the map form", "all=1&filters=" + url.QueryEscape(`{"label":{"a=1":true},"status":{"exited":true}}`),
			map[string]map[string]bool{"label": {"a=1": true, mine: true}, "status": {"exited": true}}},
		{"the list form", "filters=" + url.QueryEscape(`{"label":["a=1"],"name":["web"]}`),
			map[string]map[string]bool{"label": {"a=1": true, mine: true}, "name": {"web": true}}},
		{"the caller's own owner filter is ANDed with ours", "filters=" + url.QueryEscape(`{"label":["org.powerstrip.owner=uid:0"]}`),
			map[string]map[string]bool{"label": {"org.powerstrip.owner=uid:0": true, mine: true}}},
		{"Docker reads the first valid pair; so does the policy", "filters=%zz&filters=" + url.QueryEscape(`{"name":["a"]}`) + "&filters=" + url.QueryEscape(`{"name":["b"]}`),
			map[string]map[string]bool{"label": {mine: true}, "name": {"a": true}}},
		{"null", "filters=null", map[string]map[string]bool{"label": {mine: true}}},
	}
	for _, c := range cases {
		for _, route := range []string{"GET /v1.41/containers/json", "GET /v1.41/volumes", "GET /v1.41/networks", "GET /v1.41/events", "POST /v1.41/containers/prune"} {
			method, path, _ := strings.Cut(route, " ")
			r := ownerRun(t, h, ownerUID(1000), method, path+"?"+c.query).must(t)
			got, q := ownerFiltersOf(t, r)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s %s: filters %v, want %v", c.name, route, got, c.want)
			}
			if c.name == "none" && q.Get("all") != "1" {
				t.Errorf("%s: the other parameters lost: %s", route, r.Request)
			}
		}
	}
	o := ownerRun(t, h, ownerUID(1000), "GET", "/v1.41/containers/json?filters=%7Bnot")
	if o.status != 400 || !strings.Contains(o.message, "filters") {
		t.Errorf("malformed filters: %+v", o)
	}
}

func TestOwnerObjects(t *testing.T) {
	d := newOwnerFakeDaemon()
	h := ownerHook(t, d, nil)
	cases := []struct {
		name, method, request, body string
		caller                      *powerstrip.Caller
		status                      int    // 0: let through
		message                     string // of the refusal
		to                          string // the request rewritten to, if it is
	}{
		{"another's container", "GET", "/v1.41/containers/alicebox/json", "", ownerUID(1000), 404, "No such container: alicebox (owner: not among the caller's containers)", ""},
		{"no such container reads the same", "GET", "/v1.41/containers/ghost/json", "", ownerUID(1000), 404, "No such container: ghost (owner: not among the caller's containers)", ""},
		{"an unlabelled container is no one's", "POST", "/v1.41/containers/nobody/start", "", ownerUID(1000), 404, "No such container: nobody", ""},
		{"one's own, pinned to its ID", "POST", "/v1.41/containers/bobbox/stop?t=1", "", ownerUID(1000), 0, "", "/v1.41/containers/" + ownerBobID + "/stop?t=1"},
		{"an ID prefix, pinned", "DELETE", "/containers/bbbb2222?force=1", "", ownerUID(1000), 0, "", "/containers/" + ownerBobID + "?force=1"},
		{"the owner of the other", "GET", "/v1.41/containers/alicebox/logs?follow=1", "", ownerUID(0), 0, "", "/v1.41/containers/" + ownerAliceID + "/logs?follow=1"},
		{"a checkpoint's container", "DELETE", "/v1.41/containers/alicebox/checkpoints/c1", "", ownerUID(1000), 404, "No such container: alicebox", ""},
		{"an exec in another's container", "POST", "/v1.41/exec/e1/start", `{"Detach":false}`, ownerUID(1000), 404, "No such exec instance: e1", ""},
		{"an exec in one's own", "POST", "/v1.41/exec/e2/resize?h=1&w=1", "", ownerUID(1000), 0, "", ""},
		{"another's volume", "DELETE", "/v1.41/volumes/alicevol", "", ownerUID(1000), 404, "get alicevol: no such volume", ""},
		{"one's own volume", "GET", "/v1.41/volumes/bobvol", "", ownerUID(1000), 0, "", ""},
		{"another's network", "GET", "/v1.41/networks/alicenet", "", ownerUID(1000), 404, "network alicenet not found", ""},
		{"a shared network", "GET", "/v1.41/networks/bridge", "", ownerUID(1000), 0, "", "/v1.41/networks/n1"},
		{"connecting another's container to one's network", "POST", "/v1.41/networks/bobnet/connect", `{"Container":"alicebox"}`, ownerUID(1000), 404, "No such container: alicebox", ""},
		{"connecting one's container to a shared network", "POST", "/v1.41/networks/bridge/connect", `{"container":"bobbox"}`, ownerUID(1000), 0, "", "/v1.41/networks/n1/connect"},
		{"connecting no container", "POST", "/v1.41/networks/bobnet/connect", `{}`, ownerUID(1000), 404, "No such container: ", ""},
		{"committing another's container", "POST", "/v1.41/commit?container=alicebox&repo=x", "", ownerUID(1000), 404, "No such container: alicebox", ""},
		{"building in another's network namespace", "POST", "/v1.41/build?networkmode=container:alicebox", "", ownerUID(1000), 404, "No such container: alicebox", ""},
		{"an old start's host config naming another's container", "POST", "/v1.20/containers/bobbox/start", `{"VolumesFrom":["alicebox"]}`, ownerUID(1000), 404, "No such container: alicebox", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var o ownerOutcome
			if c.body != "" {
				o = ownerRun(t, h, c.caller, c.method, c.request, c.body)
			} else {
				o = ownerRun(t, h, c.caller, c.method, c.request)
			}
			if o.status != c.status || !strings.HasPrefix(o.message, c.message) {
				t.Fatalf("got %d %q, want %d %q", o.status, o.message, c.status, c.message)
			}
			switch {
			case c.to == "" && o.request != nil:
				t.Errorf("rewritten to %s", o.request.Request)
			case c.to != "" && (o.request == nil || o.request.Request != c.to):
				t.Errorf("rewritten to %+v, want %s", o.request, c.to)
			case o.request != nil && (o.request.Body == nil) != (c.body == ""):
				t.Errorf("the body changed: %v", o.request.Body)
			}
		})
	}
}

func TestOwnerCreateReferences(t *testing.T) {
	d := newOwnerFakeDaemon()
	h := ownerHook(t, d, nil)
	refused := map[string]string{
		`{"Image":"x","HostConfig":{"VolumesFrom":["alicebox:ro"]}}`:                   "No such container: alicebox",
		`{"Image":"x","HostConfig":{"Links":["/alicebox:/web/db"]}}`:                   "No such container: alicebox",
		`{"Image":"x","HostConfig":{"NetworkMode":"container:alicebox"}}`:              "No such container: alicebox",
		`{"Image":"x","HostConfig":{"PidMode":"container:` + ownerAliceID[:12] + `"}}`: "No such container: " + ownerAliceID[:12],
		`{"Image":"x","HostConfig":{"IpcMode":"container:alicebox"}}`:                  "No such container: alicebox",
		`{"Image":"x","HostConfig":{"NetworkMode":"alicenet"}}`:                        "network alicenet not found",
		`{"Image":"x","NetworkingConfig":{"EndpointsConfig":{"alicenet":{}}}}`:         "network alicenet not found",
		// dockerd joins an endpoint's NetworkID, whatever its key says.
		`{"Image":"x","HostConfig":{"NetworkMode":"bobnet"},"NetworkingConfig":{"EndpointsConfig":{"bobnet":{"NetworkID":"alicenet"}}}}`: "network alicenet not found",
		`{"Image":"x","HostConfig":{"Binds":["alicevol:/data"]}}`:                                                                        "get alicevol: no such volume",
		`{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"alicevol","Target":"/d"}]}}`:                                    "get alicevol: no such volume",
		// dockerd 20.10 reads host config fields at the top level too.
		`{"Image":"x","VolumesFrom":["alicebox"]}`: "No such container: alicebox",
	}
	for body, want := range refused {
		if o := ownerRun(t, h, ownerUID(1000), "POST", "/v1.41/containers/create", body); o.status != 404 || !strings.HasPrefix(o.message, want) {
			t.Errorf("%s: %d %q, want 404 %q", body, o.status, o.message, want)
		}
	}
	allowed := []string{
		`{"Image":"x","HostConfig":{"VolumesFrom":["bobbox"],"NetworkMode":"bobnet","Binds":["bobvol:/d","/etc:/h:ro"]}}`,
		`{"Image":"x","HostConfig":{"NetworkMode":"host"},"NetworkingConfig":{"EndpointsConfig":{"bridge":{}}}}`,
		`{"Image":"x","HostConfig":{"NetworkMode":"default"},"NetworkingConfig":{"EndpointsConfig":{"default":{}}}}`,
		`{"Image":"x","HostConfig":{"Binds":["freshvol:/d"]}}`,
	}
	for _, body := range allowed {
		r := ownerRun(t, h, ownerUID(1000), "POST", "/v1.41/containers/create", body).must(t)
		if got := ownerLabelsOf(t, "container.create", r.Body)[DefaultOwnerLabel]; got != ownerBob {
			t.Errorf("%s: owner %q", body, got)
		}
	}
	// The named volume a create mounts is made first, as the caller's.
	if v, ok := d.volume("freshvol"); !ok || v.Owner != ownerBob {
		t.Errorf("freshvol: %+v %v", v, ok)
	}
	if o := ownerRun(t, h, ownerUID(1000), "POST", "/v1.41/volumes/create", `{"Name":"alicevol"}`); o.status != 409 {
		t.Errorf("a volume create of another's name: %+v", o)
	}
	// Networks: a second network of another's network's name (Docker
	// keeps both; a container joins by name at start), a connect whose
	// endpoint names another's network by ID, a build on another's network.
	if o := ownerRun(t, h, ownerUID(1000), "POST", "/v1.41/networks/create", `{"Name":"alicenet","CheckDuplicate":false}`); o.status != 409 || !strings.Contains(o.message, `the network name "alicenet" is taken`) {
		t.Errorf("a network create of another's name: %+v", o)
	}
	if o := ownerRun(t, h, ownerUID(1000), "POST", "/v1.41/networks/bobnet/connect", `{"Container":"bobbox","EndpointConfig":{"NetworkID":"alicenet"}}`); o.status != 404 || !strings.HasPrefix(o.message, "network alicenet not found") {
		t.Errorf("a connect whose endpoint names another's network: %+v", o)
	}
	if o := ownerRun(t, h, ownerUID(1000), "POST", "/v1.41/build?networkmode=alicenet", ""); o.status != 404 || !strings.HasPrefix(o.message, "network alicenet not found") {
		t.Errorf("a build on another's network: %+v", o)
	}
	if o := ownerRun(t, h, ownerUID(1000), "POST", "/v1.41/build?networkmode=bobnet", ""); o.status != 0 {
		t.Errorf("a build on one's own network: %+v", o)
	}
}

func TestOwnerCallersAndRoutes(t *testing.T) {
	h := ownerHook(t, newOwnerFakeDaemon(), map[string]powerstrip.PolicyOption{
		"admins": {Values: []string{"uid:7", "tls:CN=root"}, List: true},
	})
	ownerAlice := &powerstrip.Caller{TLSSubject: "CN=alice,O=ops"}
	cases := []struct {
		name    string
		caller  *powerstrip.Caller
		method  string
		request string
		status  int
	}{
		{"no caller", nil, "GET", "/_ping", 403},
		{"a caller with neither uid nor subject", &powerstrip.Caller{}, "GET", "/_ping", 403},
		{"ping", ownerUID(1000), "GET", "/_ping", 0},
		{"an admin's list passes unchanged", ownerUID(7), "GET", "/v1.41/containers/json", 0},
		{"an admin by subject", &powerstrip.Caller{TLSSubject: "CN=root"}, "DELETE", "/v1.41/images/busybox", 0},
		{"deleting a shared image", ownerUID(1000), "DELETE", "/v1.41/images/busybox", 403},
		{"pruning images", ownerAlice, "POST", "/v1.41/images/prune", 403},
		{"disk usage lists every user's objects", ownerUID(1000), "GET", "/v1.41/system/df", 403},
		{"swarm services", ownerUID(1000), "GET", "/v1.41/services", 403},
		{"libpod", ownerUID(1000), "GET", "/v4.0.0/libpod/containers/json", 403},
		{"a path no route has", ownerUID(1000), "GET", "/v1.41/nothing/here", 404},
		{"pulling", ownerUID(1000), "POST", "/v1.41/images/create?fromImage=busybox", 0},
	}
	for _, c := range cases {
		o := ownerRun(t, h, c.caller, c.method, c.request)
		if o.status != c.status || o.request != nil || c.status != 0 && !strings.HasPrefix(o.message, "owner: ") {
			t.Errorf("%s: %+v, want %d", c.name, o, c.status)
		}
	}
	// A form body would override the query Docker reads the filters from.
	req := powerstrip.ClientRequest{Method: "POST", Request: "/v1.41/containers/prune", Headers: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}}}
	o, err := h.ServeHook(t.Context(), &powerstrip.HookRequest{Type: powerstrip.PreHook, ClientRequest: req, Caller: ownerUID(1000), BodyUnseen: true})
	if err == nil || !strings.Contains(err.Error(), "form body") {
		t.Errorf("a form-encoded prune: %v %v", o, err)
	}
}

func TestOwnerKeys(t *testing.T) {
	both := &powerstrip.Caller{UID: new(uint32), TLSSubject: "CN=alice"}
	*both.UID = 1000
	for key, want := range map[string]string{"auto": "uid:1000", "uid": "uid:1000", "tls": "tls:CN=alice"} {
		h := ownerHook(t, newOwnerFakeDaemon(), map[string]powerstrip.PolicyOption{"key": {Values: []string{key}}})
		r := ownerRun(t, h, both, "POST", "/v1.41/volumes/create", `{}`).must(t)
		if got := ownerLabelsOf(t, "", r.Body)[DefaultOwnerLabel]; got != want {
			t.Errorf("key %s: owner %q, want %q", key, got, want)
		}
	}
	h := ownerHook(t, newOwnerFakeDaemon(), map[string]powerstrip.PolicyOption{"key": {Values: []string{"tls"}}, "label": {Values: []string{"team.owner"}}})
	if o := ownerRun(t, h, ownerUID(1000), "GET", "/_ping"); o.status != 403 || !strings.Contains(o.message, "no identity") {
		t.Errorf("key tls, a uid caller: %+v", o)
	}
	r := ownerRun(t, h, &powerstrip.Caller{TLSSubject: "CN=bob"}, "GET", "/volumes").must(t)
	if f, _ := ownerFiltersOf(t, r); !f["label"]["team.owner=tls:CN=bob"] {
		t.Errorf("label option: %v", f)
	}
}

func TestOwnerOptions(t *testing.T) {
	bad := map[string]map[string]powerstrip.PolicyOption{
		"key":    {"key": {Values: []string{"gid"}}},
		"admins": {"admins": {Values: []string{"root"}, List: true}},
		"label":  {"label": {Values: []string{"a=b"}}},
		"other":  {"allow": {Values: []string{"x"}}},
	}
	for name, opts := range bad {
		_, err := New().CompilePolicy("owner", powerstrip.PolicySettings{Builtin: "owner", Options: opts}, powerstrip.PolicyEnv{Docker: ownerTripper{}})
		if err == nil || !strings.Contains(err.Error(), `adapter "owner"`) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Every Docker route has a treatment, and every treatment a route: a route
// added to the table is refused until it is given one.
func TestOwnerRoutesCoverTheTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range powerstrip.Routes() {
		if r.Libpod {
			continue
		}
		seen[r.Name] = true
		if _, ok := ownerRoutes[r.Name]; !ok {
			t.Errorf("route %s has no treatment", r.Name)
		}
		if ownerRoutes[r.Name].act == ownActObject && !strings.Contains(r.Path, "{") {
			t.Errorf("route %s names no object", r.Name)
		}
	}
	for name := range ownerRoutes {
		if !seen[name] {
			t.Errorf("treatment of %s, which is no route", name)
		}
	}
}

func TestPathObject(t *testing.T) {
	cases := []struct{ template, path, version, name, rebuilt string }{
		{"/containers/{name:.*}/json", "/v1.41/containers/web/json", "1.41", "web", "/v1.41/containers/ID/json"},
		{"/containers/{name:.*}", "/containers/web", "", "web", "/containers/ID"},
		{"/containers/{name:.*}/archive", "/v1.41/containers/a/b/archive", "1.41", "a/b", "/v1.41/containers/ID/archive"},
		{"/containers/{name}/checkpoints/{checkpoint}", "/v1.41/containers/web/checkpoints/c1", "1.41", "web", "/v1.41/containers/ID/checkpoints/c1"},
		{"/networks/{id:.+}", "/v1.41/networks/n", "1.41", "n", "/v1.41/networks/ID"},
	}
	for _, c := range cases {
		name, rebuild, ok := ownerPathObject(c.template, c.path, c.version)
		if !ok || name != c.name || rebuild("ID") != c.rebuilt {
			t.Errorf("%s %s: %q %v", c.template, c.path, name, ok)
		}
	}
}
