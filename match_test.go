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
		// Docker reads each of these as API version 1.41.
		"/v1.41.0/containers/X/pause":   "/v1.41/containers/X/pause",
		"/v01.41/containers/X/pause":    "/v1.41/containers/X/pause",
		"/v1.041/containers/X/pause":    "/v1.41/containers/X/pause",
		"/v1.41./containers/X/pause":    "/v1.41/containers/X/pause",
		"/v001.00041.0.00/_ping":        "/v1.41/_ping",
		"/v1.41.0//containers/X/pause/": "/v1.41/containers/X/pause",
		"/%76%31.41.0/_ping":            "/v1.41/_ping",
		"/v1.40.1/_ping":                "/v1.40.1/_ping",
		"/v1.40.0.1/_ping":              "/v1.40.0.1/_ping",
		"/v1/_ping":                     "/v1.0/_ping",
		"/v1":                           "/v1.0",
		"/v./_ping":                     "/v0.0/_ping",
		"/v...0/_ping":                  "/v0.0/_ping",
		"/v0.0/_ping":                   "/v0.0/_ping",
		// A component past math.MaxInt is read as math.MaxInt.
		"/v1.99999999999999999999/_ping":      "/v1.9223372036854775807/_ping",
		"/v1.09223372036854775807/_ping":      "/v1.9223372036854775807/_ping",
		"/v1.9223372036854775808/_ping":       "/v1.9223372036854775807/_ping",
		"/v1.9223372036854775806/_ping":       "/v1.9223372036854775806/_ping",
		"/v1.0000000000000000000000041/_ping": "/v1.41/_ping",
		// Not versions to Docker: left alone.
		"/V1.41.0/_ping":   "/V1.41.0/_ping",
		"/v/_ping":         "/v/_ping",
		"/v1.41.0a/_ping":  "/v1.41.0a/_ping",
		"/x/v1.41.0/_ping": "/x/v1.41.0/_ping",
		"/v1.41/v1.41.0/x": "/v1.41/v1.41.0/x",
		"/volumes/v01/x":   "/volumes/v01/x",
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

