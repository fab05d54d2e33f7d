package policy_test

// End-to-end tests of the pack: both docker CLIs through a Proxy that runs
// one built-in policy on every call, in front of the real daemon, whose
// state is the ground truth. POWERSTRIP_TEST_DOCKER and
// POWERSTRIP_TEST_IMAGE name them (scripts/test.sh);
// POWERSTRIP_E2E=required makes their absence a failure.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/policy"
)

type packEnv struct {
	daemon, image string
	clis          []string
}

func needDaemon(t *testing.T) *packEnv {
	t.Helper()
	e := &packEnv{daemon: os.Getenv("POWERSTRIP_TEST_DOCKER"), image: os.Getenv("POWERSTRIP_TEST_IMAGE")}
	for _, cli := range []string{"/usr/local/bin/docker", "/usr/bin/docker"} {
		if _, err := os.Stat(cli); err == nil {
			e.clis = append(e.clis, cli)
		}
	}
	missing := ""
	switch {
	case e.daemon == "" || e.image == "":
		missing = "POWERSTRIP_TEST_DOCKER and POWERSTRIP_TEST_IMAGE are not set (run scripts/test.sh)"
	case len(e.clis) < 2 && os.Getenv("POWERSTRIP_E2E") == "required":
		missing = fmt.Sprintf("want both docker CLIs, found %v", e.clis)
	case len(e.clis) == 0:
		missing = "no docker CLI"
	}
	if missing != "" {
		if os.Getenv("POWERSTRIP_E2E") == "required" {
			t.Fatal("end-to-end tests are required: " + missing)
		}
		t.Skip(missing)
	}
	return e
}

