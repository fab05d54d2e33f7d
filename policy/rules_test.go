package policy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// outcome is what a client would see of a policy's decision.
type outcome struct {
	denied   string // the message of a 403, "" when let through
	warnings []string
}

// run compiles rules into a policy named "guard" and shows it one call,
// through the hook the proxy would call.
func run(t *testing.T, rules []powerstrip.Rule, req *powerstrip.HookRequest, logger *slog.Logger) outcome {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h, err := New().CompilePolicy("guard", powerstrip.PolicySettings{Rules: rules}, powerstrip.PolicyEnv{Logger: logger})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	resp, err := h.ServeHook(context.Background(), req)
	var rej *powerstrip.Rejection
	switch {
	case errors.As(err, &rej):
		if rej.Code != http.StatusForbidden {
			t.Fatalf("rejected with %d, want 403", rej.Code)
		}
		return outcome{denied: rejectionText(rej)}
	case err != nil:
		t.Fatalf("hook failed: %v", err)
	}
	var o outcome
	if resp != nil {
		o.warnings = resp.Warnings
	}
	return o
}

func rejectionText(rej *powerstrip.Rejection) string {
	s := string(bytes.TrimSpace(rej.Body))
	s = strings.TrimPrefix(s, `{"message":"`)
	return strings.TrimSuffix(s, `"}`)
}

// pre is a pre-hook call; body "" is none.
func pre(method, request, body string) *powerstrip.HookRequest {
	r := &powerstrip.HookRequest{
		PowerstripProtocolVersion: powerstrip.ProtocolVersion,
		Type:                      powerstrip.PreHook,
		ClientRequest: powerstrip.ClientRequest{Method: method, Request: request,
			Headers: http.Header{"User-Agent": {"Docker-Client/28.2.2 (linux)"}, "Content-Type": {"application/json"}}},
	}
	if body != "" {
		r.ClientRequest.Body = &body
	}
	return r
}

func create(body string) *powerstrip.HookRequest {
	return pre("POST", "/v1.41/containers/create?name=web", body)
}

func u32p(v uint32) *uint32 { return &v }