// The spellings of one version are one version: for the daemon, which
// compares them by value, and so for the hooks.
func TestCanonicalVersion(t *testing.T) {
	cases := map[string]string{
		"v1.41": "v1.41", "v1.41.0": "v1.41", "v01.41": "v1.41", "v1.041": "v1.41",
		"v1.41.": "v1.41", "v1": "v1.0", "v1.40.1": "v1.40.1", "v.": "v0.0",
		"v0": "v0.0", "v.41": "v0.41", "v1..1": "v1.0.1", "v1.0.0.0": "v1.0",
		"v99999999999999999999": "v9223372036854775807.0",
	}
	for in, want := range cases {
		if got := canonicalVersion(in); got != want {
			t.Errorf("canonicalVersion(%q) = %q, want %q", in, got, want)
		}
		if got := versionIsCanonical(in); got != (in == want) {
			t.Errorf("versionIsCanonical(%q) = %v", in, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { canonicalPath(&url.URL{Path: "/v1.41/containers/create"}) }); n != 0 {
		t.Errorf("a canonical path costs %v allocations", n)
	}
}

// POST /v1.41/containers/*/pause hooked: every spelling of version 1.41
// meets the hook, and a version written out in a pattern works in any
// spelling too.
func TestMatchVersionSpellings(t *testing.T) {
	m, err := newMatcher([]Endpoint{
		{Method: "POST", Pattern: "/v1.41/containers/*/pause", Pre: []string{"pinned"}},
		{Method: "POST", Pattern: "/v1.41.0/containers/*/unpause", Pre: []string{"pinned-long"}},
		{Method: "POST", Pattern: "/{v01.40,v1.42}/containers/*/unpause", Pre: []string{"braced"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		raw  string
		want []string
	}{
		{"/v1.41/containers/X/pause", []string{"pinned"}},
		{"/v1.41.0/containers/X/pause", []string{"pinned"}},
		{"/v01.41/containers/X/pause", []string{"pinned"}},
		{"/v1.041/containers/X/pause", []string{"pinned"}},
		{"/v1.41./containers/X/pause", []string{"pinned"}},
		{"/containers/X/pause", []string{"pinned"}},
		{"/v1.40/containers/X/pause", nil},
		{"/v1.41.1/containers/X/pause", nil},
		{"/v1.41/containers/X/unpause", []string{"pinned-long"}},
		{"/v1.41.00/containers/X/unpause", []string{"pinned-long"}},
		{"/v1.40.0/containers/X/unpause", []string{"braced"}},
		{"/v1.42/containers/X/unpause", []string{"braced"}},
		{"/containers/X/unpause", []string{"pinned-long", "braced"}},
		{"/v1.43/containers/X/unpause", nil},
	} {
		u, err := url.ParseRequestURI(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		p, err := canonicalPath(u)
		if err != nil {
			t.Fatalf("%s: %v", c.raw, err)
		}
		if pre, _ := m.hookNames("POST", p); !cmp.Equal(pre, c.want) {
			t.Errorf("POST %s (canonical %s): hooks %v, want %v", c.raw, p, pre, c.want)
		}
	}
}

// A pattern that matches a versioned route also matches the route without
// its version, wherever its `**` or braces put the version's end.
func TestMatchUnversionedForm(t *testing.T) {
	cases := []struct {
		pattern string
		path    string
		want    bool
	}{
		{"/**/containers/create", "/v1.41/containers/create", true},
		{"/**/containers/create", "/containers/create", true},
		{"/**/create", "/containers/create", true},
		{"/**/containers/create", "/networks/create", false},
		{"/v1**/containers/create", "/containers/create", true},
		{"/v1.4**/create", "/containers/create", true},
		{"/v1.4**/create", "/v1.39/containers/create", false},
		{"/**1/containers/create", "/containers/create", true},
		{"/**/x/containers/create", "/x/containers/create", true},
		{"/{v1.41/containers,images}/create", "/v1.41/containers/create", true},
		{"/{v1.41/containers,images}/create", "/containers/create", true},
		{"/{v1.41/containers,images}/create", "/images/create", true},
		{"/{v1.41/containers,images}/create", "/v1.40/images/create", true},
		{"/{v1.41/containers,images}/create", "/v1.40/containers/create", false},
		{"/{v1.41/containers,networks/x}/create", "/networks/create", false},
		{"/v1.4[01]{/containers,/images}/create", "/images/create", true},
		{"/{**/containers,_ping}", "/containers", true},
		{"/{**/containers,_ping}", "/v1.41/_ping", true},
		{"/v1{.41/containers,0/images}/json", "/containers/json", true},
		{"/v1{.41/containers,0/images}/json", "/images/json", true},
		{"/v1{.41/containers,0/images}/json", "/networks/json", false},
		// Versions as Docker routes them, not just as it ships them.
		{"/v1.41.?/containers/create", "/containers/create", true},
		{"/v9*/containers/create", "/containers/create", true},
		// Not a version: "v1x" or "version" never precedes a route.
		{"/v1x/containers/create", "/containers/create", false},
		{"/v1x/containers/create", "/v1.41/v1x/containers/create", true},
		{"/version", "/v1.41/version", true},
		{"/*ersion", "/v1.41/version", true},
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

// The expansion behind the unversioned form reads patterns as the glob
// package does, escapes and classes included, and refuses to grow without
// bound.
func TestCompilePatternGlobSyntax(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{`/*/a\,b/c`, "/a,b/c", true},
		{`/*/{a\,b,c}/d`, "/a,b/d", true},
		{`/*/{a\,b,c}/d`, "/c/d", true},
		{`/*/\*/d`, "/*/d", true},
		{`/*/\*/d`, "/x/d", false},
		{`/*/[!/]x`, "/ax", true},
		{`/*/[a-c]x`, "/bx", true},
		{`/*/[a-c]x`, "/dx", false},
		{`/*/{a*,b}*c`, "/a/c", false},
		{`/*/{a*,b}*c`, "/axc", true},
		{`/[v]1.41/a`, "/a", true},
		{`/[!v]1.41/a`, "/a", false},
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
	if _, err := compilePattern("/{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}"); err == nil {
		t.Error("a pattern of 512 alternatives compiled")
	}
	if _, err := compilePattern("/{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}"); err != nil {
		t.Errorf("a pattern of 256 alternatives: %v", err)
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
