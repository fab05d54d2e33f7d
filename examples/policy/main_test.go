package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

func TestPolicy(t *testing.T) {
	adapter := httptest.NewServer(powerstrip.NewAdapterHandler(Policy{}))
	defer adapter.Close()
	h := powerstriptest.Start(t, powerstriptest.Setup{
		Config: "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [policy]\nadapters:\n  policy: " + adapter.URL + "\n"})
	call := func(edit func(host map[string]any)) *powerstriptest.Result {
		var spec map[string]any
		json.Unmarshal(powerstriptest.CreateBody(), &spec)
		edit(spec["HostConfig"].(map[string]any))
		body, _ := json.Marshal(spec)
		req := powerstriptest.CreateRequest()
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		return h.Call(req)
	}
	cases := []struct {
		name     string
		edit     func(host map[string]any)
		status   int
		message  string
		reachesD bool
	}{
		{"host bind", func(map[string]any) {}, 403, "bind mounts of host paths are not allowed (/tmp)", false},
		{"named volume", func(host map[string]any) { host["Binds"] = []string{"data:/data"} }, 201, "", true},
		{"privileged", func(host map[string]any) { host["Binds"] = nil; host["Privileged"] = true }, 403, "privileged containers are not allowed", false},
		{"bind mount", func(host map[string]any) {
			host["Binds"] = nil
			host["Mounts"] = []map[string]string{{"Type": "bind", "Source": "/etc", "Target": "/x"}}
		}, 403, "(/etc)", false},
	}
	for _, tc := range cases {
		got := call(tc.edit)
		var msg struct{ Message string }
		got.JSON(&msg)
		if got.Status != tc.status || !strings.Contains(msg.Message, tc.message) || (got.DockerGot != nil) != tc.reachesD {
			t.Errorf("%s: %d %q, reached Docker %v", tc.name, got.Status, msg.Message, got.DockerGot != nil)
		}
	}
}

// Through the docker CLI and the real daemon, the CLI prints the message.
func TestPolicyRealDaemon(t *testing.T) {
	daemon, image := powerstriptest.RealDaemon(t)
	h := powerstriptest.Start(t, powerstriptest.Setup{Daemon: daemon,
		Config: "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [policy]\nadapters: {}\n",
		Hooks:  map[string]powerstrip.Hook{"policy": Policy{}}})
	run := func(args ...string) (string, error) {
		cmd := exec.Command("docker", args...)
		cmd.Env = []string{"DOCKER_HOST=" + h.Host, "DOCKER_CONFIG=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("run", "--rm", "-v", "/etc:/host-etc", image, "true"); err == nil || !strings.Contains(out, "policy: bind mounts of host paths are not allowed (/etc)") {
		t.Errorf("a host bind: %v %q", err, out)
	}
	if out, err := run("run", "--rm", image, "echo", "allowed"); err != nil || out != "allowed\n" {
		t.Errorf("an ordinary container: %v %q", err, out)
	}
}
