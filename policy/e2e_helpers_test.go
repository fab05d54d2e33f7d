package policy_test

// The harness of the end-to-end tests: both docker CLIs through a Proxy
// that runs a config's policies, in front of the real daemon, whose state,
// asked directly, is the ground truth. POWERSTRIP_TEST_DOCKER and
// POWERSTRIP_TEST_IMAGE name them (scripts/test.sh);
// POWERSTRIP_E2E=required makes their absence a failure.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// e2eEnv is the daemon, image and CLIs of an end-to-end test.
type e2eEnv struct {
	daemon, image string
	clis          []string // the 28.x CLI first, then Debian's 20.10
}

// needE2E returns the test's daemon and CLIs, or skips the test (fails it
// when end-to-end tests are required and both CLIs are not there).
func needE2E(t *testing.T) *e2eEnv {
	t.Helper()
	e := &e2eEnv{}
	e.daemon, e.image = powerstriptest.RealDaemon(t)
	for _, cli := range []string{"/usr/local/bin/docker", "/usr/bin/docker"} {
		if _, err := os.Stat(cli); err == nil {
			e.clis = append(e.clis, cli)
		}
	}
	switch {
	case len(e.clis) < 2 && os.Getenv("POWERSTRIP_E2E") == "required":
		t.Fatalf("end-to-end tests are required: want both docker CLIs, found %v", e.clis)
	case len(e.clis) == 0:
		t.Skip("no docker CLI")
	}
	return e
}

// proxy serves, on loopback, a Proxy with the config's policies in front
// of the daemon, and returns its DOCKER_HOST.
func (e *e2eEnv) proxy(t *testing.T, config string) string {
	t.Helper()
	h := powerstriptest.Start(t, powerstriptest.Setup{
		Daemon:  e.daemon,
		Config:  config,
		Options: []powerstrip.Option{powerstrip.WithPolicies(policy.New()), powerstrip.WithLogger(slog.New(slog.DiscardHandler))},
	})
	return h.Host
}

// builtinConfig runs one built-in policy, the adapter named after it and
// with the options as YAML lines, before every call.
func builtinConfig(builtin, options string) string {
	return fmt.Sprintf("version: 1\nendpoints:\n  \"* /**\":\n    pre: [%s]\nadapters:\n  %s:\n    builtin: %s\n%s", builtin, builtin, builtin, options)
}

// run runs a docker CLI against host, bounded in time.
func (e *e2eEnv) run(t *testing.T, cli, host string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = []string{"DOCKER_HOST=" + host, "DOCKER_CONFIG=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// must runs a CLI call that must succeed, and returns its output.
func (e *e2eEnv) must(t *testing.T, cli, host string, args ...string) string {
	t.Helper()
	out, errOut, err := e.run(t, cli, host, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// direct runs the first CLI against the daemon itself; it must succeed.
func (e *e2eEnv) direct(t *testing.T, args ...string) string {
	t.Helper()
	return e.must(t, e.clis[0], e.daemon, args...)
}

// refused runs a CLI call that the policy must refuse, and checks that the
// CLI printed want as the daemon's error, as a user would read it.
func (e *e2eEnv) refused(t *testing.T, cli, host, want string, args ...string) {
	t.Helper()
	_, errOut, err := e.run(t, cli, host, args...)
	if err == nil || !strings.Contains(errOut, "Error response from daemon: "+want) {
		t.Errorf("docker %s: err %v, stderr %q; want the refusal %q", strings.Join(args, " "), err, errOut, want)
	}
}

// noContainer asks the daemon whether a container of this name exists: a
// refused create must not have reached it.
func (e *e2eEnv) noContainer(t *testing.T, name string) {
	t.Helper()
	if ids := e.direct(t, "ps", "-aq", "--filter", "name=^/"+name+"$"); strings.TrimSpace(ids) != "" {
		t.Errorf("container %s exists (%s): the refused call reached Docker", name, strings.TrimSpace(ids))
	}
}

// eachCLI runs f as a subtest per docker CLI.
func (e *e2eEnv) eachCLI(t *testing.T, f func(t *testing.T, cli string)) {
	for _, cli := range e.clis {
		t.Run(strings.ReplaceAll(strings.Trim(filepath.Dir(cli), "/"), "/", "-"), func(t *testing.T) { f(t, cli) })
	}
}

// container is a container name of the test's own, unique on the shared
// daemon, removed when the test ends.
func (e *e2eEnv) container(t *testing.T, prefix string) string {
	name := e2eName(prefix)
	t.Cleanup(func() { e.run(t, e.clis[0], e.daemon, "rm", "-f", name) }) //nolint:errcheck // it may never have existed
	return name
}

// e2eName is a name unique on the daemon other tests share.
func e2eName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9)
}

// rawPost sends a JSON POST to a DOCKER_HOST (tcp:// or unix://), for
// calls no CLI makes, and returns the status and the answer's message.
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
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Message string }
	if json.Unmarshal(b, &m) == nil && m.Message != "" {
		return resp.StatusCode, m.Message
	}
	return resp.StatusCode, string(b)
}
