package policy

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// docker runs a docker CLI against host, bounded.
func docker(t *testing.T, cli, host string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = []string{"DOCKER_HOST=" + host, "DOCKER_CONFIG=" + t.TempDir(), "HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// theCLIs are both docker CLIs: Debian's 20.10 and the 28.x one.
func theCLIs(t *testing.T) []string {
	var out []string
	for _, c := range []string{"/usr/bin/docker", "/usr/local/bin/docker"} {
		if _, err := os.Stat(c); err == nil {
			out = append(out, c)
		}
	}
	if len(out) < 2 && os.Getenv("POWERSTRIP_E2E") == "required" {
		t.Fatalf("want both docker CLIs, found %v", out)
	}
	if len(out) == 0 {
		t.Skip("no docker CLI")
	}
	return out
}

func TestRulesE2E(t *testing.T) {
	daemon, image := powerstriptest.RealDaemon(t)
	clis := theCLIs(t)
	h := powerstriptest.Start(t, powerstriptest.Setup{
		Daemon: daemon,
		Config: guardConfig("", noPrivilegedRule+`      - expr: has(request.body.Labels.owner)
        message: label containers with their owner
        action: warn
`),
		Options: []powerstrip.Option{powerstrip.WithPolicies(New()), powerstrip.WithLogger(slog.New(slog.DiscardHandler))},
	})
	for _, cli := range clis {
		t.Run(strings.ReplaceAll(strings.Trim(filepath.Dir(cli), "/"), "/", "-"), func(t *testing.T) {
			base := fmt.Sprintf("ps-rules-%d-%d", os.Getpid(), time.Now().UnixNano())
			for _, name := range []string{base + "-warned", base + "-denied"} {
				t.Cleanup(func() { docker(t, cli, daemon, "rm", "-f", name) }) //nolint:errcheck // the denied one never exists
			}

			out, err := docker(t, cli, h.Host, "create", "--name", base+"-warned", image, "true")
			if err != nil || !strings.Contains(out, "WARNING: guard: label containers with their owner") {
				t.Fatalf("create with a warn rule failing: %v\n%s", err, out)
			}
			if out, err := docker(t, cli, daemon, "inspect", "--type", "container", "--format", "{{.Name}}", base+"-warned"); err != nil || strings.TrimSpace(out) != "/"+base+"-warned" {
				t.Fatalf("the warned container is not on the daemon: %v\n%s", err, out)
			}

			out, err = docker(t, cli, h.Host, "create", "--privileged", "--name", base+"-denied", image, "true")
			if err == nil || !strings.Contains(out, "Error response from daemon: guard: privileged containers are not allowed") {
				t.Fatalf("privileged create: %v\n%s", err, out)
			}
			if out, err := docker(t, cli, daemon, "inspect", "--type", "container", base+"-denied"); err == nil || !strings.Contains(strings.ToLower(out), "no such") {
				t.Fatalf("the denied container exists on the daemon: %v\n%s", err, out)
			}
		})
	}
}
