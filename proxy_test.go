package powerstrip

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seenRequest is what the fake daemon received.
type seenRequest struct {
	Method, Path, Query, ContentType string
	ContentLength                    int64
	Body                             string
}

// fakeDocker is a recording stand-in for the daemon, for the chain's paths;
// the end-to-end tests use the real one.
type fakeDocker struct {
	srv   *httptest.Server
	mu    sync.Mutex
	seen  []seenRequest
	reply func(w http.ResponseWriter, r *http.Request)
}

func newFakeDocker(t *testing.T, reply func(w http.ResponseWriter, r *http.Request)) *fakeDocker {
	t.Helper()
	d := &fakeDocker{reply: reply}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.seen = append(d.seen, seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.ContentLength, string(body)})
		d.mu.Unlock()
		d.reply(w, r)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *fakeDocker) calls() []seenRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]seenRequest(nil), d.seen...)
}

func (d *fakeDocker) upstream() string { return "tcp://" + d.srv.Listener.Addr().String() }

func jsonReply(code int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Api-Version", "1.41")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// hookKinds runs a test once with in-process hooks and once with the same
// hooks served as remote adapters over loopback HTTP: the chain must treat
// them alike.
var hookKinds = []string{"in-process", "http"}

// buildProxy serves a Proxy whose config names the given hooks. With kind
// "http" each hook is served as a remote adapter on loopback by
// NewAdapterHandler; with "in-process" it is registered with WithHook.
func buildProxy(t *testing.T, kind, yamlEndpoints string, hooks map[string]Hook, opts ...Option) *httptest.Server {
	t.Helper()
	var adapters strings.Builder
	adapters.WriteString("adapters:\n")
	for name, h := range hooks {
		if kind == "http" {
			srv := httptest.NewServer(NewAdapterHandler(h))
			t.Cleanup(srv.Close)
			fmt.Fprintf(&adapters, "  %s: %s/adapter\n", name, srv.URL)
		} else {
			opts = append(opts, WithHook(name, h))
		}
	}
	if kind != "http" {
		adapters.Reset()
		adapters.WriteString("adapters: {}\n")
	}
	return proxyFromYAML(t, "version: 1\nendpoints:\n"+yamlEndpoints+adapters.String(), opts...)
}

type clientResult struct {
	Code          int
	ContentType   string
	ContentLength int64
	Body          string
}

func do(t *testing.T, srv *httptest.Server, method, path, contentType, body string) clientResult {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return clientResult{resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength, string(b)}
}

// recorder is a hook that records what it was given and answers with fn.
type recorder struct {
	mu   sync.Mutex
	seen []HookRequest
	fn   func(*HookRequest) (*HookResponse, error)
}

func (r *recorder) ServeHook(_ context.Context, req *HookRequest) (*HookResponse, error) {
	r.mu.Lock()
	r.seen = append(r.seen, *req)
	r.mu.Unlock()
	if r.fn == nil {
		return nil, nil
	}
	return r.fn(req)
}

func (r *recorder) requests() []HookRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]HookRequest(nil), r.seen...)
}

func str(s string) *string { return &s }

// injectEnv is a pre-hook that adds an environment variable to a create.
func injectEnv(env string) *recorder {
	return &recorder{fn: func(req *HookRequest) (*HookResponse, error) {
		var body map[string]any
		if err := req.ClientRequest.DecodeBody(&body); err != nil {
			return nil, err
		}
		list, _ := body["Env"].([]any)
		body["Env"] = append(list, env)
		out := req.ClientRequest
		if err := out.SetBody(body); err != nil {
			return nil, err
		}
		if strings.Contains(out.Request, "?") {
			out.Request += "&injected=1"
		} else {
			out.Request += "?injected=1"
		}
		return &HookResponse{PowerstripProtocolVersion: 1, ModifiedClientRequest: &out}, nil
	}}
}

// Path 1: client → pre-hook OK → Docker → post-hook → client.
func TestPathPreDockerPost(t *testing.T) {
	for _, kind := range hookKinds {
		t.Run(kind, func(t *testing.T) {
			docker := newFakeDocker(t, jsonReply(201, `{"Id":"abc","Warnings":[]}`))
			pre := injectEnv("INJECTED=yes")
			post := &recorder{fn: func(req *HookRequest) (*HookResponse, error) {
				sr := *req.ServerResponse
				if err := sr.SetBody(map[string]any{"Id": "abc", "Warnings": []string{"seen by post"}}); err != nil {
					return nil, err
				}
				return &HookResponse{ModifiedServerResponse: &sr}, nil
			}}
			srv := buildProxy(t, kind, `  "POST /*/containers/create":
    pre: [pre]
    post: [post]
`, map[string]Hook{"pre": pre, "post": post}, WithUpstream(docker.upstream()))

			got := do(t, srv, "POST", "/v1.41/containers/create?name=web", "application/json", `{"Image":"busybox","Env":["A=1"]}`)

			wantBody := `{"Id":"abc","Warnings":["seen by post"]}`
			if diff := cmp.Diff(clientResult{201, "application/json", int64(len(wantBody)), wantBody}, got); diff != "" {
				t.Errorf("client got (-want +got):\n%s", diff)
			}
			wantDocker := `{"Env":["A=1","INJECTED=yes"],"Image":"busybox"}`
			if diff := cmp.Diff([]seenRequest{{"POST", "/v1.41/containers/create", "name=web&injected=1", "application/json", int64(len(wantDocker)), wantDocker}}, docker.calls()); diff != "" {
				t.Errorf("Docker got (-want +got):\n%s", diff)
			}
			wantPre := HookRequest{PowerstripProtocolVersion: 1, Type: PreHook, ClientRequest: ClientRequest{
				Method: "POST", Request: "/v1.41/containers/create?name=web", Body: str(`{"Image":"busybox","Env":["A=1"]}`)}}
			if diff := cmp.Diff([]HookRequest{wantPre}, pre.requests()); diff != "" {
				t.Errorf("pre-hook got (-want +got):\n%s", diff)
			}
			wantPost := HookRequest{PowerstripProtocolVersion: 1, Type: PostHook,
				ClientRequest:  ClientRequest{Method: "POST", Request: "/v1.41/containers/create?name=web&injected=1", Body: str(wantDocker)},
				ServerResponse: &ServerResponse{ContentType: "application/json", Body: str(`{"Id":"abc","Warnings":[]}`), Code: 201}}
			if diff := cmp.Diff([]HookRequest{wantPost}, post.requests()); diff != "" {
				t.Errorf("post-hook got (-want +got):\n%s", diff)
			}
		})
	}
}

