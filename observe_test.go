package powerstrip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingObserver keeps a copy of every event, in order.
type recordingObserver struct {
	mu     sync.Mutex
	events []string
	calls  []CallInfo
	ended  chan struct{}
}

func newRecordingObserver() *recordingObserver {
	return &recordingObserver{ended: make(chan struct{}, 100)}
}

func (o *recordingObserver) note(e string) {
	o.mu.Lock()
	o.events = append(o.events, e)
	o.mu.Unlock()
}

func (o *recordingObserver) CallStart(c *CallInfo) { o.note("start " + c.Method + " " + c.Path) }
func (o *recordingObserver) HookDone(c *CallInfo, h *HookInfo) {
	o.note(fmt.Sprintf("hook %s %s %s", h.Hook, h.Phase, h.Outcome))
}
func (o *recordingObserver) StreamStart(c *CallInfo) { o.note("stream start") }
func (o *recordingObserver) StreamEnd(c *CallInfo)   { o.note("stream end") }
func (o *recordingObserver) CallEnd(c *CallInfo) {
	o.mu.Lock()
	o.events = append(o.events, fmt.Sprintf("end %d %s", c.Status, c.Failure))
	cp := *c
	cp.Hooks = append([]HookInfo(nil), c.Hooks...) // the proxy's own, reused
	o.calls = append(o.calls, cp)
	o.mu.Unlock()
	o.ended <- struct{}{}
}

// wait returns the events and calls once n calls ended: CallEnd may come
// just after the client has its answer.
func (o *recordingObserver) wait(t *testing.T, n int) ([]string, []CallInfo) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-o.ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d calls ended; events: %v", i, n, o.events)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	events, calls := o.events, o.calls
	o.events, o.calls = nil, nil
	return events, calls
}

func observedProxy(t *testing.T, yamlEndpoints string, hooks map[string]Hook, opts ...Option) (*httptest.Server, *recordingObserver, *fakeDocker) {
	t.Helper()
	docker := newFakeDocker(t, jsonReply(201, `{"Id":"1"}`))
	obs := newRecordingObserver()
	srv := buildProxy(t, "in-process", yamlEndpoints, hooks, append([]Option{WithUpstream(docker.upstream()), WithObserver(obs)}, opts...)...)
	return srv, obs, docker
}

var (
	addEnv = HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		out := req.ClientRequest
		out.Body = str(`{"Env":["A=1"]}`)
		return &HookResponse{PowerstripProtocolVersion: 1, ModifiedClientRequest: &out}, nil
	})
	noop = HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, nil })
	deny = HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) {
		return nil, &Rejection{Code: 403, ContentType: "application/json", Body: []byte(`{"message":"no"}`)}
	})
	broken = HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, errors.New("down") })
)

// A call no hook matches is observed on both serving paths, with its
// status and no endpoint; a hooked one with its endpoints and each hook.
func TestObserverSeesCalls(t *testing.T) {
	srv, obs, _ := observedProxy(t, "  \"POST /*/containers/create\":\n    pre: [env]\n    post: [noop]\n",
		map[string]Hook{"env": addEnv, "noop": noop})
	do(t, srv, "GET", "/v1.41/version", "", "")                              // lean path
	do(t, srv, "GET", "/v1.41/images/json?x=%zz", "", "")                    // still lean: the query is not parsed
	do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{}`) // hooks
	events, calls := obs.wait(t, 3)
	want := []string{
		"start GET /v1.41/version", "end 201 ",
		"start GET /v1.41/images/json", "end 201 ",
		"start POST /v1.41/containers/create", "hook env pre-hook changed", "hook noop post-hook ok", "end 201 ",
	}
	if strings.Join(events, "|") != strings.Join(want, "|") {
		t.Errorf("events\n got %q\nwant %q", events, want)
	}
	if calls[0].Hooked() || calls[0].Endpoints != nil || calls[0].Duration <= 0 {
		t.Errorf("pass-through call: %+v", calls[0])
	}
	hooked := calls[2]
	if !hooked.Hooked() || hooked.Endpoints[0] != "POST /*/containers/create" || len(hooked.Hooks) != 2 {
		t.Fatalf("hooked call: %+v", hooked)
	}
	if ch := hooked.Hooks[0].Changes; ch["keys_added"] != "Env" {
		t.Errorf("change summary: %v", ch)
	}
}

// Each outcome of a hook, and the failure of the call it leads to.
func TestObserverOutcomes(t *testing.T) {
	slow := HookFunc(func(ctx context.Context, _ *HookRequest) (*HookResponse, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	cases := []struct {
		name     string
		hook     Hook
		settings HookSettings
		status   int
		outcome  Outcome
		failure  Failure
	}{
		{"ok", noop, HookSettings{}, 201, OutcomeOK, ""},
		{"rejected", deny, HookSettings{}, 403, OutcomeRejected, FailureRejected},
		{"failed", broken, HookSettings{}, 502, OutcomeFailed, FailureHook},
		{"timed out", slow, HookSettings{Timeout: 50 * time.Millisecond}, 504, OutcomeTimedOut, FailureHook},
		{"failed open", broken, HookSettings{FailurePolicy: FailOpen}, 201, OutcomeFailedOpen, ""},
		{"timed out open", slow, HookSettings{Timeout: 50 * time.Millisecond, FailurePolicy: FailOpen}, 201, OutcomeFailedOpen, ""},
		{"dry-run reject", deny, HookSettings{DryRun: true}, 201, OutcomeDryRunReject, ""},
		{"dry-run change", addEnv, HookSettings{DryRun: true}, 201, OutcomeDryRunChange, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			docker := newFakeDocker(t, jsonReply(201, `{"Id":"1"}`))
			obs := newRecordingObserver()
			srv := proxyFromYAML(t, "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [h]\nadapters: {}\n",
				WithUpstream(docker.upstream()), WithObserver(obs), WithHookSettings("h", tc.hook, tc.settings))
			if got := do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{}`); got.Code != tc.status {
				t.Fatalf("status %d, want %d", got.Code, tc.status)
			}
			_, calls := obs.wait(t, 1)
			c := calls[0]
			if c.Status != tc.status || c.Failure != tc.failure || len(c.Hooks) != 1 || c.Hooks[0].Outcome != tc.outcome {
				t.Errorf("got status %d failure %q hooks %+v; want %d %q %q", c.Status, c.Failure, c.Hooks, tc.status, tc.failure, tc.outcome)
			}
			if h := c.Hooks[0]; (tc.outcome == OutcomeRejected || tc.outcome == OutcomeDryRunReject) && h.Status != 403 {
				t.Errorf("rejection status %d", h.Status)
			}
			if tc.failure != "" && c.Err == nil {
				t.Error("a failure without its cause")
			}
		})
	}
}

