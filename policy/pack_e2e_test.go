package policy_test

// End-to-end tests of the pack: each built-in policy on every call, both
// docker CLIs, the real daemon (the harness is e2e_helpers_test.go).

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestE2ENoPrivileged(t *testing.T) {
	e := needE2E(t)
	host := e.proxy(t, builtinConfig("no-privileged", ""))
	e.eachCLI(t, func(t *testing.T, cli string) {
		name := e.container(t, "pack")
		e.refused(t, cli, host, "no-privileged: privileged containers are not allowed (HostConfig.Privileged)",
			"run", "--rm", "--name", name, "--privileged", e.image, "true")
		e.noContainer(t, name)
		e.refused(t, cli, host, `no-privileged: a seccomp profile other than the daemon's is not allowed (HostConfig.SecurityOpt "seccomp=unconfined")`,
			"create", "--name", name, "--security-opt", "seccomp=unconfined", e.image, "true")
		e.noContainer(t, name)
		if out := e.must(t, cli, host, "run", "--rm", "--name", name, e.image, "echo", "unprivileged"); out != "unprivileged\n" {
			t.Fatalf("the allowed twin printed %q", out)
		}
		// exec: the container runs, the privileged exec does not.
		e.must(t, cli, host, "run", "-d", "--name", name, e.image, "sleep", "60")
		e.refused(t, cli, host, "no-privileged: privileged execs are not allowed (Privileged)", "exec", "--privileged", name, "true")
		if out := e.must(t, cli, host, "exec", name, "echo", "ok"); out != "ok\n" {
			t.Fatalf("the allowed exec printed %q", out)
		}
	})
}

func TestE2ENoHostNamespaces(t *testing.T) {
	e := needE2E(t)
	host := e.proxy(t, builtinConfig("no-host-namespaces", ""))
	hostNet := strings.TrimSpace(e.must(t, e.clis[0], e.daemon, "network", "inspect", "-f", "{{.Id}}", "host"))
	e.eachCLI(t, func(t *testing.T, cli string) {
		name := e.container(t, "pack")
		e.refused(t, cli, host, `no-host-namespaces: the host's pid namespace is not allowed (HostConfig.PidMode "host")`,
			"run", "--rm", "--name", name, "--pid", "host", e.image, "true")
		e.noContainer(t, name)
		// The host network by an ID prefix: the daemon resolves it to
		// the host network, so must the policy.
		e.refused(t, cli, host, `no-host-namespaces: the host's network namespace is not allowed (HostConfig.NetworkMode "`+hostNet[:12]+`" is the host network)`, "create", "--name", name, "--network", hostNet[:12], e.image, "true")
		e.noContainer(t, name)
		if out := e.must(t, cli, host, "run", "--rm", "--name", name, "--ipc", "private", e.image, "echo", "private"); out != "private\n" {
			t.Fatalf("the allowed twin printed %q", out)
		}
	})
}

func TestE2ECapabilities(t *testing.T) {
	e := needE2E(t)
	host := e.proxy(t, builtinConfig("capabilities", "    allow: [NET_ADMIN]\n"))
	e.eachCLI(t, func(t *testing.T, cli string) {
		name := e.container(t, "pack")
		e.refused(t, cli, host, "capabilities: capability SYS_ADMIN is not allowed (HostConfig.CapAdd ",
			"run", "--rm", "--name", name, "--cap-add", "SYS_ADMIN", e.image, "true")
		e.noContainer(t, name)
		// CapEff of a container with NET_ADMIN added has bit 12.
		out := e.must(t, cli, host, "run", "--rm", "--name", name, "--cap-add", "net_admin", e.image, "grep", "CapEff", "/proc/self/status")
		if !strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(out, "CapEff:")), "00000000a80435fb") {
			t.Fatalf("the allowed twin's capabilities: %q", out)
		}
	})
}

func TestE2ENoDevices(t *testing.T) {
	e := needE2E(t)
	host := e.proxy(t, builtinConfig("no-devices", ""))
	e.eachCLI(t, func(t *testing.T, cli string) {
		name := e.container(t, "pack")
		e.refused(t, cli, host, `no-devices: host devices are not allowed (HostConfig.Devices "/dev/null")`,
			"run", "--rm", "--name", name, "--device", "/dev/null:/dev/extra", e.image, "true")
		e.noContainer(t, name)
		if out := e.must(t, cli, host, "run", "--rm", "--name", name, e.image, "echo", "no devices"); out != "no devices\n" {
			t.Fatalf("the allowed twin printed %q", out)
		}
	})
}

func TestE2EReadOnly(t *testing.T) {
	e := needE2E(t)
	host := e.proxy(t, builtinConfig("read-only", ""))
	e.eachCLI(t, func(t *testing.T, cli string) {
		name := e.container(t, "pack")
		e.must(t, e.clis[0], e.daemon, "create", "--name", name, e.image, "true")
		dst := filepath.Join(t.TempDir(), "hostname")
		e.refused(t, cli, host, "read-only: container.archive.get copies files out of a container", "cp", name+":/etc/hostname", dst)
		if _, err := os.Stat(dst); err == nil {
			t.Fatal("docker cp wrote the file")
		}
		e.refused(t, cli, host, "read-only: container.delete (DELETE", "rm", name)
		e.refused(t, cli, host, "read-only: container.start (POST", "start", name)
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
	e := needE2E(t)
	host := e.proxy(t, builtinConfig("no-privileged", ""))
	name := e.container(t, "pack-oldstart")
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
