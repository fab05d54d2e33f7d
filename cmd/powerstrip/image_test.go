package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
)

// imageBuildBound bounds scripts/image.sh: a static build of the binary
// and a docker build, which on a loaded 2-core machine (the suite running
// beside it under -race) took over the 3 minutes it once had.
const imageBuildBound = 10 * time.Minute

// The container image, built with scripts/image.sh on the test daemon, runs
// with the daemon's socket and a config mounted as users of the original
// mounted them, and a docker run driven through it meets its pre-hook.
// With nothing mounted, it refuses to start and says why.
func TestContainerImageSmoke(t *testing.T) {
	daemon, image := e2eDocker(t)
	if !strings.HasPrefix(daemon, "unix://") {
		t.Skip("the smoke test mounts the daemon's unix socket")
	}
	bound := imageBuildBound + 3*time.Minute
	if d, ok := t.Deadline(); ok && time.Until(d) < bound {
		bound = time.Until(d) - 10*time.Second // fail with the output, before go test kills us without it
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	env := []string{"DOCKER_HOST=" + daemon}
	tag := "powerstrip:smoke-test"
	buildCtx, cancelBuild := context.WithTimeout(ctx, imageBuildBound)
	defer cancelBuild()
	build := exec.CommandContext(buildCtx, "bash", "../../scripts/image.sh", tag)
	build.Env = append(os.Environ(), env...)
	build.WaitDelay = 5 * time.Second // a killed script's children may hold the output pipe
	started := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/image.sh %s: %v after %v (bound %v); its output:\n%s", tag, err, time.Since(started).Round(time.Second), imageBuildBound, out)
	}
	t.Cleanup(func() { runCLI(t, context.Background(), "docker", env, nil, "rmi", "-f", tag) })

	// Nothing mounted: the image's default refuses to serve without its
	// config, naming the file and the way to run without one.
	out, err := runCLI(t, ctx, "docker", env, nil, "run", "--rm", tag)
	if err == nil || !strings.Contains(out, "/etc/powerstrip/adapters.yml: no such file or directory; write it, or run with -config none") {
		t.Errorf("the image with nothing mounted: %v %q", err, out)
	}

	adapter := remoteAdapter(t, func(req *powerstrip.HookRequest) *powerstrip.HookResponse {
		var body map[string]any
		if req.ClientRequest.DecodeBody(&body) != nil {
			return nil
		}
		body["Env"] = []string{"FROM_THE_IMAGE=yes"}
		out := req.ClientRequest
		out.SetBody(body)
		return &powerstrip.HookResponse{ModifiedClientRequest: &out}
	})
	etc := t.TempDir()
	os.WriteFile(filepath.Join(etc, "adapters.yml"), []byte("version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [env]\nadapters:\n  env: "+adapter+"\n"), 0o644)
	run := t.TempDir()
	name := "powerstrip-smoke-test"
	// Host networking: the adapter listens on the host's loopback.
	out, err = runCLI(t, ctx, "docker", env, nil, "run", "-d", "--name", name, "--network", "host",
		"-v", strings.TrimPrefix(daemon, "unix://")+":/var/run/docker.sock",
		"-v", etc+":/etc/powerstrip:ro", "-v", run+":/run/powerstrip",
		tag, "-listen", "unix:///run/powerstrip/powerstrip.sock")
	if err != nil {
		t.Fatalf("docker run: %v %s", err, out)
	}
	t.Cleanup(func() { runCLI(t, context.Background(), "docker", env, nil, "rm", "-f", name) })

	proxied := []string{"DOCKER_HOST=unix://" + filepath.Join(run, "powerstrip.sock")}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := runCLI(t, ctx, "docker", proxied, nil, "version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			logs, _ := runCLI(t, ctx, "docker", env, nil, "logs", name)
			t.Fatalf("the containerised proxy never answered:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond) // polling the container's start, bounded by the deadline
	}
	if out, err := runCLI(t, ctx, "docker", proxied, nil, "run", "--rm", image, "sh", "-c", "echo $FROM_THE_IMAGE"); err != nil || out != "yes\n" {
		t.Errorf("docker run through the image: %v %q", err, out)
	}
	logs, _ := runCLI(t, ctx, "docker", env, nil, "logs", name)
	if !strings.Contains(logs, `hooks="POST /*/containers/create pre=[env] post=[]"`) {
		t.Errorf("the container did not load /etc/powerstrip/adapters.yml:\n%s", logs)
	}
}
