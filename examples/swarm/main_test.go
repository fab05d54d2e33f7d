package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// docker service create through Powerstrip in front of a Swarm manager (the
// test daemon, in swarm mode for this test): the task's container has the
// variable the pre-hook added, next to the client's own.
func TestSwarmServiceGetsEnv(t *testing.T) {
	daemon, image := powerstriptest.RealDaemon(t)
	docker := func(host string, args ...string) (string, error) {
		cmd := exec.Command("docker", args...)
		cmd.Env = []string{"DOCKER_HOST=" + host, "DOCKER_CONFIG=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := docker(daemon, "swarm", "init", "--advertise-addr", "127.0.0.1"); err != nil {
		t.Fatalf("swarm init: %v %s", err, out)
	}
	t.Cleanup(func() { docker(daemon, "swarm", "leave", "--force") })

	adapter := httptest.NewServer(powerstrip.NewAdapterHandler(ServiceEnv{"DATACENTER=eu-1"}))
	defer adapter.Close()
	h := powerstriptest.Start(t, powerstriptest.Setup{Daemon: daemon,
		Config: "version: 1\nendpoints:\n  \"POST /*/services/create\":\n    pre: [swarm-env]\nadapters:\n  swarm-env: " + adapter.URL + "\n"})
	name := "powerstrip-swarm-test"
	if out, err := docker(h.Host, "service", "create", "--detach", "--name", name, "--restart-condition", "none",
		"--env", "OWN=kept", image, "sleep", "60"); err != nil {
		t.Fatalf("service create: %v %s", err, out)
	}
	t.Cleanup(func() { docker(daemon, "service", "rm", name) })

	var container string
	deadline := time.Now().Add(time.Minute)
	for container == "" {
		if time.Now().After(deadline) {
			out, _ := docker(daemon, "service", "ps", "--no-trunc", name)
			t.Fatalf("no task container within a minute:\n%s", out)
		}
		container, _ = docker(daemon, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+name)
		if container == "" {
			time.Sleep(100 * time.Millisecond) // polling the scheduler, bounded by the deadline
		}
	}
	env, err := docker(daemon, "inspect", "--format", "{{json .Config.Env}}", strings.Fields(container)[0])
	if err != nil || !strings.Contains(env, `"DATACENTER=eu-1"`) || !strings.Contains(env, `"OWN=kept"`) {
		t.Errorf("the task's container has Env %s (%v)", env, err)
	}
	out, _ := docker(daemon, "service", "inspect", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}", name)
	if out != `["OWN=kept","DATACENTER=eu-1"]` {
		t.Errorf("the service spec has Env %s", out)
	}
}

// Without a daemon: the hook leaves services without a ContainerSpec alone.
func TestServiceEnvSkipsNonContainerServices(t *testing.T) {
	h := powerstriptest.Start(t, powerstriptest.Setup{
		Config: "version: 1\nendpoints:\n  \"POST /*/services/create\":\n    pre: [swarm-env]\nadapters: {}\n",
		Hooks:  map[string]powerstrip.Hook{"swarm-env": ServiceEnv{"A=1"}},
		Answer: func(r *http.Request, body []byte) powerstriptest.Answer {
			return powerstriptest.Answer{Status: 201, ContentType: "application/json", Body: `{"ID":"svc"}`}
		},
	})
	body := `{"Name":"p","TaskTemplate":{"PluginSpec":{"Name":"x"}}}`
	req, _ := http.NewRequest("POST", "/v1.41/services/create", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	got := h.Call(req)
	if got.Status != 201 || string(got.DockerGot.Body) != body {
		t.Errorf("%d, Docker got %s", got.Status, got.DockerGot.Body)
	}
}
