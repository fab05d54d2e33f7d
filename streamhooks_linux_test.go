// Interactive clients of issue #12's echo config: a pseudo-terminal, and
// commands that read their output as it comes. Linux only, like
// stream_e2e_test.go whose helpers they use.

//go:build linux

package powerstrip_test

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// docker run -it under a pseudo-terminal, through the echo config: typed
// input reaches the shell, its answer comes back, and its exit code too.
func TestE2EEchoRunInteractive(t *testing.T) {
	e := needDocker(t)
	host, _ := e.echoProxy(t)
	e.eachCLI(t, func(t *testing.T, cli string) {
		name := uniqueName(t) // cleaned up if a hung run left it behind
		e.removeLater(t, name)
		typeIntoShell(t, cli, host, []string{"run", "-it", "--rm", "--name", name, e.image, "sh"})
	})
}

// attachAnswer attaches to a container waiting for a line, sends one, waits
// for the answer, then a second line makes the container exit 5. stdin
// stays open until the answer came: Docker may drop a quick answer to an
// attach whose stdin already ended, direct too.
func (e *e2eEnv) attachAnswer(t *testing.T, cli, host string) (code int) {
	t.Helper()
	name := uniqueName(t)
	e.removeLater(t, name)
	e.must(t, cli, e.daemon, "run", "-di", "--name", name, e.image, "sh", "-c", "read l; echo got $l; read l; exit 5")
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "attach", name)
	cmd.Env = cliEnv(t, host)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait() //nolint:errcheck // reaped; the context bounds it
	defer cmd.Process.Kill()
	io.WriteString(stdin, "hello attach\n")
	readUntil(t, stdout, "got hello attach\n", hangBound)
	io.WriteString(stdin, "bye\n")
	stdin.Close()
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("attach did not end with its container: %v", err)
	}
	return cmd.ProcessState.ExitCode()
}

// docker attach shows the container's output as it comes, takes its input,
// and exits with its code, as it does direct.
func TestE2EEchoAttach(t *testing.T) {
	e := needDocker(t)
	host, _ := e.echoProxy(t)
	e.eachCLI(t, func(t *testing.T, cli string) {
		if direct, proxied := e.attachAnswer(t, cli, e.daemon), e.attachAnswer(t, cli, host); proxied != 5 || direct != 5 {
			t.Errorf("attach exited %d through the proxy, %d direct; want the container's 5", proxied, direct)
		}
	})
}

// docker logs -f shows a line while the container runs, and ends with it.
func TestE2EEchoLogsFollow(t *testing.T) {
	e := needDocker(t)
	host, _ := e.echoProxy(t)
	e.eachCLI(t, func(t *testing.T, cli string) {
		id := strings.TrimSpace(e.must(t, cli, e.daemon, "run", "-d", e.image, "sh", "-c", "echo first; exec sleep 60"))
		e.removeLater(t, id)
		ctx, cancel := context.WithTimeout(context.Background(), hangBound)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, "logs", "-f", id)
		cmd.Env = cliEnv(t, host)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait() //nolint:errcheck // reaped; the context bounds it
		readUntil(t, stdout, "first\n", hangBound)
		if running := strings.TrimSpace(e.must(t, cli, e.daemon, "inspect", "-f", "{{.State.Running}}", id)); running != "true" {
			t.Fatalf("the container ended (running=%s) before its line was shown: not live", running)
		}
		e.must(t, cli, e.daemon, "rm", "-f", id)
		if err := cmd.Wait(); ctx.Err() != nil {
			t.Errorf("logs -f did not end with its container: %v", err)
		}
	})
}