// Path 2: client → pre-hook error → client, Docker never called.
func TestPathPreRejects(t *testing.T) {
	for _, kind := range hookKinds {
		t.Run(kind, func(t *testing.T) {
			docker := newFakeDocker(t, jsonReply(201, `{}`))
			deny := &recorder{fn: func(*HookRequest) (*HookResponse, error) {
				return nil, Reject(403, "privileged containers are not allowed")
			}}
			after := &recorder{}
			post := &recorder{}
			srv := buildProxy(t, kind, `  "POST /*/containers/create":
    pre: [deny, after]
    post: [post]
`, map[string]Hook{"deny": deny, "after": after, "post": post}, WithUpstream(docker.upstream()))

			got := do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{"Image":"x"}`)
			wantBody := "{\"message\":\"privileged containers are not allowed\"}\n"
			if diff := cmp.Diff(clientResult{403, "application/json", int64(len(wantBody)), wantBody}, got); diff != "" {
				t.Errorf("client got (-want +got):\n%s", diff)
			}
			if n := len(docker.calls()); n != 0 {
				t.Errorf("Docker was called %d times", n)
			}
			if n := len(after.requests()) + len(post.requests()); n != 0 {
				t.Errorf("the rest of the chain ran %d times", n)
			}
		})
	}
}

// Path 3: client → pre-hook → Docker error → post-hook → client. The
// post-hook may turn the error into a success.
func TestPathDockerErrorThroughPost(t *testing.T) {
	for _, kind := range hookKinds {
		t.Run(kind, func(t *testing.T) {
			docker := newFakeDocker(t, jsonReply(404, `{"message":"No such container: nope"}`))
			pre := &recorder{}
			fixer := &recorder{fn: func(req *HookRequest) (*HookResponse, error) {
				if req.ServerResponse.Code != 404 {
					return nil, fmt.Errorf("expected Docker's 404, got %d", req.ServerResponse.Code)
				}
				return &HookResponse{ModifiedServerResponse: &ServerResponse{Code: 204}}, nil
			}}
			srv := buildProxy(t, kind, `  "POST /*/containers/*/start":
    pre: [pre]
    post: [fixer]
`, map[string]Hook{"pre": pre, "fixer": fixer}, WithUpstream(docker.upstream()))

			got := do(t, srv, "POST", "/v1.41/containers/nope/start", "", "")
			if diff := cmp.Diff(clientResult{204, "application/json", 0, ""}, got); diff != "" {
				t.Errorf("client got (-want +got):\n%s", diff)
			}
			want := []HookRequest{{PowerstripProtocolVersion: 1, Type: PostHook,
				ClientRequest:  ClientRequest{Method: "POST", Request: "/v1.41/containers/nope/start"},
				ServerResponse: &ServerResponse{ContentType: "application/json", Body: str(`{"message":"No such container: nope"}`), Code: 404}}}
			if diff := cmp.Diff(want, fixer.requests()); diff != "" {
				t.Errorf("post-hook got (-want +got):\n%s", diff)
			}
		})
	}
}

// Path 4: client → pre-hook → Docker → post-hook error → client.
func TestPathPostRejects(t *testing.T) {
	for _, kind := range hookKinds {
		t.Run(kind, func(t *testing.T) {
			docker := newFakeDocker(t, jsonReply(201, `{"Id":"abc"}`))
			failing := &recorder{fn: func(*HookRequest) (*HookResponse, error) {
				return nil, &Rejection{Code: 409, ContentType: "text/plain", Body: []byte("registrar is full\n")}
			}}
			after := &recorder{}
			srv := buildProxy(t, kind, `  "POST /*/containers/create":
    post: [failing, after]
`, map[string]Hook{"failing": failing, "after": after}, WithUpstream(docker.upstream()))

			got := do(t, srv, "POST", "/containers/create", "application/json", `{}`)
			if diff := cmp.Diff(clientResult{409, "text/plain", 18, "registrar is full\n"}, got); diff != "" {
				t.Errorf("client got (-want +got):\n%s", diff)
			}
			if len(docker.calls()) != 1 || len(after.requests()) != 0 {
				t.Errorf("Docker calls %d (want 1), later post-hook calls %d (want 0)", len(docker.calls()), len(after.requests()))
			}
		})
	}
}

// Each hook receives what the previous one returned; post-hooks can change
// the code and the content type.
func TestChainPassesResults(t *testing.T) {
	for _, kind := range hookKinds {
		t.Run(kind, func(t *testing.T) {
			docker := newFakeDocker(t, jsonReply(200, `[]`))
			first := injectEnv("FIRST=1")
			second := injectEnv("SECOND=2")
			p1 := &recorder{fn: func(req *HookRequest) (*HookResponse, error) {
				return &HookResponse{ModifiedServerResponse: &ServerResponse{Code: 500, ContentType: "text/plain", Body: str("one")}}, nil
			}}
			p2 := &recorder{fn: func(req *HookRequest) (*HookResponse, error) {
				sr := *req.ServerResponse
				sr.Body = str(BodyText(sr.Body) + " two")
				return &HookResponse{ModifiedServerResponse: &sr}, nil
			}}
			srv := buildProxy(t, kind, `  "POST /*/containers/create":
    pre: [first, second]
    post: [p1, p2]
`, map[string]Hook{"first": first, "second": second, "p1": p1, "p2": p2}, WithUpstream(docker.upstream()))

			got := do(t, srv, "POST", "/v1.41/containers/create", "application/json; charset=utf-8", `{}`)
			if diff := cmp.Diff(clientResult{500, "text/plain", 7, "one two"}, got); diff != "" {
				t.Errorf("client got (-want +got):\n%s", diff)
			}
			if got := second.requests()[0].ClientRequest; *got.Body != `{"Env":["FIRST=1"]}` || got.Request != "/v1.41/containers/create?injected=1" {
				t.Errorf("second pre-hook got %q %q", got.Request, BodyText(got.Body))
			}
			if got := docker.calls()[0].Body; got != `{"Env":["FIRST=1","SECOND=2"]}` {
				t.Errorf("Docker got %s", got)
			}
			if got := p2.requests()[0].ServerResponse; got.Code != 500 || BodyText(got.Body) != "one" {
				t.Errorf("second post-hook got %+v", got)
			}
		})
	}
}

// A pre-hook cannot move a call to other endpoints; adapters in the wild
// that answer with their own path (powerstrip-flocker) keep working.
func TestPreHookCannotChangeScope(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(200, `{}`))
	rewrite := func(method, request string) *recorder {
		return &recorder{fn: func(req *HookRequest) (*HookResponse, error) {
			out := req.ClientRequest
			out.Method, out.Request = method, request
			return &HookResponse{ModifiedClientRequest: &out}, nil
		}}
	}
	cases := []struct {
		name, method, request, wantMethod, wantPath, wantQuery string
	}{
		{"own path", "POST", "/flocker-adapter", "POST", "/v1.41/containers/abc/start", "x=1"},
		{"other endpoint", "POST", "/v1.41/containers/abc/kill?x=1", "POST", "/v1.41/containers/abc/start", "x=1"},
		{"method", "DELETE", "/v1.41/containers/abc/start?x=1", "POST", "/v1.41/containers/abc/start", "x=1"},
		{"query only", "", "/v1.41/containers/abc/start?x=2&y=3", "POST", "/v1.41/containers/abc/start", "x=2&y=3"},
		{"same endpoint", "post", "/v1.40/containers/def/start?x=1", "POST", "/v1.40/containers/def/start", "x=1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			docker.mu.Lock()
			docker.seen = nil
			docker.mu.Unlock()
			srv := buildProxy(t, "in-process", `  "POST /*/containers/*/start":
    pre: [rw]
`, map[string]Hook{"rw": rewrite(tc.method, tc.request)}, WithUpstream(docker.upstream()))
			do(t, srv, "POST", "/v1.41/containers/abc/start?x=1", "", "")
			calls := docker.calls()
			if len(calls) != 1 {
				t.Fatalf("Docker got %d calls", len(calls))
			}
			if c := calls[0]; c.Method != tc.wantMethod || c.Path != tc.wantPath || c.Query != tc.wantQuery {
				t.Errorf("Docker got %s %s?%s, want %s %s?%s", c.Method, c.Path, c.Query, tc.wantMethod, tc.wantPath, tc.wantQuery)
			}
		})
	}
}

// Replies as adapters in the wild write them.
func TestAdapterReplyCompatibility(t *testing.T) {
	const body = `{"Image":"x"}`
	cases := []struct {
		name, contentType, reply string
	}{
		{"json", "application/json", `{"PowerstripProtocolVersion":1,"ModifiedClientRequest":{"Method":"POST","Request":"/v1.16/containers/create?name=n","Body":"{\"Image\":\"x\"}"}}`},
		{"charset", "application/json; charset=utf-8", `{"PowerstripProtocolVersion":1,"ModifiedClientRequest":{"Method":"POST","Request":"/v1.16/containers/create?name=n","Body":"{\"Image\":\"x\"}"}}`},
		{"no content type", "", `{"PowerstripProtocolVersion": 1, "ModifiedClientRequest": {"Method": "POST", "Request": "/v1.16/containers/create?name=n", "Body": "{\"Image\":\"x\"}"}}`},
		{"null body", "application/json", `{"PowerstripProtocolVersion":1,"ModifiedClientRequest":{"Method":"POST","Request":"/v1.16/containers/create?name=n","Body":null}}`},
		{"empty body", "application/json", `{"PowerstripProtocolVersion":1,"ModifiedClientRequest":{"Method":"POST","Request":"/v1.16/containers/create?name=n","Body":""}}`},
		{"no modified request", "application/json", `{"PowerstripProtocolVersion":1}`},
		{"empty object", "text/plain", `{}`},
		{"null", "application/json", `null`},
		{"own path", "application/json", `{"PowerstripProtocolVersion":1,"ModifiedClientRequest":{"Method":"POST","Request":"/flocker-adapter","Body":"{\"Image\":\"x\"}"}}`},
		{"lower-case keys", "application/json", `{"powerstripprotocolversion":1,"modifiedclientrequest":{"method":"POST","request":"/v1.16/containers/create?name=n","body":"{\"Image\":\"x\"}"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			docker := newFakeDocker(t, jsonReply(201, `{"Id":"1"}`))
			adapter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				} else {
					w.Header()["Content-Type"] = nil
				}
				io.WriteString(w, tc.reply)
			}))
			defer adapter.Close()
			srv := proxyFromYAML(t, fmt.Sprintf("version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [a]\nadapters:\n  a: %s\n", adapter.URL), WithUpstream(docker.upstream()))
			got := do(t, srv, "POST", "/v1.16/containers/create?name=n", "application/json", body)
			if got.Code != 201 {
				t.Fatalf("client got %+v", got)
			}
			want := []seenRequest{{"POST", "/v1.16/containers/create", "name=n", "application/json", int64(len(body)), body}}
			if diff := cmp.Diff(want, docker.calls()); diff != "" {
				t.Errorf("Docker got (-want +got):\n%s", diff)
			}
		})
	}
}