// Body limits and a daemon that is down are failures of their own, on
// both paths.
func TestObserverFailures(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{}`))
	obs := newRecordingObserver()
	srv := proxyFromYAML(t, "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [h]\n  \"POST /*/volumes/create\":\n    pre: [h]\nadapters: {}\n",
		WithUpstream(docker.upstream()), WithObserver(obs), WithHook("h", noop), WithRequestBodyLimit(100), WithHookMemoryLimit(50))
	big := `{"x":"` + strings.Repeat("a", 200) + `"}`
	if got := do(t, srv, "POST", "/v1.41/containers/create", "application/json", big); got.Code != 413 {
		t.Errorf("over the body limit: %d", got.Code)
	}
	mid := `{"x":"` + strings.Repeat("a", 60) + `"}`
	if got := do(t, srv, "POST", "/v1.41/volumes/create", "application/json", mid); got.Code != 503 {
		t.Errorf("over the hook memory: %d", got.Code)
	}
	_, calls := obs.wait(t, 2)
	if calls[0].Failure != FailureRequestBodyLimit || calls[1].Failure != FailureHookMemoryLimit || calls[1].Status != 503 {
		t.Errorf("failures %q %q (%d)", calls[0].Failure, calls[1].Failure, calls[1].Status)
	}

	docker.srv.Close()
	do(t, srv, "GET", "/v1.41/version", "", "")                              // lean path
	do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{}`) // net/http's side
	_, calls = obs.wait(t, 2)
	for _, c := range calls {
		if c.Status != 502 || c.Failure != FailureDaemon {
			t.Errorf("%s %s with the daemon down: %d %q", c.Method, c.Path, c.Status, c.Failure)
		}
	}
}

// The caller of a call on a unix socket is its peer's credentials.
func TestObserverCaller(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{}`))
	obs := newRecordingObserver()
	p, err := New(&Config{Version: 1, Endpoints: []Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"h"}}}},
		WithUpstream(docker.upstream()), WithObserver(obs), WithHook("h", noop))
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "ps.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ConnContext: ConnContext}
	go p.Serve(srv, l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := client.Post("http://docker/v1.41/containers/create", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, calls := obs.wait(t, 1)
	c := calls[0].Caller
	if c == nil || c.UID == nil || *c.UID != uint32(os.Getuid()) || c.PID == nil || *c.PID != int32(os.Getpid()) {
		t.Errorf("caller %+v", c)
	}
}

// Several observers are each told everything.
func TestSeveralObservers(t *testing.T) {
	a, b := newRecordingObserver(), newRecordingObserver()
	docker := newFakeDocker(t, jsonReply(201, `{}`))
	srv := proxyFromYAML(t, "version: 1\nendpoints: {}\nadapters: {}\n", WithUpstream(docker.upstream()), WithObserver(a), WithObserver(b))
	do(t, srv, "GET", "/_ping", "", "")
	ea, _ := a.wait(t, 1)
	eb, _ := b.wait(t, 1)
	if len(ea) != 2 || strings.Join(ea, "|") != strings.Join(eb, "|") {
		t.Errorf("%q, %q", ea, eb)
	}
	if _, err := New(nil, WithObserver(nil)); err == nil {
		t.Error("a nil observer was accepted")
	}
}