func TestRulesExpressions(t *testing.T) {
	fixture := string(powerstriptest.CreateBody()) // docker create --name web -e GREETING=hello -v /tmp:/data busybox:latest ...
	unix := &powerstrip.Caller{UID: u32p(1000), GID: u32p(1000)}
	root := &powerstrip.Caller{UID: u32p(0), GID: u32p(0)}
	for _, tc := range []struct {
		name   string
		expr   string
		req    *powerstrip.HookRequest
		caller *powerstrip.Caller
		holds  bool
		// fails, when the rule does not hold, is in the denial.
		fails string
	}{
		{name: "CLI create is unprivileged", expr: `!request.body.HostConfig.Privileged`, req: create(fixture), holds: true},
		{name: "case variants are Docker's keys", expr: `!request.body.HostConfig.Privileged`, req: create(`{"Image":"x","hostconfig":{"privileged":true}}`)},
		{name: "duplicate key: the last wins (true)", expr: `!request.body.HostConfig.Privileged`, req: create(`{"Image":"x","HostConfig":{"Privileged":false,"Privileged":true}}`)},
		{name: "duplicate key: the last wins (false)", expr: `!request.body.HostConfig.Privileged`, req: create(`{"Image":"x","HostConfig":{"Privileged":true,"Privileged":false}}`), holds: true},
		{name: "repeated HostConfig objects merge", expr: `!request.body.HostConfig.Privileged`, req: create(`{"Image":"x","HostConfig":{"Privileged":true},"HostConfig":{"Memory":1}}`)},
		{name: "merged object keeps both", expr: `request.body.HostConfig.Memory == 0`, req: create(`{"Image":"x","HostConfig":{"Privileged":true},"HostConfig":{"Memory":1}}`)},
		{name: "top-level Privileged without HostConfig (dockerd 20.10)", expr: `!request.body.HostConfig.Privileged`, req: create(`{"Image":"x","Privileged":true}`)},
		{name: "top-level Privileged beside a HostConfig is ignored", expr: `!request.body.HostConfig.Privileged`, req: create(`{"Image":"x","Privileged":true,"HostConfig":{}}`), holds: true},
		{name: "no HostConfig is the empty one", expr: `!request.body.HostConfig.Privileged && request.body.HostConfig.Memory == 0`, req: create(`{"Image":"x"}`), holds: true},
		{name: "numbers are ints", expr: `request.body.HostConfig.Memory <= 1073741824`, req: create(`{"Image":"x","HostConfig":{"Memory":2147483648}}`)},
		{name: "numbers compare with doubles", expr: `request.body.HostConfig.Memory < 1.5e9`, req: create(`{"Image":"x","HostConfig":{"Memory":1073741824}}`), holds: true},
		{name: "binds pass", expr: `!has(request.body.HostConfig.Binds) || request.body.HostConfig.Binds.all(b, !b.startsWith("/var/run/docker.sock"))`, req: create(fixture), holds: true},
		{name: "socket bind refused", expr: `!has(request.body.HostConfig.Binds) || request.body.HostConfig.Binds.all(b, !b.startsWith("/var/run/docker.sock"))`,
			req: create(`{"Image":"x","HostConfig":{"Binds":["/var/run/docker.sock:/s"]}}`)},
		{name: "null members are absent", expr: `!has(request.body.HostConfig.CapAdd)`, req: create(fixture), holds: true},
		{name: "capabilities", expr: `!has(request.body.HostConfig.CapAdd) || !("SYS_ADMIN" in request.body.HostConfig.CapAdd)`, req: create(`{"Image":"x","HostConfig":{"CapAdd":["SYS_ADMIN"]}}`)},
		{name: "image prefix", expr: `request.body.Image.startsWith("busybox")`, req: create(fixture), holds: true},
		{name: "env", expr: `request.body.Env.exists(e, e.startsWith("GREETING="))`, req: create(fixture), holds: true},
		{name: "a missing key fails closed", expr: `request.body.Labels.owner == "ops"`, req: create(fixture), fails: "cannot be evaluated on this call: no such key: owner"},
		{name: "has guards a missing key", expr: `has(request.body.Labels.owner)`, req: create(fixture)},
		{name: "optional values", expr: `request.body.?HostConfig.?Privileged.orValue(false) == false`, req: create(`{"Image":"x"}`), holds: true},
		{name: "query", expr: `request.query.name == ["web"] && !("platform" in request.query)`, req: create(fixture), holds: true},
		{name: "call fields", expr: `request.method == "POST" && request.path == "/v1.41/containers/create" && request.version == "1.41" && request.route == "container.create" && request.effect == "container.create" && !request.libpod`, req: create(fixture), holds: true},
		{name: "effect of a restart", expr: `request.route == "container.restart" && request.effect == "container.start"`, req: pre("POST", "/v1.41/containers/web/restart", ""), holds: true},
		{name: "libpod", expr: `request.libpod && request.route == "libpod.container.create"`, req: pre("POST", "/v4.0.0/libpod/containers/create", `{"image":"x"}`), holds: true},
		{name: "no route", expr: `request.route == "" && request.effect == ""`, req: pre("GET", "/v1.41/nothing/here", ""), holds: true},
		{name: "headers have canonical keys", expr: `request.headers["User-Agent"][0].startsWith("Docker-Client/")`, req: create(fixture), holds: true},
		{name: "no body is null", expr: `!has(request.body) && request.body == null`, req: pre("POST", "/v1.41/containers/web/start", ""), holds: true},
		{name: "untyped route body", expr: `request.body.Name == "v1"`, req: pre("POST", "/v1.41/volumes/create", `{"Name":"v1"}`), holds: true},
		{name: "caller uid", expr: `has(caller.uid) && caller.uid == 1000 && caller.gid == 1000 && !has(caller.pid) && !has(caller.tlsSubject)`, req: create(fixture), caller: unix, holds: true},
		{name: "root's uid 0 is set", expr: `has(caller.uid) && caller.uid != 0`, req: create(fixture), caller: root},
		{name: "an unknown uid is an error, never 0", expr: `caller.uid != 0`, req: create(fixture), fails: "caller.uid: not known for this call"},
		{name: "tls subject", expr: `caller.tlsSubject.startsWith("CN=alice")`, req: create(fixture), caller: &powerstrip.Caller{TLSSubject: "CN=alice,O=ops"}, holds: true},
		{name: "string extensions", expr: `request.body.Image.lowerAscii().split(":")[0] == "busybox"`, req: create(fixture), holds: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Caller = tc.caller
			got := run(t, []powerstrip.Rule{{Expr: tc.expr, Message: "no"}}, tc.req, slog.New(slog.DiscardHandler))
			if tc.holds {
				if got.denied != "" {
					t.Fatalf("denied %q; want the rule to hold", got.denied)
				}
				return
			}
			if !strings.HasPrefix(got.denied, "guard: no") || !strings.Contains(got.denied, tc.fails) {
				t.Fatalf("got %q; want a denial %q containing %q", got.denied, "guard: no", tc.fails)
			}
		})
	}
}

func TestRulesTypeErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`requst.method == "POST"`, `line 10: adapter "guard": rule 2: ERROR: <input>:1:1: undeclared reference to 'requst'`},
		{`request.metod == "POST"`, `line 10: adapter "guard": rule 2: ERROR: <input>:1:8: undefined field 'metod'`},
		{`caller.ui == 0`, `line 10: adapter "guard": rule 2: ERROR: <input>:1:7: undefined field 'ui'`},
		{`request.method`, `line 10: adapter "guard": rule 2: the expression is of type string; a rule must be a bool`},
		{`request.body.HostConfig.Privileged`, `line 10: adapter "guard": rule 2: the expression is of type dyn; a rule must be a bool`},
		{`request.method ==`, `line 10: adapter "guard": rule 2: ERROR: <input>:1:18: Syntax error`},
		{`request.libpod == "yes"`, `found no matching overload for '_==_' applied to '(bool, string)'`},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			cfgText := `version: 1
endpoints:
  "route container.create":
    pre: [guard]
adapters:
  guard:
    rules:
      - expr: request.method == "POST"
        message: fine
      - expr: ` + quoteYAML(tc.expr) + `
`
			cfg, err := powerstrip.ParseConfig([]byte(cfgText))
			if err != nil {
				t.Fatal(err)
			}
			_, err = powerstrip.New(cfg, powerstrip.WithUpstream("tcp://127.0.0.1:1"), powerstrip.WithPolicies(New()))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}