func proxyFromYAML(t *testing.T, yaml string, opts ...Option) *httptest.Server {
	t.Helper()
	cfg, err := ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := newLeanServer(t, p)
	t.Cleanup(srv.Close)
	return srv
}

// Failures the proxy makes itself reach the client as Docker-shaped errors
// that name the adapter and the cause, and Docker is not called.
func TestAdapterFailures(t *testing.T) {
	nonsense := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>It works!</html>")
	}))
	defer nonsense.Close()
	redirect := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusFound))
	defer redirect.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answers only when the proxy gives up: the server notices the
		// hang-up once the body is read.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer hang.Close()
	// Port 1 is below the ephemeral range, so no listener of another test
	// running meanwhile can take it, as one can a port just closed.
	closedURL := "http://127.0.0.1:1"

	cases := []struct {
		name, adapter string
		wantCode      int
		wantMessage   string
	}{
		{"unreachable", closedURL, 502, `powerstrip: adapter "a" (pre-hook) failed: calling ` + closedURL},
		{"not json", nonsense.URL, 502, `powerstrip: adapter "a" (pre-hook) failed: the reply is not protocol JSON: "<html>It works!</html>"`},
		{"redirect", redirect.URL, 502, `answered HTTP 302, which the protocol does not define`},
		{"timeout", "\n    url: " + hang.URL + "\n    timeout: 200ms", 504, `powerstrip: adapter "a" (pre-hook) failed: no answer within 200ms`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			docker := newFakeDocker(t, jsonReply(201, `{}`))
			srv := proxyFromYAML(t, fmt.Sprintf("version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [a]\nadapters:\n  a: %s\n", tc.adapter), WithUpstream(docker.upstream()))
			got := do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{}`)
			var msg struct{ Message string }
			if err := json.Unmarshal([]byte(got.Body), &msg); err != nil || got.ContentType != "application/json" {
				t.Fatalf("not Docker's error shape: %+v", got)
			}
			if got.Code != tc.wantCode || !strings.Contains(msg.Message, tc.wantMessage) {
				t.Errorf("got %d %q, want %d and a message containing %q", got.Code, msg.Message, tc.wantCode, tc.wantMessage)
			}
			if n := len(docker.calls()); n != 0 {
				t.Errorf("Docker was called %d times", n)
			}
		})
	}
}

func TestFailurePolicyIgnore(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{"Id":"1"}`))
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "denied", http.StatusForbidden)
	}))
	defer deny.Close()
	srv := proxyFromYAML(t, fmt.Sprintf(`version: 1
endpoints:
  "POST /*/containers/create":
    pre: [down]
  "POST /*/containers/*/start":
    pre: [deny]
adapters:
  down:
    url: %s
    failurePolicy: ignore
  deny:
    url: %s
    failurePolicy: ignore
`, closed.URL, deny.URL), WithUpstream(docker.upstream()))
	if got := do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{}`); got.Code != 201 {
		t.Errorf("an ignored broken adapter failed the call: %+v", got)
	}
	// "ignore" covers failures, not decisions: a rejection still rejects.
	if got := do(t, srv, "POST", "/v1.41/containers/x/start", "", ""); got.Code != 403 || got.Body != "denied\n" {
		t.Errorf("rejection under ignore: %+v", got)
	}
}

func TestInProcessHookPanics(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{}`))
	srv := buildProxy(t, "in-process", "  \"POST /**\":\n    pre: [boom]\n", map[string]Hook{
		"boom": HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { panic("bad hook") }),
	}, WithUpstream(docker.upstream()))
	got := do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{}`)
	if got.Code != 502 || !strings.Contains(got.Body, `adapter \"boom\" (pre-hook) failed: panic: bad hook`) {
		t.Errorf("got %+v", got)
	}
}

