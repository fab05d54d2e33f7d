package powerstrip_test

// Issue #12 with the real daemon: what the docker CLIs, Compose and raw
// clients see through a proxy whose every call has a pre- and a post-hook
// (the echo adapter), compared with what they see direct.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// Docker sends wait's head at once and its body when the container exits;
// through a post-hook on wait the head still arrives at once, and the body
// when the container exits.
func TestE2EWaitHeadThroughPostHook(t *testing.T) {
	e := needDocker(t)
	echo := newEchoAdapter(t)
	host := e.proxy(t, parseConfig(t, fmt.Sprintf(
		"version: 1\nendpoints:\n  \"POST /**/containers/*/wait\":\n    post: [echo]\nadapters:\n  echo: %s\n", echo.URL)))
	id := strings.TrimSpace(e.must(t, e.clis[0], e.daemon, "run", "-d", e.image, "sleep", "3600"))
	e.removeLater(t, id)
	s := send(t, host, "POST", "/v1.41/containers/"+id+"/wait?condition=next-exit", "", nil)
	resp := s.head(t, time.Second)
	if resp.StatusCode != 200 || framing(resp) != "chunked" {
		t.Fatalf("head %d, framing %s; want 200, chunked", resp.StatusCode, framing(resp))
	}
	if running := strings.TrimSpace(e.must(t, e.clis[0], e.daemon, "inspect", "-f", "{{.State.Running}}", id)); running != "true" {
		t.Fatalf("the container stopped before the test stopped it (running=%s)", running)
	}
	e.must(t, e.clis[0], e.daemon, "kill", id)
	var exit struct{ StatusCode int }
	if body := s.rest(t, 30*time.Second); json.Unmarshal([]byte(body), &exit) != nil || exit.StatusCode != 137 {
		t.Errorf("wait's body %q, want StatusCode 137 (killed)", body)
	}
	if posts := echo.posts("/wait"); len(posts) != 1 {
		t.Errorf("the post-hook ran %d times on wait", len(posts))
	}
}

