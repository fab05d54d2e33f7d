package powerstrip

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/powerstrip-go/powerstrip/internal/testpki"
)

func TestParseExtensions(t *testing.T) {
	cfg, err := ParseConfig([]byte(`version: 1
endpoints: {}
adapters:
  all:
    url: http://a/
    extensions: [headers, credentials, short-circuit, unwind, caller]
    dryRun: true
  plain: http://b/
`))
	if err != nil {
		t.Fatal(err)
	}
	want := AdapterSettings{URL: "http://a/", HookSettings: HookSettings{DryRun: true, Extensions: Extensions{Headers: true, Credentials: true, ShortCircuit: true, Unwind: true, Caller: true}}}
	if diff := cmp.Diff(want, cfg.Adapters["all"]); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if cfg.Adapters["plain"].Extensions.enabled() {
		t.Error("a plain adapter has extensions")
	}
	for yaml, msg := range map[string]string{
		"extensions: [teleport]":    `unknown extension "teleport"`,
		"extensions: headers":       "extensions must be a list",
		"extensions: [credentials]": "the credentials extension needs the headers extension",
		"dryRun: maybe":             "dryRun must be true or false",
	} {
		_, err := ParseConfig([]byte("version: 1\nendpoints: {}\nadapters:\n  a:\n    url: http://a/\n    " + yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", yaml, err, msg)
		}
	}
}

// rawAdapter is a remote adapter that keeps the exact bytes it received.
type rawAdapter struct {
	mu     sync.Mutex
	bodies []string
	reply  func(req *HookRequest) any
	srv    *httptest.Server
}

func newRawAdapter(t *testing.T, reply func(req *HookRequest) any) *rawAdapter {
	a := &rawAdapter{reply: reply}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.bodies = append(a.bodies, string(b))
		a.mu.Unlock()
		var req HookRequest
		json.Unmarshal(b, &req)
		var out any = HookResponse{PowerstripProtocolVersion: 1}
		if a.reply != nil {
			out = a.reply(&req)
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *rawAdapter) received() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.bodies...)
}