func TestPostHookInvalidCode(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(200, `{}`))
	srv := buildProxy(t, "in-process", "  \"GET /**\":\n    post: [bad]\n", map[string]Hook{
		"bad": HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) {
			return &HookResponse{ModifiedServerResponse: &ServerResponse{Code: 42}}, nil
		}),
	}, WithUpstream(docker.upstream()))
	got := do(t, srv, "GET", "/v1.41/info", "", "")
	if got.Code != 502 || !strings.Contains(got.Body, "Code 42") {
		t.Errorf("got %+v", got)
	}
}

func TestDaemonUnreachable(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	addr := closed.Listener.Addr().String()
	closed.Close()
	for _, hooked := range []bool{false, true} {
		post := &recorder{}
		opts := []Option{WithUpstream("tcp://" + addr)}
		endpoints := "  \"GET /nothing\":\n    post: [post]\n"
		if hooked {
			endpoints = "  \"GET /**\":\n    post: [post]\n"
		}
		srv := buildProxy(t, "in-process", endpoints, map[string]Hook{"post": post}, opts...)
		got := do(t, srv, "GET", "/v1.41/info", "", "")
		if got.Code != 502 || got.ContentType != "application/json" ||
			!strings.Contains(got.Body, "powerstrip: the Docker daemon at tcp://"+addr+" did not answer") {
			t.Errorf("hooked=%v: got %+v", hooked, got)
		}
		if n := len(post.requests()); n != 0 {
			t.Errorf("post-hooks ran %d times without an answer from Docker", n)
		}
	}
}

