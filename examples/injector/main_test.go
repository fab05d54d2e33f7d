package main

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

const config = "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [injector]\nadapters:\n  injector: %s\n"

// Against the fake daemon: the image's Entrypoint is read from the daemon
// and ends up in front of Cmd.
func TestInjectorRewritesCreate(t *testing.T) {
	inj := &Injector{Entrypoint: []string{"/wait-for-network"}, Env: []string{"NETWORK=ready"}, Binds: []string{"/opt/tools:/tools:ro"}}
	adapter := httptest.NewServer(powerstrip.NewAdapterHandler(inj))
	defer adapter.Close()
	h := powerstriptest.Start(t, powerstriptest.Setup{Config: strings.Replace(config, "%s", adapter.URL, 1)})
	inj.Images = DaemonImages(h.Daemon.Addr())

	got := h.Call(powerstriptest.CreateRequest())
	if got.Status != 201 {
		t.Fatalf("status %d: %s", got.Status, got.Body)
	}
	var spec struct {
		Cmd, Entrypoint, Env []string
		HostConfig           struct{ Binds []string }
	}
	if err := got.DockerGot.JSON(&spec); err != nil {
		t.Fatal(err)
	}
	want := []string{"/docker-entrypoint.sh", "sh", "-c", "echo $GREETING"} // the fake image's Entrypoint, then the fixture's Cmd
	if diff := cmp.Diff(want, spec.Cmd); diff != "" {
		t.Errorf("Cmd (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/wait-for-network"}, spec.Entrypoint); diff != "" {
		t.Errorf("Entrypoint (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"GREETING=hello", "NETWORK=ready"}, spec.Env); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/tmp:/data", "/opt/tools:/tools:ro"}, spec.HostConfig.Binds); diff != "" {
		t.Errorf("Binds (-want +got):\n%s", diff)
	}
	inspected := false
	for _, c := range h.Daemon.Calls() {
		inspected = inspected || c.Received.Path == "/images/busybox:latest/json"
	}
	if !inspected {
		t.Error("the image was not inspected")
	}
}

// Against the real daemon, through the docker CLI: the wrapper runs first,
// then the command, with the injected variable.
func TestInjectorRealDaemon(t *testing.T) {
	daemon, image := powerstriptest.RealDaemon(t)
	inj := &Injector{Images: DaemonImages(daemon), Env: []string{"NETWORK=ready"},
		Entrypoint: []string{"/bin/sh", "-c", `echo "wrapped, network $NETWORK"; exec "$@"`, "wrapper"}}
	adapter := httptest.NewServer(powerstrip.NewAdapterHandler(inj))
	defer adapter.Close()
	h := powerstriptest.Start(t, powerstriptest.Setup{Config: strings.Replace(config, "%s", adapter.URL, 1), Daemon: daemon})
	cmd := exec.Command("docker", "run", "--rm", image, "echo", "the command")
	cmd.Env = []string{"DOCKER_HOST=" + h.Host, "DOCKER_CONFIG=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "wrapped, network ready\nthe command\n" {
		t.Errorf("docker run: %v %q", err, out)
	}
}
