//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// readmePolicies is the config the README's policy section shows.
func readmePolicies(t *testing.T) string {
	md, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(md), "\n## Policies without code\n")
	if !ok {
		t.Fatal("the README has no policy section")
	}
	return fencedBlock(t, section, "yaml")
}

// The README's policy config passes -check as written, and does what the
// README says with both CLIs against the real daemon: a privileged run is
// refused with the message it quotes, a create without a team label warns
// as it quotes, and a plain run works. Only the image allow list gains the
// test image, which is what the README's busybox stands for.
func TestReadmePolicies(t *testing.T) {
	cfg := readmePolicies(t)
	var stderr bytes.Buffer
	if code := run([]string{"-check", "-config", writeFile(t, "readme-policies.yml", cfg)}, &stderr); code != 0 {
		t.Fatalf("-check of the README's policy config: exit %d\n%s", code, stderr.String())
	}
	daemon, image := e2eDocker(t)
	repo, _, _ := strings.Cut(image, ":")
	cfg = strings.Replace(cfg, `busybox]`, `busybox, "`+repo+`:*"]`, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := startBinary(t, ctx, daemon, writeFile(t, "policies.yml", cfg))
	env := []string{"DOCKER_HOST=unix://" + b.sock, "DOCKER_BUILDKIT=0"}
	for _, cli := range clis(t) {
		out, err := runCLI(t, ctx, cli, env, nil, "run", "--rm", "--privileged", image, "true")
		if err == nil || !strings.Contains(out, "Error response from daemon: no-privileged: privileged containers are not allowed (HostConfig.Privileged)") {
			t.Errorf("%s run --privileged: %v\n%s", cli, err, out)
		}
		out, err = runCLI(t, ctx, cli, env, nil, "create", image, "true")
		id := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
		if err != nil || !strings.Contains(out, "WARNING: guard: label containers with their team") {
			t.Errorf("%s create without a team label: %v\n%s", cli, err, out)
		}
		if id != "" {
			runCLI(t, ctx, cli, env, nil, "rm", "-f", id) //nolint:errcheck // cleanup
		}
		out, err = runCLI(t, ctx, cli, env, nil, "run", "--rm", "--label", "team=a", image, "echo", "ran")
		if err != nil || strings.TrimSpace(out) != "ran" {
			t.Errorf("%s run: %v\n%s", cli, err, out)
		}
	}
}