// quoteYAML writes s as a YAML single-quoted scalar.
func quoteYAML(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestRulesRoutes(t *testing.T) {
	rules := []powerstrip.Rule{{Expr: `false`, Message: "not on creates", Routes: []string{"container.create"}}}
	if got := run(t, rules, create(`{"Image":"x"}`), nil); got.denied != "guard: not on creates" {
		t.Errorf("create: got %q", got.denied)
	}
	if got := run(t, rules, pre("POST", "/v1.41/containers/web/start", ""), nil); got.denied != "" {
		t.Errorf("start: a rule for creates denied it: %q", got.denied)
	}
	// A start with a host config in its body (API < 1.24) recreates the
	// container's host config: rules on creates hold on it, reading it
	// where a create's is.
	priv := []powerstrip.Rule{{Expr: `!request.body.HostConfig.Privileged`, Message: "no privileged", Routes: []string{"container.create"}}}
	if got := run(t, priv, pre("POST", "/v1.23/containers/web/start", `{"Privileged":true}`), nil); got.denied != "guard: no privileged" {
		t.Errorf("an old start with a privileged host config: got %q", got.denied)
	}
	if got := run(t, priv, pre("POST", "/v1.23/containers/web/start", `{"HostConfig":{"Privileged":false}}`), nil); got.denied != "" {
		t.Errorf("an old start with a plain host config: got %q", got.denied)
	}
	// An effect matches: a restart starts the container.
	rules = []powerstrip.Rule{{Expr: `false`, Message: "no starts", Routes: []string{"container.start"}}}
	if got := run(t, rules, pre("POST", "/v1.41/containers/web/restart", ""), nil); got.denied != "guard: no starts" {
		t.Errorf("restart: got %q", got.denied)
	}
	// * crosses dots; a call that reaches no route matches no glob.
	rules = []powerstrip.Rule{{Expr: `false`, Message: "m", Routes: []string{"*create"}}}
	if got := run(t, rules, pre("POST", "/v1.41/volumes/create", `{}`), nil); got.denied != "guard: m" {
		t.Errorf("volume create: got %q", got.denied)
	}
	if got := run(t, rules, pre("GET", "/v1.41/nothing", ""), nil); got.denied != "" {
		t.Errorf("no route: got %q", got.denied)
	}
}

func TestRulesActions(t *testing.T) {
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	rules := []powerstrip.Rule{
		{Expr: `request.body.HostConfig.Memory > 0`, Message: "set a memory limit", Action: "warn"},
		{Expr: `has(request.body.Labels.owner)`, Action: "warn"}, // the message defaults to the expression
		{Expr: `request.body.Image != "busybox:latest"`, Message: "busybox seen", Action: "audit"},
		{Expr: `true`, Message: "holds"},
	}
	req := create(string(powerstriptest.CreateBody()))
	req.Caller = &powerstrip.Caller{UID: u32p(1000)}
	got := run(t, rules, req, logger)
	want := []string{"guard: set a memory limit", "guard: has(request.body.Labels.owner)"}
	if got.denied != "" || strings.Join(got.warnings, "|") != strings.Join(want, "|") {
		t.Fatalf("got %+v, want warnings %q", got, want)
	}
	text := log.String()
	for _, s := range []string{
		`level=WARN msg="policy rule warns" adapter=guard rule=1 line=0 method=POST path=/v1.41/containers/create caller="uid=1000"`,
		`level=INFO msg="policy rule audit" adapter=guard rule=3`, `message="guard: busybox seen"`,
	} {
		if !strings.Contains(text, s) {
			t.Errorf("the log lacks %s:\n%s", s, text)
		}
	}

	// The first deny wins, and a deny drops the warnings.
	rules = append(rules, powerstrip.Rule{Expr: `false`, Message: "first"}, powerstrip.Rule{Expr: `false`, Message: "second"})
	if got := run(t, rules, req, logger); got.denied != "guard: first" || got.warnings != nil {
		t.Errorf("got %+v, want denied by the first", got)
	}
}

func TestRulesFailClosedOnBodies(t *testing.T) {
	body := []powerstrip.Rule{{Expr: `!request.body.HostConfig.Privileged`, Message: "no privileged"}}
	whole := []powerstrip.Rule{{Expr: `request != request`, Message: "uses request whole"}}
	noBody := []powerstrip.Rule{{Expr: `request.method == "POST"`, Message: "posts only"}}
	warnBody := []powerstrip.Rule{{Expr: `has(request.body.Labels)`, Message: "labels", Action: "warn"}}

	unseen := create(`{"Image":"x","HostConfig":{"Privileged":true}}`)
	unseen.BodyUnseen = true
	unseen.ClientRequest.Body = nil
	for name, req := range map[string]*powerstrip.HookRequest{
		"unseen":     unseen,
		"not JSON":   create(`{"Image":"x",`),
		"data after": create(`{"Image":"x"} {"HostConfig":{"Privileged":true}}`),
	} {
		t.Run(name, func(t *testing.T) {
			if got := run(t, body, req, nil); !strings.HasPrefix(got.denied, "guard: the body") || !strings.Contains(got.denied, "rule 1 reads the body") {
				t.Errorf("a body rule: got %q", got.denied)
			}
			if got := run(t, whole, req, nil); !strings.HasPrefix(got.denied, "guard: the body") {
				t.Errorf("a rule using request whole: got %q", got.denied)
			}
			if got := run(t, noBody, req, nil); got.denied != "" {
				t.Errorf("a rule that reads no body: got %q", got.denied)
			}
			if got := run(t, warnBody, req, nil); got.denied != "" || len(got.warnings) != 1 || !strings.HasPrefix(got.warnings[0], "guard: the body") {
				t.Errorf("a warn rule: got %+v", got)
			}
		})
	}
}

func TestRulesTimeoutIsAFailureNotADenial(t *testing.T) {
	h, err := New().CompilePolicy("guard", powerstrip.PolicySettings{Rules: []powerstrip.Rule{{Expr: `request.body.Env.all(a, request.body.Env.all(b, a != b || true))`}}}, powerstrip.PolicyEnv{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = h.ServeHook(ctx, create(`{"Image":"x","Env":["A=1","B=2"]}`))
	var rej *powerstrip.Rejection
	if err == nil || errors.As(err, &rej) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v; want the context's error, for failurePolicy", err)
	}
}