// A body that is not JSON streams to Docker untouched; the pre-hooks still
// run, with a null Body, and cannot replace it.
func TestNonJSONBodyStreamsPastHooks(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(200, `{"stream":"ok"}`))
	hook := &recorder{fn: func(req *HookRequest) (*HookResponse, error) {
		out := req.ClientRequest
		out.Body = str(`{"evil":true}`)
		return &HookResponse{ModifiedClientRequest: &out}, nil
	}}
	srv := buildProxy(t, "in-process", "  \"POST /*/build\":\n    pre: [hook]\n", map[string]Hook{"hook": hook}, WithUpstream(docker.upstream()))
	tarBytes := strings.Repeat("\x00tar\xff", 1000)
	got := do(t, srv, "POST", "/v1.41/build?t=x", "application/x-tar", tarBytes)
	if got.Code != 200 {
		t.Fatalf("got %+v", got)
	}
	if c := docker.calls(); len(c) != 1 || c[0].Body != tarBytes || c[0].ContentType != "application/x-tar" {
		t.Errorf("Docker did not get the tar as sent: %d calls", len(c))
	}
	if r := hook.requests(); len(r) != 1 || r[0].ClientRequest.Body != nil || r[0].ClientRequest.Request != "/v1.41/build?t=x" {
		t.Errorf("hook got %+v", r)
	}
}

func TestJSONBodyLimit(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{}`))
	hook := &recorder{}
	srv := buildProxy(t, "in-process", "  \"POST /**\":\n    pre: [hook]\n", map[string]Hook{"hook": hook},
		WithUpstream(docker.upstream()), WithRequestBodyLimit(100))
	got := do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{"Env":["`+strings.Repeat("x", 200)+`"]}`)
	if got.Code != 413 || !strings.Contains(got.Body, "larger than 100 bytes") {
		t.Errorf("got %+v", got)
	}
	if len(docker.calls())+len(hook.requests()) != 0 {
		t.Error("an oversized body reached Docker or a hook")
	}
}

func TestResponseBufferLimit(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(200, `[`+strings.Repeat(`{},`, 100)+`{}]`))
	srv := buildProxy(t, "in-process", "  \"GET /**\":\n    post: [hook]\n", map[string]Hook{"hook": &recorder{}},
		WithUpstream(docker.upstream()), WithResponseBufferLimit(100))
	got := do(t, srv, "GET", "/v1.41/containers/json", "", "")
	if got.Code != 502 || !strings.Contains(got.Body, "larger than the post-hook buffer of 100 bytes") {
		t.Errorf("got %+v", got)
	}
}

// With no hook matching, Powerstrip is transparent.
func TestPassThrough(t *testing.T) {
	docker := newFakeDocker(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-tar")
		w.Header().Set("X-Docker-Thing", r.Header.Get("X-Client-Thing"))
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "must not pass")
		w.WriteHeader(299)
		w.Write(bytes.Repeat([]byte{0, 1, 2, 255}, 5000))
	})
	srv := buildProxy(t, "in-process", "  \"POST /*/containers/create\":\n    pre: [hook]\n", map[string]Hook{"hook": &recorder{}}, WithUpstream(docker.upstream()))
	req, _ := http.NewRequest("GET", srv.URL+"/v1.41/containers/abc/export?x=%2F", nil)
	req.Header.Set("X-Client-Thing", "kept")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 299 || resp.Header.Get("X-Docker-Thing") != "kept" || resp.Header.Get("X-Hop") != "" ||
		!bytes.Equal(body, bytes.Repeat([]byte{0, 1, 2, 255}, 5000)) {
		t.Errorf("got %d %v, %d bytes", resp.StatusCode, resp.Header, len(body))
	}
	if c := docker.calls(); c[0].Path != "/v1.41/containers/abc/export" || c[0].Query != "x=%2F" {
		t.Errorf("Docker got %+v", c[0])
	}
}