// A v1 adapter's traffic is byte for byte protocol v1, even in a chain
// whose other adapters use every extension.
func TestV1AdapterTrafficUnchanged(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{"Id":"1"}`))
	v1 := newRawAdapter(t, nil)
	v2 := newRawAdapter(t, nil)
	srv := proxyFromYAML(t, fmt.Sprintf(`version: 1
endpoints:
  "POST /*/containers/create":
    pre: [v2, v1]
    post: [v2, v1]
adapters:
  v1: %s
  v2:
    url: %s
    extensions: [headers, credentials, short-circuit, unwind, caller]
`, v1.srv.URL, v2.srv.URL), WithUpstream(docker.upstream()))
	req, _ := http.NewRequest("POST", srv.URL+"/v1.41/containers/create?name=x", strings.NewReader(`{"Image":"busybox"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("X-Custom", "1")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := []string{
		`{"PowerstripProtocolVersion":1,"Type":"pre-hook","ClientRequest":{"Method":"POST","Request":"/v1.41/containers/create?name=x","Body":"{\"Image\":\"busybox\"}"}}`,
		`{"PowerstripProtocolVersion":1,"Type":"post-hook","ClientRequest":{"Method":"POST","Request":"/v1.41/containers/create?name=x","Body":"{\"Image\":\"busybox\"}"},"ServerResponse":{"ContentType":"application/json","Body":"{\"Id\":\"1\"}","Code":201}}`,
	}
	if diff := cmp.Diff(want, v1.received()); diff != "" {
		t.Errorf("the v1 adapter's bytes (-want +got):\n%s", diff)
	}
	got := v2.received()
	if len(got) != 2 || !strings.Contains(got[0], `"PowerstripProtocolVersion":2`) || !strings.Contains(got[0], `"X-Custom":["1"]`) ||
		!strings.Contains(got[0], `"Authorization":["Bearer secret"]`) || !strings.Contains(got[1], `"Api-Version":["1.41"]`) {
		t.Errorf("the v2 adapter got %q", got)
	}
}

// Headers: shown only to adapters that ask, credentials only with
// credentials; set and remove work; Host, framing and hop-by-hop headers
// cannot change.
func TestHeadersExtension(t *testing.T) {
	docker := newFakeDocker(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Registry-Auth", r.Header.Get("X-Registry-Auth"))
		w.Header().Set("X-Seen-Added", r.Header.Get("X-Added"))
		w.Header().Set("X-Seen-Removed", r.Header.Get("X-Remove-Me"))
		w.Header().Set("X-Seen-Host", r.Host)
		jsonReply(201, `{}`)(w, r)
	})
	var seen http.Header
	pre := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		seen = req.ClientRequest.Headers
		out := req.ClientRequest
		h := out.Headers.Clone()
		h.Del("X-Remove-Me")
		h.Set("x-added", "yes")
		h.Set("Host", "evil")
		h.Set("Content-Length", "9999")
		h.Set("X-Registry-Auth", "forged")
		out.Headers = h
		return &HookResponse{ModifiedClientRequest: &out}, nil
	})
	post := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		sr := *req.ServerResponse
		sr.Headers.Set("X-Post", "added")
		sr.Headers.Del("Api-Version")
		return &HookResponse{ModifiedServerResponse: &sr}, nil
	})
	var logs syncBuffer
	srv := buildProxy(t, "in-process", "  \"POST /*/containers/create\":\n    pre: [pre]\n    post: [post]\n", nil,
		WithUpstream(docker.upstream()), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		WithHookSettings("pre", pre, HookSettings{Extensions: Extensions{Headers: true}}),
		WithHookSettings("post", post, HookSettings{Extensions: Extensions{Headers: true}}))
	req, _ := http.NewRequest("POST", srv.URL+"/v1.41/containers/create", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Registry-Auth", "real-secret")
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("X-Remove-Me", "1")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if seen.Get("Authorization") != "" || seen.Get("X-Registry-Auth") != "" || seen.Get("X-Remove-Me") != "1" || seen.Get("Content-Type") != "application/json" {
		t.Errorf("the pre-hook saw %v", seen)
	}
	h := resp.Header
	if h.Get("X-Seen-Registry-Auth") != "real-secret" || h.Get("X-Seen-Added") != "yes" || h.Get("X-Seen-Removed") != "" || strings.Contains(h.Get("X-Seen-Host"), "evil") {
		t.Errorf("Docker saw %v", h)
	}
	if h.Get("X-Post") != "added" || h.Get("Api-Version") != "" {
		t.Errorf("the client got %v", h)
	}
	for _, want := range []string{"header=Host", "header=Content-Length", "header=X-Registry-Auth"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no warning with %s:\n%s", want, logs.String())
		}
	}
}

// Short-circuit: a pre-hook answers the client; Docker is not called; the
// post-hooks run on that answer. Without the extension the same reply is
// ignored.
func TestShortCircuitExtension(t *testing.T) {
	answer := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		return &HookResponse{ModifiedServerResponse: &ServerResponse{Code: 200, ContentType: "application/json", Body: str(`{"cached":true}`)}}, nil
	})
	post := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		sr := *req.ServerResponse
		sr.Body = str(strings.TrimSuffix(BodyText(sr.Body), "}") + `,"post":true}`)
		return &HookResponse{ModifiedServerResponse: &sr}, nil
	})
	for _, enabled := range []bool{true, false} {
		docker := newFakeDocker(t, jsonReply(200, `{"from":"docker"}`))
		srv := buildProxy(t, "in-process", "  \"GET /*/images/json\":\n    pre: [cache]\n    post: [post]\n", map[string]Hook{"post": post},
			WithUpstream(docker.upstream()), WithHookSettings("cache", answer, HookSettings{Extensions: Extensions{ShortCircuit: enabled}}))
		got := do(t, srv, "GET", "/v1.41/images/json", "", "")
		want, calls := `{"cached":true,"post":true}`, 0
		if !enabled {
			want, calls = `{"from":"docker","post":true}`, 1
		}
		if got.Code != 200 || got.Body != want || len(docker.calls()) != calls {
			t.Errorf("short-circuit %v: %+v, Docker called %d times", enabled, got, len(docker.calls()))
		}
	}
	docker := newFakeDocker(t, jsonReply(200, `{}`))
	srv := buildProxy(t, "in-process", "  \"GET /**\":\n    pre: [bad]\n", nil, WithUpstream(docker.upstream()),
		WithHookSettings("bad", HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) {
			return &HookResponse{ModifiedServerResponse: &ServerResponse{Code: 404}}, nil
		}), HookSettings{Extensions: Extensions{ShortCircuit: true}}))
	if got := do(t, srv, "GET", "/v1.41/info", "", ""); got.Code != 502 || !strings.Contains(got.Body, "a short-circuit answer is a status from 200 to 399") {
		t.Errorf("an error short-circuit: %+v", got)
	}
}

