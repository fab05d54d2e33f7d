package powerstrip

import (
	"bufio"
	"net/http"
	"net/url"
	"strings"
	"testing"
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
	f.Fuzz(func(t *testing.T, pattern, path string) {
		cp, err := compilePattern(pattern)
		if err != nil {
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
		// the version, and the other way round when the pattern's first
		// segment could be a version: no spelling escapes.
		if first, rest, ok := splitFirstSegment(p); ok && isVersionSegment(first) && got && cp.rest != nil {
			if !cp.match(rest) && !strings.Contains(pattern, "**") {
				t.Fatalf("%q matches %q but not %q", pattern, p, rest)
			}
		}
	})
}

func FuzzCanonicalPath(f *testing.F) {
	f.Add("/v1.41//containers/./create/")
	f.Add("/%2e%2e/%2f/x")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.ParseRequestURI(raw)
		if err != nil {
			return
		}
		p, err := canonicalPath(u)
		if err != nil {
			return
		}
		// Canonical paths are fixed points: forwarding one and parsing it
		// again gives the same path, so Docker routes what hooks saw.
		again, err := url.ParseRequestURI(joinRequest(p, ""))
		if err != nil {
			t.Fatalf("%q: the canonical %q does not parse: %v", raw, p, err)
		}
		if q, _ := canonicalPath(again); q != p {
			t.Fatalf("%q: canonical %q becomes %q", raw, p, q)
		}
	})
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
		c := &chain{logger: discardLogger(), bodyReplaceable: true}
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