// Odd spellings of a hooked call are hooked, and Docker receives the
// canonical spelling the hooks saw.
func TestNoEscapeBySpelling(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{}`))
	var count atomic.Int32
	srv := buildProxy(t, "in-process", "  \"POST /*/containers/create\":\n    pre: [deny]\n", map[string]Hook{
		"deny": HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) {
			count.Add(1)
			return nil, Reject(403, "denied")
		}),
	}, WithUpstream(docker.upstream()))
	spellings := []struct{ method, path string }{
		{"POST", "/v1.41/containers/create"},
		{"POST", "/containers/create"},
		{"POST", "/v1.41/containers/%63reate"},
		{"POST", "/v1.41//containers/create"},
		{"POST", "/v1.41/./containers/create"},
		{"POST", "/v1.41/containers/create/"},
		{"POST", "/v1.41/images/../containers/create"},
		{"post", "/v1.41/containers/create"},
		{"Post", "/containers/create/"},
	}
	for _, s := range spellings {
		if got := do(t, srv, s.method, s.path, "application/json", `{}`); got.Code != 403 {
			t.Errorf("%s %s escaped the hook: %+v", s.method, s.path, got)
		}
	}
	if int(count.Load()) != len(spellings) || len(docker.calls()) != 0 {
		t.Errorf("hook ran %d times for %d spellings; Docker got %d calls", count.Load(), len(spellings), len(docker.calls()))
	}
}

// Two proxies in one process share nothing.
func TestProxiesAreIndependent(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(200, `{}`))
	a := buildProxy(t, "in-process", "  \"GET /**\":\n    pre: [deny]\n", map[string]Hook{
		"deny": HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, Reject(403, "a") }),
	}, WithUpstream(docker.upstream()))
	b := buildProxy(t, "in-process", "  \"POST /**\":\n    pre: [deny]\n", map[string]Hook{
		"deny": HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, Reject(403, "b") }),
	}, WithUpstream(docker.upstream()))
	if got := do(t, a, "GET", "/info", "", ""); got.Code != 403 {
		t.Errorf("a: %+v", got)
	}
	if got := do(t, b, "GET", "/info", "", ""); got.Code != 200 {
		t.Errorf("b: %+v", got)
	}
}

func TestReloadKeepsOldConfigOnError(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(200, `{}`))
	p, err := New(&Config{Version: 1, Endpoints: []Endpoint{{Method: "GET", Pattern: "/**", Pre: []string{"deny"}}}},
		WithUpstream(docker.upstream()),
		WithHook("deny", HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, Reject(403, "no") })))
	if err != nil {
		t.Fatal(err)
	}
	srv := newLeanServer(t, p)
	defer srv.Close()
	if err := p.Reload(&Config{Version: 1, Endpoints: []Endpoint{{Method: "GET", Pattern: "/**", Pre: []string{"missing"}}}}); err == nil {
		t.Fatal("a config naming a missing hook was accepted")
	}
	if got := do(t, srv, "GET", "/info", "", ""); got.Code != 403 {
		t.Errorf("old config lost: %+v", got)
	}
	if err := p.Reload(nil); err != nil {
		t.Fatal(err)
	}
	if got := do(t, srv, "GET", "/info", "", ""); got.Code != 200 {
		t.Errorf("new config not applied: %+v", got)
	}
}

func TestWithUpstreamAddresses(t *testing.T) {
	for _, ok := range []string{"unix:///var/run/docker.sock", "tcp://127.0.0.1:2375", "http://127.0.0.1:2375", "tcp://localhost", "127.0.0.1:2375", "localhost:2375"} {
		if _, err := New(nil, WithUpstream(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"unix://", "ftp://x", "tcp://", "127.0.0.1", "tcp://h:1/path", "tcp://h:70000"} {
		if _, err := New(nil, WithUpstream(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// No request hangs: a client that hangs up mid-chain cancels its hooks.
func TestClientGoneCancelsHook(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(200, `{}`))
	entered := make(chan struct{})
	cancelled := make(chan struct{})
	srv := buildProxy(t, "in-process", "  \"GET /**\":\n    pre: [wait]\n", map[string]Hook{
		"wait": HookFunc(func(ctx context.Context, _ *HookRequest) (*HookResponse, error) {
			close(entered)
			<-ctx.Done()
			close(cancelled)
			return nil, ctx.Err()
		}),
	}, WithUpstream(docker.upstream()))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/info", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	cancel()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the hook was not cancelled when the client left")
	}
	if err := <-errc; err == nil {
		t.Error("the cancelled request succeeded")
	}
	if n := len(docker.calls()); n != 0 {
		t.Errorf("Docker was called %d times", n)
	}
}

// NewAdapterHandler answers what is not a protocol call with clear errors.
func TestAdapterHandlerErrors(t *testing.T) {
	srv := httptest.NewServer(NewAdapterHandler(HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		if req.ClientRequest.Method == "FAIL" {
			return nil, fmt.Errorf("the adapter broke")
		}
		return nil, nil
	})))
	defer srv.Close()
	cases := []struct {
		method, body string
		code         int
		want         string
	}{
		{"GET", "", 405, "adapters answer POST only"},
		{"POST", "not json", 400, "not a protocol call"},
		{"POST", `{"Type":"mid-hook"}`, 400, `Type \"mid-hook\" is not pre-hook, post-hook or unwind`},
		{"POST", `{"Type":"post-hook","ClientRequest":{"Method":"GET","Request":"/x"}}`, 400, "without ServerResponse"},
		{"POST", `{"Type":"unwind","ClientRequest":{"Method":"GET","Request":"/x"}}`, 400, "an unwind call without Unwind"},
		{"POST", `{"PowerstripProtocolVersion":2,"Type":"unwind","ClientRequest":{"Method":"GET","Request":"/x"},"Unwind":{"Stage":"docker","Code":409,"Message":"m"}}`, 200, `{"PowerstripProtocolVersion":1}`},
		{"POST", `{"Type":"pre-hook","ClientRequest":{"Method":"FAIL","Request":"/x"}}`, 500, "the adapter broke"},
		{"POST", `{"PowerstripProtocolVersion":1,"Type":"pre-hook","ClientRequest":{"Method":"GET","Request":"/x","Body":null}}`, 200, `{"PowerstripProtocolVersion":1}`},
	}
	for _, tc := range cases {
		got := do(t, srv, tc.method, "/", "application/json", tc.body)
		if got.Code != tc.code || !strings.Contains(got.Body, tc.want) {
			t.Errorf("%s %s: %d %q; want %d and %q", tc.method, tc.body, got.Code, got.Body, tc.code, tc.want)
		}
	}
}

