package powerstrip

import (
	"bufio"
	"cmp"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/glob"
)

// The fuzz tests run briefly in CI (.ci/run); each asserts that input never
// panics and that what is accepted is consistent.

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(originalConfig))
	f.Add([]byte("version: 1\nendpoints: {}\nadapters: {}\n"))
	f.Add([]byte("version: 1\nendpoints:\n  \"* /**\":\n    pre: [a]\nadapters:\n  a: {url: http://a/, timeout: 1s, failurePolicy: ignore}\n"))
	f.Add([]byte("version: 1\nendpoints: &x {}\nadapters: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		// What parses must validate and compile.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed but does not validate: %v", err)
		}
		if _, err := newMatcher(cfg.Endpoints); err != nil {
			t.Fatalf("parsed but does not compile: %v", err)
		}
	})
}

func FuzzPatternMatch(f *testing.F) {
	f.Add("/*/containers/create", "/v1.41/containers/create")
	f.Add("/v1*/containers/*/start", "/containers/abc/start")
	f.Add("/{v1.40,v1.41}/**", "/_ping")
	f.Add("/[a-", "/x")
	f.Add("/", "0")
	f.Add("/**/containers/create", "/containers/create")
	f.Add("/{v1.41/containers,images}/create", "/v1.41/containers/create")
	f.Add("/v1.41.0/containers/*/pause", "/v01.41/containers/X/pause")
	f.Fuzz(func(t *testing.T, pattern, path string) {
		cp, err := compilePattern(pattern)
		if err != nil {
			// A glob the glob package takes is refused only for its form.
			_, globErr := glob.Compile(pattern, '/')
			if globErr == nil && strings.HasPrefix(pattern, "/") && (pattern == "/" || !strings.HasSuffix(pattern, "/")) &&
				!strings.Contains(err.Error(), "alternatives") {
				t.Fatalf("%q: %v", pattern, err)
			}
			return
		}
		u, err := url.Parse(path)
		if err != nil {
			return
		}
		p, err := canonicalPath(u)
		if err != nil {
			return
		}
		got := cp.match(p)
		// A pattern that matches a versioned path also matches it without
		// the version: no spelling escapes. (A rest that starts with a
		// version of its own is a route Docker does not have.)
		first, rest, ok := splitFirstSegment(p)
		if ok && isVersionSegment(first) && got {
			if second, _, _ := splitFirstSegment(rest); !isVersionSegment(second) && !cp.match(rest) {
				t.Fatalf("%q matches %q but not %q", pattern, p, rest)
			}
		}
	})
}

func FuzzCanonicalPath(f *testing.F) {
	f.Add("/v1.41//containers/./create/", "v1.41.0", []byte{1, 0, 2})
	f.Add("/%2e%2e/%2f/x", "v.", []byte{})
	f.Add("/v01.041.0./containers/X/pause", "v1.41", []byte{3, 3, 3, 3, 3})
	f.Add("/v1.99999999999999999999/_ping", "v1.9223372036854775807", []byte{0, 1, 5})
	f.Fuzz(func(t *testing.T, raw, other string, respell []byte) {
		u, err := url.ParseRequestURI(raw)
		if err != nil {
			return
		}
		p, err := canonicalPath(u)
		if err != nil {
			return
		}
		// Canonical paths are fixed points: canonical again, and forwarding
		// one and parsing it again gives the same path, so Docker routes
		// what hooks saw.
		if q, err := cleanPath(p); q != p || err != nil {
			t.Fatalf("%q: canonical %q becomes %q (%v)", raw, p, q, err)
		}
		again, err := url.ParseRequestURI(joinRequest(p, ""))
		if err != nil {
			t.Fatalf("%q: the canonical %q does not parse: %v", raw, p, err)
		}
		if q, _ := canonicalPath(again); q != p {
			t.Fatalf("%q: canonical %q becomes %q", raw, p, q)
		}
		version, rest, _ := strings.Cut(p[1:], "/")
		if !isVersionSegment(version) {
			return
		}
		// Spellings Docker reads as the same version are one canonical
		// path, and spellings it reads as different versions are not.
		for _, v := range []string{respellVersion(version, respell), other} {
			if !isVersionSegment(v) {
				continue
			}
			q, err := cleanPath("/" + v + "/" + rest)
			if err != nil {
				t.Fatal(err)
			}
			same := dockerCompareVersions(version[1:], v[1:]) == 0
			if (q == p) != same {
				t.Fatalf("%q and %q: Docker reads them as same=%v, canonical %q and %q", version, v, same, p, q)
			}
		}
	})
}

