package powerstrip

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const policyConfig = `version: 1
endpoints:
  "route container.create":
    pre: [guard, no-priv, mounts]
adapters:
  guard:
    rules:
      - expr: "!(request.body.HostConfig.Privileged == true)"
        message: "privileged containers are not allowed"
        action: deny
      - expr: "request.method == 'POST'"
        action: warn
        routes: [container.*]
    dryRun: true
  no-priv:
    builtin: no-privileged
    failurePolicy: ignore
  mounts:
    builtin: bind-mounts
    allow: [/srv, /data]
    symlinks: resolve
`

func TestParseConfigPolicies(t *testing.T) {
	cfg, err := ParseConfig([]byte(policyConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Version:   1,
		Endpoints: []Endpoint{{Route: "container.create", Pre: []string{"guard", "no-priv", "mounts"}, Line: 3}},
		Adapters: map[string]AdapterSettings{
			"guard": {Policy: &PolicySettings{Line: 7, Rules: []Rule{
				{Expr: "!(request.body.HostConfig.Privileged == true)", Message: "privileged containers are not allowed", Action: "deny", Line: 8},
				{Expr: "request.method == 'POST'", Action: "warn", Routes: []string{"container.*"}, Line: 11},
			}}, HookSettings: HookSettings{DryRun: true}},
			"no-priv": {Policy: &PolicySettings{Builtin: "no-privileged", Line: 16}, HookSettings: HookSettings{FailurePolicy: FailOpen}},
			"mounts": {Policy: &PolicySettings{Builtin: "bind-mounts", Line: 19, Options: map[string]PolicyOption{
				"allow":    {Values: []string{"/srv", "/data"}, List: true, Line: 20},
				"symlinks": {Values: []string{"resolve"}, Line: 21},
			}}},
		},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
	if got := cfg.Endpoints[0].Key(); got != "route container.create" {
		t.Errorf("Key() = %q", got)
	}
}

func TestParseConfigPolicyErrors(t *testing.T) {
	head := "endpoints: {}\nadapters:\n  p:\n"
	cases := map[string]string{
		"    url: http://x/\n    builtin: no-privileged\n":                 "line 4: adapter \"p\": a policy (rules or builtin) has no url",
		"    builtin: no-privileged\n    extensions: [headers]\n":          "line 5: adapter \"p\": a policy (rules or builtin) has no extensions",
		"    rules:\n      - expr: 'true'\n        when: x\n":              "line 6: adapter \"p\": rule 1: unknown key \"when\"",
		"    rules:\n      - expr: 'true'\n        action: block\n":        "action \"block\" is not deny, warn or audit",
		"    rules:\n      - message: m\n":                                 "rule 1: missing expr",
		"    rules:\n      - expr: 'true'\n        routes: [containr.*]\n": "route \"containr.*\" matches no route",
		"    rules:\n      - expr: 'true'\n    allow: [x]\n":               "line 6: adapter \"p\": unknown key \"allow\"",
		"    rules: []\n": "rules must be a list of rules",
		"    builtin: no-privileged\n    rules:\n      - expr: 'true'\n": "a policy has either rules or builtin",
		"    builtin: [no-privileged]\n":                                 "builtin must name a built-in policy",
		"    builtin: bind-mounts\n    allow: {a: b}\n":                  "allow must be a value or a list of values",
		"    builtin: x\n    timeout: fast\n":                            "timeout \"fast\" is not a positive duration",
	}
	for body, want := range cases {
		_, err := ParseConfig([]byte(head + body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", body, err, want)
		}
	}
	_, err := ParseConfig([]byte("endpoints:\n  \"route contaner.create\":\n    pre: [p]\nadapters: {}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "matches no route") {
		t.Errorf("misspelt route endpoint: %v", err)
	}
}

// A config with a policy and no compiler is refused by New, naming the
// policy's line, rather than served without the policy.
func TestNewRefusesPoliciesWithoutCompiler(t *testing.T) {
	cfg, err := ParseConfig([]byte(policyConfig))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg)
	if err == nil || !strings.Contains(err.Error(), "no policy compiler") || !strings.Contains(err.Error(), "line ") {
		t.Fatalf("New without WithPolicies: %v", err)
	}
}

// fakeCompiler makes every policy a recorder, and answers with fn.
type fakeCompiler struct {
	hooks map[string]*recorder
	fn    func(*HookRequest) (*HookResponse, error)
	env   PolicyEnv
}

func (f *fakeCompiler) CompilePolicy(name string, _ PolicySettings, env PolicyEnv) (Hook, error) {
	if f.hooks == nil {
		f.hooks = map[string]*recorder{}
	}
	f.env = env
	r := &recorder{fn: f.fn}
	f.hooks[name] = r
	return r, nil
}

// A route endpoint catches every path that reaches the route's effect:
// the route itself, its aliases and libpod's, in every spelling, and
// nothing else.
func TestRouteEndpointCatchesAliases(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(204, ""))
	fc := &fakeCompiler{}
	srv := proxyFromYAML(t, `endpoints:
  "route container.start":
    pre: [p]
adapters:
  p:
    builtin: anything
`, WithPolicies(fc), WithUpstream(docker.upstream()))
	hooked := []string{
		"/v1.41/containers/web/start", "/containers/web/start", "/v1.41/containers/web/restart",
		"/v1.041/containers/web//restart", "/v4.0.0/libpod/containers/web/start", "/v4.0.0/libpod/containers/web/restart",
		"/v1.41/containers/a/b/start",
	}
	for _, p := range hooked {
		do(t, srv, "POST", p, "", "")
	}
	for _, p := range []string{"/v1.41/containers/web/stop", "/v1.41/containers/web/json", "/v1.41/start"} {
		do(t, srv, "POST", p, "", "")
	}
	var saw []string
	for _, r := range fc.hooks["p"].requests() {
		saw = append(saw, r.ClientRequest.Request)
		if r.PowerstripProtocolVersion != ProtocolVersionExtended || r.ClientRequest.Headers == nil {
			t.Errorf("a policy must be shown headers (v2): %+v", r)
		}
	}
	if len(saw) != len(hooked) {
		t.Errorf("hooked %d calls, want %d: %q", len(saw), len(hooked), saw)
	}
	if fc.env.Docker == nil || fc.env.Logger == nil || fc.env.DaemonLocal {
		t.Errorf("PolicyEnv = %+v: want Docker and Logger, and DaemonLocal false for a tcp daemon", fc.env)
	}
}

// A body the hooks are not shown is flagged, so a policy can refuse what it
// cannot see; a JSON body is shown and not flagged.
func TestBodyUnseenFlag(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{"Id":"x","Warnings":[]}`))
	fc := &fakeCompiler{}
	srv := proxyFromYAML(t, "endpoints:\n  \"route container.create\":\n    pre: [p]\nadapters:\n  p:\n    builtin: x\n",
		WithPolicies(fc), WithUpstream(docker.upstream()))
	do(t, srv, "POST", "/v1.41/containers/create", "text/plain", `{"HostConfig":{"Privileged":true}}`)
	do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{"Image":"x"}`)
	do(t, srv, "POST", "/v1.41/containers/create", "", "")
	reqs := fc.hooks["p"].requests()
	if len(reqs) != 3 {
		t.Fatalf("%d calls", len(reqs))
	}
	if !reqs[0].BodyUnseen || reqs[0].ClientRequest.Body != nil {
		t.Errorf("text/plain body: BodyUnseen %v, Body %v", reqs[0].BodyUnseen, reqs[0].ClientRequest.Body)
	}
	if reqs[1].BodyUnseen || BodyText(reqs[1].ClientRequest.Body) != `{"Image":"x"}` {
		t.Errorf("JSON body: %+v", reqs[1])
	}
	if reqs[2].BodyUnseen {
		t.Errorf("no body flagged as unseen")
	}
}

// Warnings a pre-hook gives reach the client inside Docker's answer, where
// the docker CLI prints them, and an answer without room is left as it is.
func TestHookWarningsReachTheAnswer(t *testing.T) {
	cases := []struct{ reply, want string }{
		{`{"Id":"abc","Warnings":null}`, `{"Id":"abc","Warnings":["p: careful"]}`},
		{`{"Id":"abc","Warnings":["daemon says"]}`, `{"Id":"abc","Warnings":["daemon says","p: careful"]}`},
		{`{"Id":"abc","Warning":""}`, `{"Id":"abc","Warning":"p: careful"}`},
		{`{"Id":"abc"}`, `{"Id":"abc"}`},
		{`[1,2]`, `[1,2]`},
	}
	for _, tc := range cases {
		docker := newFakeDocker(t, jsonReply(201, tc.reply))
		fc := &fakeCompiler{fn: func(*HookRequest) (*HookResponse, error) {
			return &HookResponse{Warnings: []string{"p: careful"}}, nil
		}}
		srv := proxyFromYAML(t, "endpoints:\n  \"route container.create\":\n    pre: [p]\nadapters:\n  p:\n    builtin: x\n",
			WithPolicies(fc), WithUpstream(docker.upstream()))
		got := do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{"Image":"x"}`)
		if got.Code != 201 || !jsonSame(got.Body, tc.want) || got.ContentLength != int64(len(got.Body)) {
			t.Errorf("reply %s: got %d %s (length %d), want %s", tc.reply, got.Code, got.Body, got.ContentLength, tc.want)
		}
	}
}

func jsonSame(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && cmp.Equal(x, y)
}

// A v1 adapter never sees the v2 fields, whatever the body.
func TestV1AdapterSeesNoBodyUnseen(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{}`))
	rec := &recorder{}
	srv := buildProxy(t, "http", "  \"POST /*/containers/create\":\n    pre: [a]\n", map[string]Hook{"a": rec}, WithUpstream(docker.upstream()))
	do(t, srv, "POST", "/v1.41/containers/create", "text/plain", `x`)
	for _, r := range rec.requests() {
		if r.BodyUnseen {
			t.Errorf("a v1 adapter was sent BodyUnseen")
		}
	}
}

