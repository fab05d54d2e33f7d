//go:build linux

package main

// The pack and a rules policy in front of the real daemon, driven by the
// clients people use besides the docker CLI: docker-compose, docker-py and
// BuildKit (the 20.10 CLI's). Each works as it does without the proxy for
// what the policies allow, and gets the policy's message for what they do
// not; and the route aliases hold through both CLIs (restart past a rule
// on start).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func packClientsConfig(allowed string) string {
	return `endpoints:
  "route *":
    pre: [guard, no-privileged, no-host-namespaces, caps, no-devices, mounts, images]
adapters:
  no-privileged: {builtin: no-privileged}
  no-host-namespaces: {builtin: no-host-namespaces}
  caps: {builtin: capabilities, allow: [NET_BIND_SERVICE]}
  no-devices: {builtin: no-devices}
  mounts: {builtin: bind-mounts, allow: [` + allowed + `]}
  images: {builtin: images, allow: ["powerstrip-test:*", "pack-clients-*:*"], local: allow}
  guard:
    rules:
      - expr: "!request.path.contains('-locked/')"
        message: "locked containers may not start"
        routes: [container.start]
`
}

// clientRun runs a client with a bounded time and returns its output.
func clientRun(ctx context.Context, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestPackWithRealClients(t *testing.T) {
	daemon, image := e2eDocker(t)
	allowed := filepath.Join(t.TempDir(), "allowed")
	if err := os.MkdirAll(allowed, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	b := startBinary(t, ctx, daemon, writeFile(t, "adapters.yml", packClientsConfig(allowed)))
	host := "unix://" + b.sock
	env := []string{"DOCKER_HOST=" + host, "DOCKER_CONFIG=" + t.TempDir()}
	tag := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)

	t.Run("aliases through both CLIs", func(t *testing.T) {
		for i, cli := range clis(t) {
			name := fmt.Sprintf("pc-%s-%d-locked", tag, i)
			t.Cleanup(func() { runCLI(t, context.Background(), cli, []string{"DOCKER_HOST=" + daemon}, nil, "rm", "-f", name) }) //nolint:errcheck // cleanup
			if out, err := runCLI(t, ctx, cli, env, nil, "create", "--name", name, image, "sleep", "30"); err != nil {
				t.Fatalf("%s create: %v\n%s", cli, err, out)
			}
			for _, verb := range []string{"start", "restart"} {
				out, err := runCLI(t, ctx, cli, env, nil, verb, name)
				if err == nil || !strings.Contains(out, "guard: locked containers may not start") {
					t.Errorf("%s %s of a locked container: %v\n%s", cli, verb, err, out)
				}
			}
			out, _ := runCLI(t, ctx, cli, []string{"DOCKER_HOST=" + daemon}, nil, "inspect", "-f", "{{.State.StartedAt}}", name)
			if !strings.HasPrefix(out, "0001") {
				t.Errorf("%s: the locked container was started (%q)", cli, out)
			}
		}
	})

	t.Run("docker-compose", func(t *testing.T) {
		compose := "/usr/bin/docker-compose"
		if _, err := os.Stat(compose); err != nil {
			t.Fatalf("docker-compose is missing (scripts/daemon.sh installs it): %v", err)
		}
		dir := t.TempDir()
		write := func(name, privileged string) string {
			f := filepath.Join(dir, name)
			content := fmt.Sprintf("version: \"2.4\"\nservices:\n  hello:\n    image: %s\n    network_mode: none\n%s    command: [\"echo\", \"hello from compose\"]\n", image, privileged)
			if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			return f
		}
		project := "pc" + tag
		c := func(file string, args ...string) (string, error) {
			return clientRun(ctx, env, compose, append([]string{"--ansi", "never", "-p", project, "-f", file}, args...)...)
		}
		plain, priv := write("plain.yml", ""), write("priv.yml", "    privileged: true\n")
		t.Cleanup(func() { c(plain, "down") }) //nolint:errcheck // cleanup
		if out, err := c(plain, "up"); err != nil || !strings.Contains(out, "hello from compose") {
			t.Errorf("compose up: %v\n%s", err, out)
		}
		if out, err := c(plain, "run", "--rm", "hello", "echo", "ran"); err != nil || !strings.HasSuffix(strings.TrimSpace(out), "\nran") {
			t.Errorf("compose run: %v\n%s", err, out)
		}
		if out, err := c(priv, "up", "--force-recreate"); err == nil || !strings.Contains(out, "no-privileged: privileged containers are not allowed") {
			t.Errorf("compose up of a privileged service: %v\n%s", err, out)
		}
		if out, err := c(plain, "down"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})

	t.Run("docker-py", func(t *testing.T) {
		script := `import os, sys, docker
c = docker.DockerClient(base_url=os.environ["DOCKER_HOST"])
img = os.environ["TEST_IMAGE"]
print(c.containers.run(img, ["echo", "from docker-py"], remove=True, network_mode="none").decode().strip())
try:
    c.containers.run(img, ["true"], remove=True, privileged=True, network_mode="none")
    print("privileged ran")
except docker.errors.APIError as e:
    print("refused:", e.explanation)
`
		out, err := clientRun(ctx, append(env, "TEST_IMAGE="+image), "/usr/bin/python3", "-c", script)
		if err != nil || !strings.Contains(out, "from docker-py\n") ||
			!strings.Contains(out, "refused: no-privileged: privileged containers are not allowed") {
			t.Errorf("docker-py: %v\n%s", err, out)
		}
	})

	t.Run("BuildKit", func(t *testing.T) {
		ctxDir := t.TempDir()
		if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM "+image+"\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		name := "pack-clients-" + tag + ":1"
		t.Cleanup(func() {
			runCLI(t, context.Background(), "/usr/bin/docker", []string{"DOCKER_HOST=" + daemon}, nil, "rmi", "-f", name)
		}) //nolint:errcheck // cleanup
		bk := append(env, "DOCKER_BUILDKIT=1")
		if out, err := clientRun(ctx, bk, "/usr/bin/docker", "build", "--network=none", "--progress=plain", "-t", name, ctxDir); err != nil {
			t.Fatalf("BuildKit build through the pack: %v\n%s", err, out)
		}
		if out, err := runCLI(t, ctx, "/usr/bin/docker", env, nil, "run", "--rm", "--network=none", name); err != nil || strings.TrimSpace(out) != "built" {
			t.Errorf("running the built image: %v\n%s", err, out)
		}
		out, err := clientRun(ctx, bk, "/usr/bin/docker", "build", "--network=host", "--progress=plain", "-t", name, ctxDir)
		if err == nil || !strings.Contains(out, "no-host-namespaces") {
			t.Errorf("a BuildKit build on the host network: %v\n%s", err, out)
		}
	})
}
