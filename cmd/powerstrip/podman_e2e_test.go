//go:build linux

package main

// The pack in front of Podman (issue 14, point 3): Podman's own client
// speaks only the libpod API, /v4.x/libpod/..., and sends its JSON bodies
// without a Content-Type. Through the binary with the pack, each privilege
// is refused with the policy's message, and Podman's own state, read past
// the proxy, shows nothing was created; the allowed twins are created.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// e2ePodman is the test Podman service (scripts/daemon.sh starts one).
func e2ePodman(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("POWERSTRIP_TEST_PODMAN")
	if addr == "" {
		if os.Getenv("POWERSTRIP_E2E") == "required" {
			t.Fatal("end-to-end tests are required: POWERSTRIP_TEST_PODMAN is not set (scripts/test.sh sets it)")
		}
		t.Skip("no test Podman: set POWERSTRIP_TEST_PODMAN")
	}
	return addr
}

// podmanCLI runs Podman's remote client against url.
func podmanCLI(ctx context.Context, url string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "podman", append([]string{"--remote", "--url", url}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestPodmanPolicies(t *testing.T) {
	podman := e2ePodman(t)
	_, image := e2eDocker(t)
	image = "localhost/" + image
	allowed := filepath.Join(t.TempDir(), "allowed")
	if err := os.MkdirAll(allowed, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "adapters.yml", `endpoints:
  "route *":
    pre: [no-privileged, no-host-namespaces, capabilities, no-devices, bind-mounts, images]
adapters:
  no-privileged: {builtin: no-privileged}
  no-host-namespaces: {builtin: no-host-namespaces}
  capabilities: {builtin: capabilities, allow: [NET_BIND_SERVICE]}
  no-devices: {builtin: no-devices}
  bind-mounts: {builtin: bind-mounts, allow: [`+allowed+`]}
  images: {builtin: images, allow: ["localhost/powerstrip-test:*"]}
`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := startBinary(t, ctx, podman, cfg)
	proxy := "unix://" + b.sock
	tag := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
	name := func(kind string) string {
		n := "pm-" + tag + "-" + kind
		t.Cleanup(func() { podmanCLI(context.Background(), podman, "rm", "-f", n) }) //nolint:errcheck // cleanup
		return n
	}
	exists := func(n string) bool {
		_, err := podmanCLI(ctx, podman, "container", "exists", n)
		return err == nil
	}
	// The trick is real: straight to Podman, the container is privileged.
	direct := name("direct")
	if out, err := podmanCLI(ctx, podman, "create", "--name", direct, "--privileged", image, "true"); err != nil {
		t.Fatalf("podman itself: %v\n%s", err, out)
	}
	if out, _ := podmanCLI(ctx, podman, "inspect", direct, "--format", "{{.HostConfig.Privileged}}"); strings.TrimSpace(out) != "true" {
		t.Fatalf("straight to Podman the container is not privileged: %q", out)
	}
	cases := []struct {
		args   []string
		policy string
	}{
		{[]string{"--privileged"}, "no-privileged: privileged containers are not allowed"},
		{[]string{"--security-opt", "seccomp=unconfined"}, "no-privileged:"},
		{[]string{"--pid", "host"}, "no-host-namespaces: the host's pid namespace"},
		{[]string{"--network", "host"}, "no-host-namespaces: the host's net namespace"},
		{[]string{"--cap-add", "SYS_ADMIN"}, "capabilities: capability SYS_ADMIN is not allowed"},
		{[]string{"--device", "/dev/null"}, "no-devices: host devices are not allowed"},
		{[]string{"-v", "/etc:/x"}, "bind-mounts: /etc is not an allowed host path"},
		{[]string{"--mount", "type=bind,src=/etc,dst=/x"}, "bind-mounts: /etc is not an allowed host path"},
	}
	for i, tc := range cases {
		n := name(fmt.Sprintf("deny%d", i))
		out, err := podmanCLI(ctx, proxy, append(append([]string{"create", "--name", n}, tc.args...), image, "true")...)
		if err == nil || !strings.Contains(out, "Error: "+tc.policy) {
			t.Errorf("podman create %v through the proxy: %v\n%s", tc.args, err, out)
		}
		if exists(n) {
			t.Errorf("podman create %v: the container exists", tc.args)
		}
	}
	for i, args := range [][]string{nil, {"--cap-add", "NET_BIND_SERVICE"}, {"-v", allowed + ":/x"}} {
		n := name(fmt.Sprintf("twin%d", i))
		if out, err := podmanCLI(ctx, proxy, append(append([]string{"create", "--name", n}, args...), image, "true")...); err != nil || !exists(n) {
			t.Errorf("the twin %v: %v\n%s", args, err, out)
		}
	}
	// Host paths and namespaces only Podman reads (found by red-teaming the
	// pack): each refused through the proxy, and nothing created.
	rawCreate := func(path, body string) rawAnswer {
		return rawCall(t, b.sock, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body))
	}
	for i, tc := range []struct{ path, body, policy string }{
		{"/v4.0.0/libpod/containers/create", `{"image":%q,"name":%q,"init":true,"init_path":"/etc"}`, "bind-mounts: /etc is not an allowed host path (init_path)"},
		{"/v4.0.0/libpod/containers/create", `{"image":%q,"name":%q,"log_configuration":{"driver":"k8s-file","path":"/etc/rt-log"}}`, "bind-mounts: /etc/rt-log is not an allowed host path"},
		{"/v4.0.0/libpod/containers/create", `{"image":%q,"name":%q,"overlay_volumes":[{"source":"` + allowed + `","destination":"/x","options":["upperdir=/etc","workdir=/tmp"]}]}`, "bind-mounts: /etc is not an allowed host path (overlay_volumes upperdir)"},
		{"/v1.41/containers/create?name=%[2]s", `{"Image":%[1]q,"HostConfig":{"PidMode":"ns:/proc/self/ns/pid"}}`, "no-host-namespaces: joining a pid namespace by path"},
		{"/v1.41/containers/create?name=%[2]s", `{"Image":%[1]q,"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + allowed + `","Target":"/x,src=/etc"}]}}`, "bind-mounts: a mount whose source or target holds a comma"},
		{"/v1.41/containers/create?name=%[2]s", `{"Image":%[1]q,"HostConfig":{"Binds":["` + allowed + `:/x:O,upperdir=/etc,workdir=/tmp"]}}`, "bind-mounts: /etc is not an allowed host path"},
	} {
		n := name(fmt.Sprintf("podonly%d", i))
		path := tc.path
		if strings.Contains(path, "%") {
			path = fmt.Sprintf(path, image, n)
		}
		a := rawCreate(path, fmt.Sprintf(tc.body, image, n))
		if a.code != http.StatusForbidden || !strings.Contains(a.body, tc.policy) {
			t.Errorf("case %d: %d %s, want 403 with %q", i, a.code, a.body, tc.policy)
		}
		if exists(n) {
			t.Errorf("case %d: the container exists", i)
		}
	}
	// A start is judged again: a plain container starts through the proxy.
	started := name("started")
	// (This sandbox refuses Podman's default rlimits; the flags lower them.)
	if out, err := podmanCLI(ctx, proxy, "run", "-d", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		"--name", started, image, "sleep", "30"); err != nil {
		t.Errorf("podman run -d through the proxy: %v\n%s", err, out)
	}
	// Podman decodes with encoding/json too: a case-variant key counts.
	sock := strings.TrimPrefix(podman, "unix://")
	n := name("folded")
	raw := func(sock string) rawAnswer {
		body := fmt.Sprintf(`{"image":%q,"name":%q,"PRIVILEGED":true}`, image, n)
		return rawCall(t, sock, fmt.Sprintf("POST /v4.0.0/libpod/containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	}
	if a := raw(sock); a.code != http.StatusCreated {
		t.Fatalf("PRIVILEGED straight to Podman: %d %s", a.code, a.body)
	}
	if out, _ := podmanCLI(ctx, podman, "inspect", n, "--format", "{{.HostConfig.Privileged}}"); strings.TrimSpace(out) != "true" {
		t.Fatalf("straight to Podman, PRIVILEGED is not privileged: %q", out)
	}
	podmanCLI(ctx, podman, "rm", "-f", n) //nolint:errcheck // the same name goes through the proxy next
	if a := raw(b.sock); a.code != http.StatusForbidden || !strings.Contains(a.body, "no-privileged") {
		t.Errorf("PRIVILEGED through the proxy: %d %s", a.code, a.body)
	}
	if exists(n) {
		t.Errorf("PRIVILEGED through the proxy: the container exists")
	}
}