// proxy serves, on loopback, a Proxy that runs the built-in policy, named
// after it and with the options as written in YAML, as a pre-hook of every
// call, and returns its DOCKER_HOST.
func (e *packEnv) proxy(t *testing.T, builtin, options string) string {
	t.Helper()
	yml := fmt.Sprintf("version: 1\nendpoints:\n  \"* /**\":\n    pre: [%s]\nadapters:\n  %s:\n    builtin: %s\n%s", builtin, builtin, builtin, options)
	cfg, err := powerstrip.ParseConfig([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := powerstrip.New(cfg, powerstrip.WithUpstream(e.daemon), powerstrip.WithPolicies(policy.New()))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ConnContext: powerstrip.ConnContext}
	served := make(chan error, 1)
	go func() { served <- p.Serve(srv, l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close()
		p.Shutdown(ctx) //nolint:errcheck // what is left is closed
		<-served
	})
	return "tcp://" + l.Addr().String()
}

type cliOut struct {
	stdout, stderr string
	err            error
}

// docker runs a CLI against host, bounded in time.
func (e *packEnv) docker(t *testing.T, cli, host string, args ...string) cliOut {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = []string{"DOCKER_HOST=" + host, "DOCKER_CONFIG=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return cliOut{stdout.String(), stderr.String(), err}
}

func (e *packEnv) must(t *testing.T, cli, host string, args ...string) string {
	t.Helper()
	r := e.docker(t, cli, host, args...)
	if r.err != nil {
		t.Fatalf("docker %s: %v\n%s%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// denied runs a CLI call that the policy must refuse, and checks that the
// CLI printed the policy's message.
func (e *packEnv) denied(t *testing.T, cli, host, message string, args ...string) {
	t.Helper()
	r := e.docker(t, cli, host, args...)
	if r.err == nil {
		t.Fatalf("docker %s succeeded: %s", strings.Join(args, " "), r.stdout)
	}
	if !strings.Contains(r.stderr, "Error response from daemon: "+message) {
		t.Fatalf("docker %s printed %q, want the message %q", strings.Join(args, " "), r.stderr, message)
	}
}

// eachCLI runs f per docker CLI, with a container name of its own that
// is removed afterwards.
func (e *packEnv) eachCLI(t *testing.T, f func(t *testing.T, cli, name string)) {
	for i, cli := range e.clis {
		sub := "cli-" + strings.ReplaceAll(strings.Trim(filepath.Dir(cli), "/"), "/", "-")
		t.Run(sub, func(t *testing.T) {
			name := fmt.Sprintf("pack-%d-%d", time.Now().UnixNano()%1e9, i)
			t.Cleanup(func() { e.docker(t, e.clis[0], e.daemon, "rm", "-f", name) })
			f(t, cli, name)
		})
	}
}

// absent checks, with the daemon, that no container has the name.
func (e *packEnv) absent(t *testing.T, name string) {
	t.Helper()
	if r := e.docker(t, e.clis[0], e.daemon, "inspect", name); r.err == nil {
		t.Fatalf("the daemon has container %s: the call went through", name)
	}
}

func TestE2ENoPrivileged(t *testing.T) {
	e := needDaemon(t)
	host := e.proxy(t, "no-privileged", "")
	e.eachCLI(t, func(t *testing.T, cli, name string) {
		e.denied(t, cli, host, "no-privileged: privileged containers are not allowed (HostConfig.Privileged)",
			"run", "--rm", "--name", name, "--privileged", e.image, "true")
		e.absent(t, name)
		e.denied(t, cli, host, `no-privileged: a seccomp profile other than the daemon's is not allowed (HostConfig.SecurityOpt "seccomp=unconfined")`,
			"create", "--name", name, "--security-opt", "seccomp=unconfined", e.image, "true")
		e.absent(t, name)
		if out := e.must(t, cli, host, "run", "--rm", "--name", name, e.image, "echo", "unprivileged"); out != "unprivileged\n" {
			t.Fatalf("the allowed twin printed %q", out)
		}
		// exec: the container runs, the privileged exec does not.
		e.must(t, cli, host, "run", "-d", "--name", name, e.image, "sleep", "60")
		e.denied(t, cli, host, "no-privileged: privileged execs are not allowed (Privileged)", "exec", "--privileged", name, "true")
		if out := e.must(t, cli, host, "exec", name, "echo", "ok"); out != "ok\n" {
			t.Fatalf("the allowed exec printed %q", out)
		}
	})
}

func TestE2ENoHostNamespaces(t *testing.T) {
	e := needDaemon(t)
	host := e.proxy(t, "no-host-namespaces", "")
	hostNet := strings.TrimSpace(e.must(t, e.clis[0], e.daemon, "network", "inspect", "-f", "{{.Id}}", "host"))
	e.eachCLI(t, func(t *testing.T, cli, name string) {
		e.denied(t, cli, host, `no-host-namespaces: the host's pid namespace is not allowed (HostConfig.PidMode "host")`,
			"run", "--rm", "--name", name, "--pid", "host", e.image, "true")
		e.absent(t, name)
		// The host network by an ID prefix: the daemon resolves it to
		// the host network, so must the policy.
		e.denied(t, cli, host, `no-host-namespaces: the host's network namespace is not allowed (HostConfig.NetworkMode "`+hostNet[:12]+`" is the host network)`, "create", "--name", name, "--network", hostNet[:12], e.image, "true")
		e.absent(t, name)
		if out := e.must(t, cli, host, "run", "--rm", "--name", name, "--ipc", "private", e.image, "echo", "private"); out != "private\n" {
			t.Fatalf("the allowed twin printed %q", out)
		}
	})
}

func TestE2ECapabilities(t *testing.T) {
	e := needDaemon(t)
	host := e.proxy(t, "capabilities", "    allow: [NET_ADMIN]\n")
	e.eachCLI(t, func(t *testing.T, cli, name string) {
		e.denied(t, cli, host, "capabilities: capability SYS_ADMIN is not allowed (HostConfig.CapAdd ",
			"run", "--rm", "--name", name, "--cap-add", "SYS_ADMIN", e.image, "true")
		e.absent(t, name)
		// CapEff of a container with NET_ADMIN added has bit 12.
		out := e.must(t, cli, host, "run", "--rm", "--name", name, "--cap-add", "net_admin", e.image, "grep", "CapEff", "/proc/self/status")
		if !strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(out, "CapEff:")), "00000000a80435fb") {
			t.Fatalf("the allowed twin's capabilities: %q", out)
		}
	})
}

func TestE2ENoDevices(t *testing.T) {
	e := needDaemon(t)
	host := e.proxy(t, "no-devices", "")
	e.eachCLI(t, func(t *testing.T, cli, name string) {
		e.denied(t, cli, host, `no-devices: host devices are not allowed (HostConfig.Devices "/dev/null")`,
			"run", "--rm", "--name", name, "--device", "/dev/null:/dev/extra", e.image, "true")
		e.absent(t, name)
		if out := e.must(t, cli, host, "run", "--rm", "--name", name, e.image, "echo", "no devices"); out != "no devices\n" {
			t.Fatalf("the allowed twin printed %q", out)
		}
	})
}

func TestE2EReadOnly(t *testing.T) {
	e := needDaemon(t)
	host := e.proxy(t, "read-only", "")
	e.eachCLI(t, func(t *testing.T, cli, name string) {
		e.must(t, e.clis[0], e.daemon, "create", "--name", name, e.image, "true")
		dst := filepath.Join(t.TempDir(), "hostname")
		e.denied(t, cli, host, "read-only: container.archive.get copies files out of a container", "cp", name+":/etc/hostname", dst)
		if _, err := os.Stat(dst); err == nil {
			t.Fatal("docker cp wrote the file")
		}
		e.denied(t, cli, host, "read-only: container.delete (DELETE", "rm", name)
		e.denied(t, cli, host, "read-only: container.start (POST", "start", name)
		if state := e.must(t, e.clis[0], e.daemon, "inspect", "-f", "{{.State.Status}}", name); state != "created\n" {
			t.Fatalf("the container is %q after the denied calls", state)
		}
		// The reads go through.
		if got := e.must(t, cli, host, "inspect", "-f", "{{.Name}}", name); got != "/"+name+"\n" {
			t.Fatalf("inspect through read-only printed %q", got)
		}
		if got := e.must(t, cli, host, "ps", "-a", "--filter", "name="+name, "--format", "{{.Names}}"); got != name+"\n" {
			t.Fatalf("ps through read-only printed %q", got)
		}
	})
}

// The old API's start takes a host config: dockerd 20.10 serves API 1.12
// and up, and /v1.23/containers/X/start {"Privileged":true} replaces the
// container's host config with a privileged one. Through no-privileged
// it is refused; straight to the daemon, the container's host config
// becomes privileged, which shows the bypass is real.
func TestE2EOldStartBodyBypass(t *testing.T) {
	e := needDaemon(t)
	host := e.proxy(t, "no-privileged", "")
	name := fmt.Sprintf("pack-oldstart-%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { e.docker(t, e.clis[0], e.daemon, "rm", "-f", name) })
	e.must(t, e.clis[0], e.daemon, "create", "--name", name, e.image, "sleep", "60")
	body := `{"Privileged":true}`

	status, answer := rawPost(t, host, "/v1.23/containers/"+name+"/start", body)
	if status != http.StatusForbidden || !strings.Contains(answer, "no-privileged: privileged containers are not allowed (HostConfig.Privileged)") {
		t.Fatalf("through the proxy: %d %s", status, answer)
	}
	if got := e.must(t, e.clis[0], e.daemon, "inspect", "-f", "{{.State.Status}} {{.HostConfig.Privileged}}", name); got != "created false\n" {
		t.Fatalf("after the denied start the daemon says %q", got)
	}

	// Straight to the daemon the host config is replaced by a privileged
	// one. (This test daemon may lack the capabilities to run a
	// privileged container, so the runtime may then fail to start it;
	// the daemon has applied the host config either way.)
	status, answer = rawPost(t, e.daemon, "/v1.23/containers/"+name+"/start", body)
	t.Logf("straight to the daemon: %d %s", status, answer)
	if got := e.must(t, e.clis[0], e.daemon, "inspect", "-f", "{{.HostConfig.Privileged}}", name); got != "true\n" {
		t.Fatalf("without the policy the daemon's HostConfig.Privileged is %q, so the bypass is not what this test thinks", got)
	}
}

// rawPost sends a JSON POST to a DOCKER_HOST (tcp:// or unix://) and
// returns the status and the answer.
func rawPost(t *testing.T, dockerHost, path, body string) (int, string) {
	t.Helper()
	network, addr, _ := strings.Cut(dockerHost, "://")
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", "http://docker"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m struct{ Message string }
	if json.Unmarshal(b, &m) == nil && m.Message != "" {
		return resp.StatusCode, m.Message
	}
	return resp.StatusCode, string(b)
}
