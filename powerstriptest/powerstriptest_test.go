package powerstriptest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// addEnv is a pre-hook that adds GREETING's reply to create's Env.
var addEnv = powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
	var spec map[string]any
	if err := req.ClientRequest.DecodeBody(&spec); err != nil {
		return nil, powerstrip.Reject(400, err.Error())
	}
	env, _ := spec["Env"].([]any)
	spec["Env"] = append(env, "REPLY=hi")
	out := req.ClientRequest
	out.SetBody(spec)
	return &powerstrip.HookResponse{ModifiedClientRequest: &out}, nil
})

// The same hook, in-process and served remotely, does the same to a call.
func TestHarnessInProcessAndRemote(t *testing.T) {
	remote := httptest.NewServer(powerstrip.NewAdapterHandler(addEnv))
	defer remote.Close()
	setups := map[string]powerstriptest.Setup{
		"in-process": {Config: "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [env]\nadapters: {}\n",
			Hooks: map[string]powerstrip.Hook{"env": addEnv}},
		"remote": {Config: "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [env]\nadapters:\n  env: " + remote.URL + "\n"},
	}
	for name, setup := range setups {
		t.Run(name, func(t *testing.T) {
			h := powerstriptest.Start(t, setup)
			got := h.Call(powerstriptest.CreateRequest())
			if got.Status != 201 || got.DockerGot == nil {
				t.Fatalf("status %d, Docker got %v", got.Status, got.DockerGot)
			}
			var spec struct{ Env []string }
			if err := got.DockerGot.JSON(&spec); err != nil || strings.Join(spec.Env, " ") != "GREETING=hello REPLY=hi" {
				t.Errorf("Docker got Env %v (%v)", spec.Env, err)
			}
			if got.DockerGot.Query != "name=web" || got.DockerGot.Path != "/v1.41/containers/create" {
				t.Errorf("Docker got %s?%s", got.DockerGot.Path, got.DockerGot.Query)
			}
			var answer struct{ Id string }
			if got.JSON(&answer); answer.Id != powerstriptest.FakeContainerID {
				t.Errorf("client got %s", got.Body)
			}
		})
	}
}

// Every fixture goes through the chain as the CLI's call would.
func TestFixtures(t *testing.T) {
	var seen []string
	watch := powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		seen = append(seen, fmt.Sprintf("%s %s %s body=%v", req.Type, req.ClientRequest.Method, req.ClientRequest.Request, req.ClientRequest.Body != nil))
		return nil, nil
	})
	h := powerstriptest.Start(t, powerstriptest.Setup{
		Config: "version: 1\nendpoints:\n  \"* /**\":\n    pre: [watch]\n    post: [watch]\nadapters: {}\n",
		Hooks:  map[string]powerstrip.Hook{"watch": watch},
	})
	if got := h.Call(powerstriptest.StartRequest("web")); got.Status != 204 || got.DockerGot.Path != "/v1.41/containers/web/start" {
		t.Errorf("start: %d %+v", got.Status, got.DockerGot)
	}
	build := h.Call(powerstriptest.BuildRequest("app:1", nil))
	if build.Status != 200 || !strings.Contains(string(build.Body), "Successfully built") || build.DockerGot.Header.Get("Content-Type") != "application/x-tar" {
		t.Errorf("build: %d %s", build.Status, build.Body)
	}
	attach := h.Call(powerstriptest.AttachRequest("web"))
	if attach.Status != 101 || attach.Conn == nil {
		t.Fatalf("attach: %d", attach.Status)
	}
	io.WriteString(attach.Conn, "stdin bytes")
	echo := make([]byte, len("stdin bytes"))
	if _, err := io.ReadFull(attach.Conn, echo); err != nil || string(echo) != "stdin bytes" {
		t.Errorf("attach stream: %q %v", echo, err)
	}
	attach.Conn.Close()
	want := []string{
		"pre-hook POST /v1.41/containers/web/start body=false",
		"post-hook POST /v1.41/containers/web/start body=false",
		"pre-hook POST /v1.41/build?dockerfile=Dockerfile&rm=1&t=app%3A1 body=false",
		"post-hook POST /v1.41/build?dockerfile=Dockerfile&rm=1&t=app%3A1 body=false",
		"pre-hook POST /v1.41/containers/web/attach?stderr=1&stdin=1&stdout=1&stream=1 body=false",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("hooks saw:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

// A rejection: the client gets it, and the fake daemon was never called.
func TestHarnessRejection(t *testing.T) {
	h := powerstriptest.Start(t, powerstriptest.Setup{
		Config: "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [deny]\nadapters: {}\n",
		Hooks: map[string]powerstrip.Hook{"deny": powerstrip.HookFunc(func(context.Context, *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
			return nil, powerstrip.Reject(403, "no")
		})},
	})
	got := h.Call(powerstriptest.CreateRequest())
	if got.Status != 403 || got.DockerGot != nil || len(h.Daemon.Calls()) != 0 {
		t.Errorf("status %d, Docker got %+v", got.Status, got.DockerGot)
	}
}

// The kit drives the extensions: settings for in-process hooks, the
// config's for the same hook served remotely by NewAdapterHandler, and a
// unix socket so the caller extension sees who calls.
func TestHarnessExtensions(t *testing.T) {
	var mu sync.Mutex
	var got []string
	hook := powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		line := req.Type
		if req.Caller != nil && req.Caller.UID != nil {
			line += fmt.Sprintf(" uid=%d", *req.Caller.UID)
		}
		if req.Unwind != nil {
			line += " " + req.Unwind.Message
		}
		got = append(got, line)
		return nil, nil
	})
	remote := httptest.NewServer(powerstrip.NewAdapterHandler(hook))
	defer remote.Close()
	const endpoints = "version: 1\nendpoints:\n  \"POST /*/containers/*/start\":\n    pre: [volume]\n"
	setups := map[string]powerstriptest.Setup{
		"in-process": {Config: endpoints + "adapters: {}\n", Hooks: map[string]powerstrip.Hook{"volume": hook},
			HookSettings: map[string]powerstrip.HookSettings{"volume": {Extensions: powerstrip.Extensions{Unwind: true, Caller: true}}}},
		"remote": {Config: endpoints + "adapters:\n  volume:\n    url: " + remote.URL + "\n    extensions: [unwind, caller]\n"},
	}
	for name, setup := range setups {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			setup.Unix = true
			setup.Answer = func(*http.Request, []byte) powerstriptest.Answer {
				return powerstriptest.Answer{Status: 404, ContentType: "application/json", Body: `{"message":"No such container: web"}`}
			}
			h := powerstriptest.Start(t, setup)
			if !strings.HasPrefix(h.Host, "unix://") {
				t.Errorf("Host %s", h.Host)
			}
			if res := h.Call(powerstriptest.StartRequest("web")); res.Status != 404 {
				t.Errorf("status %d", res.Status)
			}
			uid := fmt.Sprintf("uid=%d", os.Getuid())
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(got, "|") != "pre-hook "+uid+"|unwind "+uid+" No such container: web" {
				t.Errorf("the hook saw %q", got)
			}
		})
	}
}