// In verbose mode each step of the chain is logged with what it changed.
func TestChainTrace(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{"Id":"abc","Warnings":[]}`))
	var logs syncBuffer
	post := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		sr := *req.ServerResponse
		sr.Code = 200
		sr.SetBody(map[string]any{"Id": "abc", "Registered": true})
		return &HookResponse{ModifiedServerResponse: &sr}, nil
	})
	srv := buildProxy(t, "in-process", "  \"POST /*/containers/create\":\n    pre: [inject, quiet]\n    post: [register]\n",
		map[string]Hook{"inject": injectEnv("X=1"), "quiet": &recorder{}, "register": post},
		WithUpstream(docker.upstream()), WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	do(t, srv, "POST", "/v1.41/containers/create?name=a", "application/json", `{"Image":"x","Env":["A=1"],"Old":1}`)
	lines := strings.Split(logs.String(), "\n")
	find := func(adapter string) string {
		for _, l := range lines {
			if strings.Contains(l, "msg=\"chain step\"") && strings.Contains(l, "adapter="+adapter+" ") {
				return l
			}
		}
		t.Fatalf("no trace line for %s:\n%s", adapter, logs.String())
		return ""
	}
	for adapter, wants := range map[string][]string{
		"inject":   {"type=pre-hook", "status=ok", "duration=", `query_before="name=a"`, `query_after="name=a&injected=1"`, "keys_changed=Env"},
		"quiet":    {"type=pre-hook", "status=ok"},
		"register": {"type=post-hook", "code_before=201", "code_after=200", "keys_added=Registered", "keys_removed=Warnings"},
	} {
		line := find(adapter)
		for _, want := range wants {
			if !strings.Contains(line, want) {
				t.Errorf("%s's trace lacks %q: %s", adapter, want, line)
			}
		}
	}
	if line := find("quiet"); strings.Contains(line, "keys_") || strings.Contains(line, "query_") {
		t.Errorf("an unchanged step reports changes: %s", line)
	}
}

// byteDaemon is a daemon that keeps every byte it receives, whatever they
// parse as, and answers each request it reads with 200 {}: a call smuggled
// into another's request line shows in its bytes, and gets an answer too.
type byteDaemon struct {
	l   net.Listener
	mu  sync.Mutex
	got bytes.Buffer
}

func newByteDaemon(t *testing.T) *byteDaemon {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &byteDaemon{l: l}
	t.Cleanup(func() { l.Close() })
	go serveEach(l, d.serve)
	return d
}

func (d *byteDaemon) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(io.TeeReader(c, d))
	for {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	}
}

func (d *byteDaemon) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.got.Write(b)
}

func (d *byteDaemon) bytes() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.got.String()
}

func (d *byteDaemon) upstream() string { return "tcp://" + d.l.Addr().String() }

// smuggled is a Method that, written into the request line as it is,
// would end the call and start a second one Docker routes as a start.
const smuggled = "POST /%761.41/%63ontainers/NAME/%73tart HTTP/1.1\r\nHOST: X\r\nCONTENT-LENGTH: 0\r\n\r\nGET"

// auditProxy serves a proxy whose one adapter, "audit", hooks every call
// at stage (pre or post) with settings a, in-process or as a remote
// adapter served by NewAdapterHandler.
func auditProxy(t *testing.T, kind, stage string, a HookSettings, h Hook, opts ...Option) *httptest.Server {
	t.Helper()
	endpoints := fmt.Sprintf("version: 1\nendpoints:\n  \"* /**\":\n    %s: [audit]\n", stage)
	if kind == "in-process" {
		return proxyFromYAML(t, endpoints+"adapters: {}\n", append(opts, WithHookSettings("audit", h, a))...)
	}
	srv := httptest.NewServer(NewAdapterHandler(h))
	t.Cleanup(srv.Close)
	var ext []string
	for name, on := range map[string]bool{"headers": a.Extensions.Headers, "short-circuit": a.Extensions.ShortCircuit} {
		if on {
			ext = append(ext, name)
		}
	}
	return proxyFromYAML(t, fmt.Sprintf("%sadapters:\n  audit:\n    url: %s\n    failurePolicy: %q\n    extensions: [%s]\n",
		endpoints, srv.URL, a.FailurePolicy, strings.Join(ext, ", ")), opts...)
}

// badAnswers are answers whose values would break the request line or a
// header line if written as they are.
var badAnswers = []struct {
	name, stage string
	ext         Extensions
	answer      func(req *HookRequest) *HookResponse
	want        string
}{
	{"method smuggles a call", "pre", Extensions{}, modifyRequest(func(r *ClientRequest) { r.Method = smuggled }), "which is not an HTTP method"},
	{"method smuggles a call, net/http's path", "pre", Extensions{Headers: true}, modifyRequest(func(r *ClientRequest) { r.Method = smuggled }), "which is not an HTTP method"},
	{"method with a space", "pre", Extensions{}, modifyRequest(func(r *ClientRequest) { r.Method = "GET /" }), "which is not an HTTP method"},
	{"method non-ASCII", "pre", Extensions{}, modifyRequest(func(r *ClientRequest) { r.Method = "po\u017ft" }), "which is not an HTTP method"},
	{"request with a line break", "pre", Extensions{}, modifyRequest(func(r *ClientRequest) { r.Request += "?a=1 HTTP/1.1\r\nX: y" }), "which a request target may not"},
	{"request with a space", "pre", Extensions{}, modifyRequest(func(r *ClientRequest) { r.Request += "?a=b c" }), "which a request target may not"},
	{"request with a fragment", "pre", Extensions{}, modifyRequest(func(r *ClientRequest) { r.Request += "#x" }), "which a request target may not"},
	{"request escaped", "pre", Extensions{}, modifyRequest(func(r *ClientRequest) { r.Request = "/v1.41/%63ontainers/abc/start" }), "not in its canonical spelling"},
	{"request with dots", "pre", Extensions{}, modifyRequest(func(r *ClientRequest) { r.Request = "/v1.41/containers/x/../abc/start" }), "not in its canonical spelling"},
	{"request with a double slash", "pre", Extensions{}, modifyRequest(func(r *ClientRequest) { r.Request = "//v1.41/containers/abc/start" }), "not in its canonical spelling"},
	{"request with a trailing slash", "pre", Extensions{}, modifyRequest(func(r *ClientRequest) { r.Request += "/" }), "not in its canonical spelling"},
	{"request not a path", "pre", Extensions{}, modifyRequest(func(r *ClientRequest) { r.Request = "http://[::1" }), "unusable Request"},
	{"request with a bad query", "pre", Extensions{}, modifyRequest(func(r *ClientRequest) { r.Request += "?a=%zz" }), "the query of"},
	{"request header with a line break", "pre", Extensions{Headers: true}, modifyRequest(func(r *ClientRequest) {
		r.Headers = r.Headers.Clone()
		r.Headers["X-Evil"] = []string{"one\r\nInjected: yes"}
	}), "which is not a header value"},
	{"request header name not a token", "pre", Extensions{Headers: true}, modifyRequest(func(r *ClientRequest) {
		r.Headers = r.Headers.Clone()
		r.Headers["Bad Key"] = []string{"x"}
	}), "which is not a token"},
	{"short-circuit content type", "pre", Extensions{ShortCircuit: true}, func(*HookRequest) *HookResponse {
		return &HookResponse{ModifiedServerResponse: &ServerResponse{Code: 200, ContentType: "text/plain\r\nSet-Cookie: a=b"}}
	}, "which is not a header value"},
	{"post content type", "post", Extensions{}, modifyResponse(func(r *ServerResponse) { r.ContentType = "text/plain\r\nSet-Cookie: a=b" }), "which is not a header value"},
	{"post header with a line break", "post", Extensions{Headers: true}, modifyResponse(func(r *ServerResponse) {
		r.Headers = r.Headers.Clone()
		r.Headers.Set("X-Evil", "one\nSet-Cookie: a=b")
	}), "which is not a header value"},
}

func modifyRequest(change func(*ClientRequest)) func(*HookRequest) *HookResponse {
	return func(req *HookRequest) *HookResponse {
		out := req.ClientRequest
		change(&out)
		return &HookResponse{ModifiedClientRequest: &out}
	}
}

func modifyResponse(change func(*ServerResponse)) func(*HookRequest) *HookResponse {
	return func(req *HookRequest) *HookResponse {
		out := *req.ServerResponse
		change(&out)
		return &HookResponse{ModifiedServerResponse: &out}
	}
}

// A hook's answer that would break the request line or a header line is the
// adapter's failure, under the default policy a 502 naming it: never
// forwarded, never cleaned up quietly. Docker receives not one byte of a
// call a pre-hook answered so.
func TestHookOutputCannotSmuggle(t *testing.T) {
	for _, kind := range hookKinds {
		for _, tc := range badAnswers {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				docker := newByteDaemon(t)
				hook := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) { return tc.answer(req), nil })
				srv := auditProxy(t, kind, tc.stage, HookSettings{Extensions: tc.ext}, hook, WithUpstream(docker.upstream()))
				got := do(t, srv, "POST", "/v1.41/containers/abc/start", "", "")
				var msg struct{ Message string }
				if err := json.Unmarshal([]byte(got.Body), &msg); err != nil || got.Code != 502 ||
					!strings.Contains(msg.Message, `adapter "audit" (`+tc.stage+`-hook) failed: `) || !strings.Contains(msg.Message, tc.want) {
					t.Errorf("client got %+v; want a 502 naming the adapter and %q", got, tc.want)
				}
				sent := docker.bytes()
				if tc.stage == "post" {
					if n := strings.Count(sent, " HTTP/1.1\r\n"); n != 1 {
						t.Errorf("Docker got %d requests:\n%q", n, sent)
					}
				} else if sent != "" {
					t.Errorf("Docker got %q", sent)
				}
			})
		}
	}
}

// Under failurePolicy: ignore, such an answer is ignored whole, with a
// warning, and the call goes to Docker as the client made it.
func TestInvalidHookAnswerUnderIgnore(t *testing.T) {
	for _, kind := range hookKinds {
		t.Run(kind, func(t *testing.T) {
			var logs syncBuffer
			docker := newByteDaemon(t)
			hook := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
				out := req.ClientRequest
				out.Method, out.Request = smuggled, req.ClientRequest.Request+"?all=1"
				return &HookResponse{ModifiedClientRequest: &out}, nil
			})
			srv := auditProxy(t, kind, "pre", HookSettings{FailurePolicy: FailOpen}, hook,
				WithUpstream(docker.upstream()), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			got := do(t, srv, "POST", "/v1.41/containers/abc/start", "", "")
			if got.Code != 200 || got.Body != "{}" {
				t.Errorf("client got %+v", got)
			}
			sent := docker.bytes()
			if n := strings.Count(sent, " HTTP/1.1\r\n"); n != 1 || !strings.HasPrefix(sent, "POST /v1.41/containers/abc/start HTTP/1.1\r\n") {
				t.Errorf("Docker got %d requests:\n%q", n, sent)
			}
			if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "adapter=audit") || !strings.Contains(l, "which is not an HTTP method") {
				t.Errorf("no warning naming the adapter and the cause:\n%s", l)
			}
		})
	}
}

// An adapter that rejects with an empty body (restrict-image-user answers
// a bare 403) is named in Docker's error shape, which the CLI prints,
// instead of leaving the CLI to guess at API versions.
func TestEmptyRejectionNamesTheAdapter(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{"Id":"x"}`))
	adapter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(adapter.Close)
	srv := proxyFromYAML(t, "endpoints:\n  \"POST /*/containers/create\":\n    pre: [priu]\nadapters:\n  priu: "+adapter.URL+"/\n",
		WithUpstream(docker.upstream()))
	r := do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{"Image":"ubuntu"}`)
	if r.Code != 403 || r.ContentType != "application/json" ||
		r.Body != `{"message":"powerstrip: adapter \"priu\" rejected the call (HTTP 403, no message)"}`+"\n" {
		t.Fatalf("%+v", r)
	}
	if len(docker.calls()) != 0 {
		t.Fatal("Docker was called")
	}
}
