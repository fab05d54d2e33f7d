package powerstrip

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPatternMatch(t *testing.T) {
	cases := []struct {
		pattern string
		path    string
		want    bool
	}{
		// The original README's examples, all for POST /v1.16/containers/create.
		{"/v1.16/containers/create", "/v1.16/containers/create", true},
		{"/v1*/containers/create", "/v1.16/containers/create", true},
		{"/*/containers/create", "/v1.16/containers/create", true},
		{"/*/*/create", "/v1.16/containers/create", true},
		// Its "/v[12]/..." cannot match v1.16: a class is one character.
		{"/v[12]/containers/create", "/v1.16/containers/create", false},
		{"/v[12].*/containers/create", "/v1.16/containers/create", true},
		{"/{v1.16,v1.41}/containers/create", "/v1.41/containers/create", true},
		{"/v1.1?/containers/create", "/v1.16/containers/create", true},

		// * does not cross /; ** does.
		{"/*/containers/*/start", "/v1.41/containers/abc/start", true},
		{"/*/containers/*", "/v1.41/containers/abc/start", false},
		{"/*/containers/**", "/v1.41/containers/abc/start", true},
		{"/**", "/v1.41/containers/abc/start", true},
		{"/**", "/_ping", true},

		// No escape by dropping the version.
		{"/*/containers/create", "/containers/create", true},
		{"/v1*/containers/create", "/containers/create", true},
		{"/v1.16/containers/create", "/containers/create", true},
		{"/*/*/create", "/containers/create", true},
		{"/*/containers/*/start", "/containers/abc/start", true},
		// ...nor by adding one to a pattern written without.
		{"/containers/create", "/v1.41/containers/create", true},
		{"/containers/create", "/containers/create", true},
		{"/_ping", "/v1.41/_ping", true},
		{"/*", "/v1.41/info", true},
		{"/*", "/info", true},

		// Versions a pattern pins still scope versioned calls.
		{"/v1.16/containers/create", "/v1.41/containers/create", false},
		{"/v2*/containers/create", "/v1.41/containers/create", false},
		// A first segment that cannot be a version is not one.
		{"/containers/*/start", "/containers/abc/start", true},
		{"/containers/*/start", "/v1.41/containers/abc/start", true},
		{"/images/*/json", "/v1.41/containers/abc/json", false},
		{"/*/containers/create", "/v1.41/networks/create", false},
		{"/*/containers/json", "/v1.41/containers/abc/json", false},
		{"/*", "/v1.41/containers/json", false},
	}
	for _, tc := range cases {
		cp, err := compilePattern(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got := cp.match(tc.path); got != tc.want {
			t.Errorf("pattern %q on %q = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

// Every spelling Docker routes to /v1.41/containers/create reaches the same
// canonical path, so it meets the same hooks.
func TestCanonicalPath(t *testing.T) {
	cases := map[string]string{
		"/v1.41/containers/create":           "/v1.41/containers/create",
		"/v1.41//containers/create":          "/v1.41/containers/create",
		"//v1.41/containers//create":         "/v1.41/containers/create",
		"/v1.41/./containers/create":         "/v1.41/containers/create",
		"/v1.41/containers/create/":          "/v1.41/containers/create",
		"/v1.41/images/../containers/create": "/v1.41/containers/create",
		"/v1.41/containers/%63reate":         "/v1.41/containers/create",
		"/v1.41/%63ontainers%2Fcreate":       "/v1.41/containers/create",
		"/%76%31%2E%34%31/containers/create": "/v1.41/containers/create",
		"/../../v1.41/containers/create":     "/v1.41/containers/create",
		"/":                                  "/",
		"/_ping?x=1":                         "/_ping",
	}
	for raw, want := range cases {
		u, err := url.ParseRequestURI(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		got, err := canonicalPath(u)
		if err != nil || got != want {
			t.Errorf("canonicalPath(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	if _, err := canonicalPath(&url.URL{Opaque: "x"}); err == nil {
		t.Error("a path without / was accepted")
	}
}

func TestMatcherOrderAndDedup(t *testing.T) {
	m, err := newMatcher([]Endpoint{
		{Method: "*", Pattern: "/**", Pre: []string{"audit"}, Post: []string{"audit"}},
		{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"flocker", "weave", "audit"}},
		{Method: "post", Pattern: "/v1*/containers/create", Pre: []string{"policy", "weave"}, Post: []string{"registrar"}},
		{Method: "GET", Pattern: "/*/containers/create", Pre: []string{"never"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pre, post := m.hookNames("POST", "/v1.41/containers/create")
	if diff := cmp.Diff([]string{"audit", "flocker", "weave", "policy"}, pre); diff != "" {
		t.Errorf("pre (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"audit", "registrar"}, post); diff != "" {
		t.Errorf("post (-want +got):\n%s", diff)
	}
	pre, post = m.hookNames("DELETE", "/v1.41/containers/abc")
	if diff := cmp.Diff([]string{"audit"}, pre); diff != "" || len(post) != 1 {
		t.Errorf("DELETE: pre %v post %v", pre, post)
	}
	if diff := cmp.Diff([]int{0, 1, 2}, m.endpointSet("POST", "/containers/create")); diff != "" {
		t.Errorf("endpointSet (-want +got):\n%s", diff)
	}
}

// A call's matching allocates nothing once its set of endpoints was seen,
// and gives the hooks hookNames gives.
func TestHooksForCachesWithoutAllocating(t *testing.T) {
	hook := WithHook("a", HookFunc(nil))
	p, err := New(&Config{Version: 1, Endpoints: benchEndpoints}, hook, WithHook("b", HookFunc(nil)))
	if err != nil {
		t.Fatal(err)
	}
	st := p.state.Load()
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1.41/containers/create"}, {"POST", "/containers/abc/start"}, {"GET", "/_ping"}, {"GET", "/v1.40/exec/x/start"},
	} {
		pre, post := st.hooksFor(c.method, c.path)
		preNames, postNames := st.matcher.hookNames(c.method, c.path)
		if !cmp.Equal(names(pre), preNames) || !cmp.Equal(names(post), postNames) {
			t.Errorf("%s %s: hooksFor %v %v, hookNames %v %v", c.method, c.path, names(pre), names(post), preNames, postNames)
		}
		if n := testing.AllocsPerRun(100, func() { st.hooksFor(c.method, c.path) }); n != 0 && !raceEnabled {
			t.Errorf("%s %s: %v allocations per match", c.method, c.path, n)
		}
	}
}

func names(hooks []*boundHook) []string {
	var out []string
	for _, h := range hooks {
		out = append(out, h.name)
	}
	return out
}