func parseConfig(t *testing.T, yaml string) *powerstrip.Config {
	t.Helper()
	cfg, err := powerstrip.ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// exchange is one call's head and whole body.
type exchange struct {
	status  int
	framing string
	body    string
}

// call sends one call to host and reads its answer to the end, bounded.
func call(t *testing.T, host, method, path, contentType string, body []byte) exchange {
	t.Helper()
	s := send(t, host, method, path, contentType, body)
	resp := s.head(t, 30*time.Second)
	return exchange{resp.StatusCode, framing(resp), s.rest(t, time.Minute)}
}

// Docker's streamed answers keep their framing through post-hooks: chunked
// as they are direct, not buffered and re-framed with a Content-Length
// (which SDKs reading one JSON message per chunk choke on).
func TestE2EStreamFramingKept(t *testing.T) {
	e := needDocker(t)
	host := e.proxy(t, echoConfig(t, newEchoAdapter(t).URL))
	label := "powerstrip.test=" + uniqueName(t)
	since := time.Now().Unix() - 1
	name := uniqueName(t)
	e.removeLater(t, name)
	e.must(t, e.clis[0], e.daemon, "create", "--label", label, "--name", name, e.image, "true")
	e.must(t, e.clis[0], e.daemon, "rm", name)
	filters, _ := json.Marshal(map[string][]string{"label": {label}})
	events := fmt.Sprintf("/v1.41/events?since=%d&until=%d&filters=%s", since, time.Now().Unix()+1, url.QueryEscape(string(filters)))
	direct, proxied := call(t, e.daemon, "GET", events, "", nil), call(t, host, "GET", events, "", nil)
	if direct.framing != "chunked" || proxied != direct {
		t.Errorf("events: direct %d %s %q\nproxied %d %s %q", direct.status, direct.framing, direct.body, proxied.status, proxied.framing, proxied.body)
	}
	if !strings.Contains(proxied.body, `"create"`) || !strings.Contains(proxied.body, `"destroy"`) {
		t.Errorf("the events are not there: %q", proxied.body)
	}

	tag := "powerstrip-e2e-framing:" + strings.ToLower(fmt.Sprint(time.Now().UnixNano()%1e9))
	t.Cleanup(func() { e.docker(t, e.clis[0], e.daemon, nil, "rmi", "-f", tag) })
	build := "/v1.41/build?rm=1&t=" + url.QueryEscape(tag)
	context, _ := io.ReadAll(powerstriptest.DockerfileContext("FROM " + e.image + "\nLABEL powerstrip.test=framing\n"))
	direct = call(t, e.daemon, "POST", build, "application/x-tar", context)
	proxied = call(t, host, "POST", build, "application/x-tar", context)
	if direct.framing != "chunked" || proxied.status != direct.status || proxied.framing != direct.framing {
		t.Errorf("build: direct %d %s, proxied %d %s", direct.status, direct.framing, proxied.status, proxied.framing)
	}
	if !strings.Contains(proxied.body, "Successfully tagged "+tag) {
		t.Errorf("build through the proxy: %q", proxied.body)
	}
}

// hangBound bounds each command: a client stuck on a held head fails its
// test in seconds instead of stalling the suite.
const hangBound = 30 * time.Second

// ran is what a bounded command did, as its user sees it.
type ran struct {
	stdout, stderr string
	code           int  // the exit code; -1 if it did not exit by itself
	hung           bool // killed at the bound
}

func (r ran) String() string {
	return fmt.Sprintf("exit %d (hung: %v)\nstdout: %s\nstderr: %s", r.code, r.hung, r.stdout, r.stderr)
}

// runBounded runs a command with env, killed if it takes longer than within.
func runBounded(t *testing.T, within time.Duration, env []string, stdin io.Reader, name string, args ...string) ran {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second // children holding the pipes do not extend the bound
	err := cmd.Run()
	r := ran{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode(), hung: ctx.Err() != nil}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// cli runs a docker CLI against host, bounded by hangBound.
func (e *e2eEnv) cli(t *testing.T, cli, host string, stdin io.Reader, args ...string) ran {
	t.Helper()
	return runBounded(t, hangBound, cliEnv(t, host), stdin, cli, args...)
}

// sameAsDirect runs args through host and direct, and fails unless both
// exit alike with the same output. An argument "{name}" becomes a fresh
// container name each time, removed when the test ends, so a container a
// hung command left behind is cleaned up too.
func (e *e2eEnv) sameAsDirect(t *testing.T, cli, host string, stdin string, args ...string) ran {
	t.Helper()
	named := func() []string {
		out := append([]string(nil), args...)
		for i, a := range out {
			if a == "{name}" {
				out[i] = uniqueName(t)
				e.removeLater(t, out[i])
			}
		}
		return out
	}
	proxied := e.cli(t, cli, host, strings.NewReader(stdin), named()...)
	direct := e.cli(t, cli, e.daemon, strings.NewReader(stdin), named()...)
	if proxied.hung || proxied.code != direct.code || proxied.stdout != direct.stdout || proxied.stderr != direct.stderr {
		t.Errorf("docker %s\nthrough the proxy: %v\ndirect: %v", strings.Join(args, " "), proxied, direct)
	}
	return proxied
}

// echoProxy is a proxy in front of the real daemon whose every call, pre
// and post, goes through the echo adapter: the configuration of issue #12.
func (e *e2eEnv) echoProxy(t *testing.T) (host string, echo *echoAdapter) {
	t.Helper()
	echo = newEchoAdapter(t)
	return e.proxy(t, echoConfig(t, echo.URL)), echo
}

// docker run, in the foreground and detached, through the echo config:
// the CLI waits for wait's head before it starts the container.
func TestE2EEchoRun(t *testing.T) {
	e := needDocker(t)
	host, echo := e.echoProxy(t)
	e.eachCLI(t, func(t *testing.T, cli string) {
		e.sameAsDirect(t, cli, host, "", "run", "--rm", "--name", "{name}", e.image, "sh", "-c", "echo out; echo err >&2; exit 3")
		e.sameAsDirect(t, cli, host, "in\n", "run", "-i", "--rm", "--name", "{name}", e.image, "cat")
		name := uniqueName(t)
		e.removeLater(t, name)
		r := e.cli(t, cli, host, nil, "run", "-d", "--name", name, e.image, "true")
		if id := strings.TrimSpace(r.stdout); r.hung || r.code != 0 || len(id) != 64 {
			t.Errorf("run -d: %v", r)
		}
	})
	// The v1 post-hook on wait saw Docker's status and the exit.
	for _, c := range echo.posts("/wait") {
		if code, body := serverResponse(c); code != "200" || !strings.Contains(body, `"StatusCode"`) {
			t.Errorf("the post-hook on wait saw %s %q", code, body)
		}
	}
}

// docker events over a bounded window, and docker stats --no-stream, show
// what they show direct.
func TestE2EEchoEventsAndStats(t *testing.T) {
	e := needDocker(t)
	host, _ := e.echoProxy(t)
	e.eachCLI(t, func(t *testing.T, cli string) {
		label := "powerstrip.test=" + uniqueName(t)
		since := fmt.Sprint(time.Now().Unix() - 1)
		name := uniqueName(t)
		e.removeLater(t, name)
		e.must(t, cli, e.daemon, "run", "-d", "--label", label, "--name", name, e.image, "sleep", "60")
		e.must(t, cli, e.daemon, "kill", name)
		until := fmt.Sprint(time.Now().Unix() + 1) // the window is closed when the command ends
		r := e.sameAsDirect(t, cli, host, "", "events", "--since", since, "--until", until, "--filter", "label="+label,
			"--format", "{{.Action}} {{.Actor.Attributes.name}}")
		if !strings.Contains(r.stdout, "start "+name) || !strings.Contains(r.stdout, "die "+name) {
			t.Errorf("events: %v", r)
		}

		running := uniqueName(t)
		e.removeLater(t, running)
		e.must(t, cli, e.daemon, "run", "-d", "--name", running, e.image, "sleep", "60")
		if r := e.sameAsDirect(t, cli, host, "", "stats", "--no-stream", "--format", "{{.Name}}", running); r.stdout != running+"\n" {
			t.Errorf("stats: %v", r)
		}
	})
}

// buildContext is a directory with a Dockerfile whose RUN prints a marker.
func buildContext(t *testing.T, image, marker string) string {
	t.Helper()
	dir := t.TempDir()
	dockerfile := fmt.Sprintf("FROM %s\nRUN echo %s > /marker\nCMD [\"cat\", \"/marker\"]\n", image, marker)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// docker build with the classic builder: the build succeeds through the
// echo config as direct, and the image runs.
func TestE2EEchoBuildClassic(t *testing.T) {
	e := needDocker(t)
	host, echo := e.echoProxy(t)
	e.eachCLI(t, func(t *testing.T, cli string) {
		marker := "classic-" + uniqueName(t)
		tag := "powerstrip-e2e-echo:" + marker
		t.Cleanup(func() { e.docker(t, cli, e.daemon, nil, "rmi", "-f", tag) })
		r := e.cli(t, cli, host, nil, "build", "--no-cache", "-t", tag, buildContext(t, e.image, marker))
		if r.hung || r.code != 0 || !strings.Contains(r.stdout, "Successfully tagged "+tag) {
			t.Fatalf("build through the proxy: %v", r)
		}
		if out := e.must(t, cli, e.daemon, "run", "--rm", tag); out != marker+"\n" {
			t.Errorf("the image printed %q", out)
		}
	})
	// The v1 post-hook saw each build's whole output, at its end.
	for _, c := range echo.posts("/build") {
		if code, body := serverResponse(c); code != "200" || !strings.Contains(body, "Successfully tagged") {
			t.Errorf("the post-hook on build saw %s %.300q", code, body)
		}
	}
}

// docker build with BuildKit, as the 20.10 CLI has it built in: a session
// taken over by Docker, and a build whose output is BuildKit's JSON
// stream. --network=none: the test daemon has no bridge, and BuildKit's
// RUN asks for one by default.
func TestE2EEchoBuildKit(t *testing.T) {
	e := needDocker(t)
	const cli = "/usr/bin/docker"
	host, _ := e.echoProxy(t)
	marker := "buildkit-" + uniqueName(t)
	tag := "powerstrip-e2e-echo:" + marker
	t.Cleanup(func() { e.docker(t, cli, e.daemon, nil, "rmi", "-f", tag) })
	env := append(cliEnv(t, host), "DOCKER_BUILDKIT=1") // the later value wins
	r := runBounded(t, 2*hangBound, env, nil, cli, "build", "--network=none", "--progress=plain", "-t", tag, buildContext(t, e.image, marker))
	if r.hung || r.code != 0 || !strings.Contains(r.stderr, "naming to docker.io/library/"+tag) {
		t.Fatalf("BuildKit build through the proxy: %v", r)
	}
	if out := e.must(t, cli, e.daemon, "run", "--rm", tag); out != marker+"\n" {
		t.Errorf("the image printed %q", out)
	}
}

// needTool returns the path of a client the test drives: skipped when it
// is missing, a failure when the end-to-end tests are required.
func needTool(t *testing.T, path, install string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("POWERSTRIP_E2E") == "required" {
			t.Fatalf("end-to-end tests are required: %s is missing (%s; scripts/daemon.sh installs it)", path, install)
		}
		t.Skipf("%s is missing (%s)", path, install)
	}
	return path
}

// composeFile is a one-service project on the test image. network_mode
// none: the test daemon has no bridge for a project network.
const composeFile = `version: "2.4"
services:
  hello:
    image: %s
    network_mode: none
    command: ["echo", "hello from compose"]
`

// docker-compose (1.29, Python) up, run and down through the echo config:
// `run` hung on wait's held head.
func TestE2EEchoCompose(t *testing.T) {
	e := needDocker(t)
	compose := needTool(t, "/usr/bin/docker-compose", "apt-get install docker-compose")
	host, _ := e.echoProxy(t)
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(composeFile, e.image)), 0o644); err != nil {
		t.Fatal(err)
	}
	project := func(via string) (up, run, down ran) {
		p := strings.ReplaceAll(uniqueName(t), "-", "")
		c := func(args ...string) ran {
			return runBounded(t, 2*hangBound, cliEnv(t, via), nil, compose, append([]string{"--ansi", "never", "-p", p, "-f", file}, args...)...)
		}
		t.Cleanup(func() { c("down") })
		up, run, down = c("up"), c("run", "--rm", "hello", "echo", "ran"), c("down")
		if left := e.must(t, e.clis[0], e.daemon, "ps", "-aq", "--filter", "label=com.docker.compose.project="+p); left != "" {
			t.Errorf("down left containers of %s: %s", p, left)
		}
		return up, run, down
	}
	up, run, down := project(host)
	dup, drun, ddown := project(e.daemon)
	if up.hung || up.code != dup.code || !strings.Contains(up.stdout, "hello from compose") {
		t.Errorf("up through the proxy: %v\ndirect: %v", up, dup)
	}
	if run.hung || run.code != drun.code || run.stdout != "ran\n" || run.stdout != drun.stdout {
		t.Errorf("run through the proxy: %v\ndirect: %v", run, drun)
	}
	if down.hung || down.code != 0 || ddown.code != 0 {
		t.Errorf("down through the proxy: %v\ndirect: %v", down, ddown)
	}
}