// Unwind: when a later pre-hook rejects or Docker fails, the pre-hooks that
// ran and asked for it are told, last first; the others are not.
func TestUnwindExtension(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	record := func(name string) HookFunc {
		return func(_ context.Context, req *HookRequest) (*HookResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			line := name + " " + req.Type
			if req.Unwind != nil {
				line += fmt.Sprintf(" %s/%s/%d/%s", req.Unwind.Stage, req.Unwind.Hook, req.Unwind.Code, req.Unwind.Message)
			}
			calls = append(calls, line)
			if name == "deny" {
				return nil, Reject(403, "quota exceeded")
			}
			return nil, nil
		}
	}
	unwind := HookSettings{Extensions: Extensions{Unwind: true}}
	run := func(endpoints string, reply func(http.ResponseWriter, *http.Request)) []string {
		mu.Lock()
		calls = nil
		mu.Unlock()
		docker := newFakeDocker(t, reply)
		srv := buildProxy(t, "in-process", endpoints, nil, WithUpstream(docker.upstream()),
			WithHookSettings("volume", record("volume"), unwind), WithHookSettings("address", record("address"), unwind),
			WithHook("plain", record("plain")), WithHook("deny", record("deny")))
		do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{}`)
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), calls...)
	}
	got := run("  \"POST /**\":\n    pre: [volume, plain, address, deny]\n", jsonReply(201, `{}`))
	want := []string{"volume pre-hook", "plain pre-hook", "address pre-hook", "deny pre-hook",
		"address unwind pre-hook/deny/403/quota exceeded", "volume unwind pre-hook/deny/403/quota exceeded"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("a rejection (-want +got):\n%s", diff)
	}
	got = run("  \"POST /**\":\n    pre: [volume, plain]\n", jsonReply(500, `{"message":"disk full"}`))
	want = []string{"volume pre-hook", "plain pre-hook", "volume unwind docker//500/disk full"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Docker failing (-want +got):\n%s", diff)
	}
	got = run("  \"POST /**\":\n    pre: [volume]\n", jsonReply(201, `{}`))
	if diff := cmp.Diff([]string{"volume pre-hook"}, got); diff != "" {
		t.Errorf("a success unwinds nothing (-want +got):\n%s", diff)
	}
}

// An unwind call to a remote adapter is protocol v2 JSON with Type unwind.
func TestUnwindRemote(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(409, `{"message":"name in use"}`))
	a := newRawAdapter(t, nil)
	srv := proxyFromYAML(t, fmt.Sprintf("version: 1\nendpoints:\n  \"POST /**\":\n    pre: [a]\nadapters:\n  a:\n    url: %s\n    extensions: [unwind]\n", a.srv.URL),
		WithUpstream(docker.upstream()))
	do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{}`)
	got := a.received()
	want := `{"PowerstripProtocolVersion":2,"Type":"unwind","ClientRequest":{"Method":"POST","Request":"/v1.41/containers/create","Body":"{}"},"Unwind":{"Stage":"docker","Code":409,"Message":"name in use"}}`
	if len(got) != 2 || got[1] != want {
		t.Errorf("got %q\nwant %s", got, want)
	}
}

// A Go hook served by NewAdapterHandler as a remote adapter with the unwind
// extension is told when Docker fails the call after its pre-hook.
func TestUnwindAdapterHandler(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(409, `{"message":"name in use"}`))
	hook := &recorder{}
	adapter := httptest.NewServer(NewAdapterHandler(hook))
	defer adapter.Close()
	srv := proxyFromYAML(t, fmt.Sprintf("version: 1\nendpoints:\n  \"POST /**\":\n    pre: [a]\nadapters:\n  a:\n    url: %s\n    extensions: [unwind]\n", adapter.URL),
		WithUpstream(docker.upstream()))
	if got := do(t, srv, "POST", "/v1.41/containers/create?name=web", "application/json", `{}`); got.Code != 409 {
		t.Errorf("client got %+v", got)
	}
	var types []string
	var reason *UnwindReason
	for _, req := range hook.requests() {
		types = append(types, req.Type)
		if req.Type == UnwindHook {
			reason = req.Unwind
		}
	}
	if diff := cmp.Diff([]string{PreHook, UnwindHook}, types); diff != "" {
		t.Fatalf("the hook's calls (-want +got):\n%s", diff)
	}
	if want := (UnwindReason{Stage: "docker", Code: 409, Message: "name in use"}); reason == nil || *reason != want {
		t.Errorf("unwind reason %+v, want %+v", reason, want)
	}
}