// respellVersion spells the version segment v another way Docker reads as
// the same version, as the bytes of how say: leading zeros per component,
// an empty spelling of a zero, trailing zero components.
func respellVersion(v string, how []byte) string {
	parts := strings.Split(v[1:], ".")
	for i := range parts {
		if i >= len(how) {
			break
		}
		parts[i] = strings.Repeat("0", int(how[i]%4)) + parts[i]
		if how[i]&4 != 0 && strings.Trim(parts[i], "0") == "" {
			parts[i] = ""
		}
	}
	for _, b := range how[min(len(how), len(parts)):] {
		parts = append(parts, strings.Repeat("0", int(b%3)))
	}
	return "v" + strings.Join(parts, ".")
}

// dockerCompareVersions is how Docker compares API versions (moby's
// api/types/versions): component by component, each read by strconv.Atoi
// with its error ignored, a missing one being 0.
func dockerCompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return cmp.Compare(x, y)
		}
	}
	return 0
}

func FuzzDecodeHookResponse(f *testing.F) {
	f.Add([]byte(`{"PowerstripProtocolVersion":1,"ModifiedClientRequest":{"Method":"POST","Request":"/x","Body":"{}"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"ModifiedServerResponse":{"Code":200}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := DecodeHookResponse(data)
		if err == nil && resp == nil {
			t.Fatal("no error and no response")
		}
		if err != nil {
			return
		}
		// Whatever decodes can be checked and applied without panicking.
		h := &boundHook{name: "fuzz", ext: Extensions{Headers: true, ShortCircuit: true}}
		shown := ClientRequest{Method: "POST", Request: "/v1.41/containers/create"}
		checkAnswer(h, &HookRequest{Type: PreHook, ClientRequest: shown}, resp)
		checkAnswer(h, &HookRequest{Type: PostHook, ClientRequest: shown, ServerResponse: &ServerResponse{Code: 200}}, resp)
		c := &chain{logger: slog.New(slog.DiscardHandler), bodyReplaceable: true}
		if resp.ModifiedClientRequest != nil {
			c.applyRequest(&boundHook{name: "fuzz"}, ClientRequest{Method: "POST", Request: "/v1.41/containers/create"}, resp.ModifiedClientRequest)
		}
		if resp.ModifiedServerResponse != nil {
			c.applyResponse(&boundHook{name: "fuzz"}, ServerResponse{Code: 200}, resp.ModifiedServerResponse)
		}
	})
}

// What the lean path takes as a call, net/http reads as the same call: the
// same method, path and body length. It never panics on a head.
func FuzzParseLeanCall(f *testing.F) {
	f.Add("GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	f.Add("POST /containers/create HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nKeep-Alive: 5\r\n\r\n")
	f.Add("GET /a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n")
	f.Fuzz(func(t *testing.T, head string) {
		n := headEnd([]byte(head))
		if n == 0 {
			return
		}
		c, ok := parseLeanCall([]byte(head[:n]))
		if !ok {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head[:n])))
		if err != nil {
			t.Fatalf("%q: taken by the lean path, refused by net/http: %v", head[:n], err)
		}
		p, err := canonicalPath(r.URL)
		if err != nil || r.Method != c.method || p != c.path || r.ContentLength != c.length {
			t.Fatalf("%q: lean %s %s %d, net/http %s %s %d (%v)", head[:n], c.method, c.path, c.length, r.Method, p, r.ContentLength, err)
		}
	})
}