type scopedCompiler struct{}

type scopedHook struct{ recorder }

func (*scopedHook) Routes() []string { return []string{"container.create"} }

func (scopedCompiler) CompilePolicy(string, PolicySettings, PolicyEnv) (Hook, error) {
	return &scopedHook{}, nil
}

// A policy listed on a path glob that misses some of its routes is warned
// about, naming them; listed on its route, it is not.
func TestPolicyCoverageWarning(t *testing.T) {
	for key, want := range map[string]string{
		`"POST /*/containers/create"`: `libpod.container.create`,
		`"route container.create"`:    "",
		`"route *"`:                   "",
	} {
		var logs strings.Builder
		cfg, err := ParseConfig([]byte("endpoints:\n  " + key + ":\n    pre: [p]\nadapters:\n  p:\n    builtin: x\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(cfg, WithPolicies(scopedCompiler{}), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		if err != nil {
			t.Fatal(err)
		}
		got := logs.String()
		if want == "" && strings.Contains(got, "do not reach") || want != "" && !strings.Contains(got, "libpod.container.create") {
			t.Errorf("%s: log %q, want %q", key, got, want)
		}
	}
}

// A remote adapter with any extension gets BodyUnseen and may answer
// Warnings, as an in-process policy does.
func TestRemoteAdapterBodyUnseenAndWarnings(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{"Id":"abc","Warnings":[]}`))
	rec := &recorder{fn: func(*HookRequest) (*HookResponse, error) {
		return &HookResponse{Warnings: []string{"remote: careful"}}, nil
	}}
	adapter := httptest.NewServer(NewAdapterHandler(rec))
	t.Cleanup(adapter.Close)
	srv := proxyFromYAML(t, "endpoints:\n  \"POST /*/containers/create\":\n    pre: [a]\nadapters:\n  a:\n    url: "+adapter.URL+"\n    extensions: [caller]\n",
		WithUpstream(docker.upstream()))
	got := do(t, srv, "POST", "/v1.41/containers/create", "text/plain", `{"Image":"x"}`)
	if got.Code != 201 || got.Body != `{"Id":"abc","Warnings":["remote: careful"]}` {
		t.Errorf("answer: %d %s", got.Code, got.Body)
	}
	reqs := rec.requests()
	if len(reqs) != 1 || !reqs[0].BodyUnseen || reqs[0].PowerstripProtocolVersion != ProtocolVersionExtended {
		t.Errorf("the adapter saw %+v", reqs)
	}
}

// Podman's client sends its JSON bodies with no Content-Type, and Podman
// reads them as JSON: on the libpod routes that do, such a body is shown
// to the hooks. Docker refuses a body without one, so on its routes the
// body stays unseen (and flagged).
func TestLibpodBodiesWithoutContentType(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{"Id":"x"}`))
	fc := &fakeCompiler{}
	srv := proxyFromYAML(t, "endpoints:\n  \"route *\":\n    pre: [p]\nadapters:\n  p:\n    builtin: x\n",
		WithPolicies(fc), WithUpstream(docker.upstream()))
	do(t, srv, "POST", "/v4.3.1/libpod/containers/create", "", `{"privileged":true}`)
	do(t, srv, "POST", "/v1.41/containers/create", "", `{"Privileged":true}`)
	do(t, srv, "POST", "/v4.3.1/libpod/images/load", "", `not json`)
	reqs := fc.hooks["p"].requests()
	if len(reqs) != 3 {
		t.Fatalf("%d calls", len(reqs))
	}
	if reqs[0].BodyUnseen || BodyText(reqs[0].ClientRequest.Body) != `{"privileged":true}` {
		t.Errorf("libpod create: unseen %v, body %q", reqs[0].BodyUnseen, BodyText(reqs[0].ClientRequest.Body))
	}
	for _, r := range reqs[1:] {
		if !r.BodyUnseen || r.ClientRequest.Body != nil {
			t.Errorf("%s: unseen %v, body %q", r.ClientRequest.Request, r.BodyUnseen, BodyText(r.ClientRequest.Body))
		}
	}
}