// Caller identity: a TLS client certificate's subject, a unix peer's
// credentials; only for adapters that ask.
func TestCallerExtension(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(200, `{}`))
	var mu sync.Mutex
	var seen []*Caller
	who := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		mu.Lock()
		seen = append(seen, req.Caller)
		mu.Unlock()
		return nil, nil
	})
	cfg := &Config{Version: 1, Endpoints: []Endpoint{{Method: "GET", Pattern: "/**", Pre: []string{"who", "blind"}}}}
	p, err := New(cfg, WithUpstream(docker.upstream()), WithHookSettings("who", who, HookSettings{Extensions: Extensions{Caller: true}}), WithHook("blind", who))
	if err != nil {
		t.Fatal(err)
	}

	pki := testpki.New(t)
	// As the binary serves TLS: Serve on a TLS listener, so the call
	// reaches the hook through the lean path's hand-over.
	tlsSrv := httptest.NewUnstartedServer(p)
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{pki.Server}, ClientCAs: pki.CAPool, ClientAuth: tls.RequireAndVerifyClientCert}
	tlsSrv.Config.ConnContext = ConnContext
	tlsSrv.Listener = p.leanListener(tlsSrv.Config, tls.NewListener(tlsSrv.Listener, tlsConfig))
	tlsSrv.Start()
	tlsSrv.URL = strings.Replace(tlsSrv.URL, "http://", "https://", 1)
	defer tlsSrv.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.CAPool, Certificates: []tls.Certificate{pki.Client}}}}
	resp, err := client.Get(tlsSrv.URL + "/v1.41/info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	sock := filepath.Join(t.TempDir(), "ps.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	unixSrv := &http.Server{Handler: p, ConnContext: ConnContext}
	go p.Serve(unixSrv, l)
	defer unixSrv.Close()
	unixClient := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err = unixClient.Get("http://docker/v1.41/info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 4 {
		t.Fatalf("hooks ran %d times", len(seen))
	}
	if seen[0] == nil || seen[0].TLSSubject != "CN=powerstrip client" || seen[1] != nil {
		t.Errorf("over TLS: %+v, and the blind hook got %+v", seen[0], seen[1])
	}
	uid, pid := uint32(os.Getuid()), int32(os.Getpid())
	if c := seen[2]; c == nil || c.UID == nil || *c.UID != uid || c.PID == nil || *c.PID != pid || seen[3] != nil {
		t.Errorf("over a unix socket: %+v, and the blind hook got %+v", c, seen[3])
	}
}

// Dry run: the adapter is called, what it would have done is logged, and
// nothing is applied.
func TestDryRun(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{"Id":"1"}`))
	var logs syncBuffer
	deny := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, Reject(403, "would deny") })
	srv := buildProxy(t, "in-process", "  \"POST /**\":\n    pre: [deny, inject]\n    post: [deny]\n", nil,
		WithUpstream(docker.upstream()), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		WithHookSettings("deny", deny, HookSettings{DryRun: true}),
		WithHookSettings("inject", injectEnv("X=1"), HookSettings{DryRun: true}))
	got := do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{"Image":"x"}`)
	if got.Code != 201 || got.Body != `{"Id":"1"}` {
		t.Errorf("client got %+v", got)
	}
	if c := docker.calls(); len(c) != 1 || c[0].Body != `{"Image":"x"}` || c[0].Query != "" {
		t.Errorf("Docker got %+v", c)
	}
	for _, want := range []string{
		`"dry run: the hook would have rejected the call" adapter=deny type=pre-hook`, `status=403`,
		`"dry run: the hook would have changed the call" adapter=inject`, `keys_added=Env`, `query_after="injected=1"`,
		`"dry run: the hook would have replaced the answer with an error" adapter=deny type=post-hook`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.String())
		}
	}
}
