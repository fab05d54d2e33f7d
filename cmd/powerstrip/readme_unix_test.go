//go:build unix

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fencedBlock is the body of the first block fenced as ```lang in md.
func fencedBlock(t *testing.T, md, lang string) string {
	t.Helper()
	_, rest, ok := strings.Cut(md, "\n```"+lang+"\n")
	if !ok {
		t.Fatalf("the README has no ```%s block", lang)
	}
	block, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatalf("the README's first ```%s block does not end", lang)
	}
	return block
}

// The README's first screen works as written: its first shell block runs
// line by line against the test daemon, and the docker command prints what
// the block's comment says it prints. What cannot be verbatim here is
// replaced, and only that: the git clone is skipped (no network; the test
// runs in the clone), and the test daemon's socket, free loopback ports and
// the test image stand in for /var/run/docker.sock, 2375, 8083 and busybox.
// The config the block names is shipped, and is what the README shows.
func TestReadmeFirstScreen(t *testing.T) {
	daemon, image := e2eDocker(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(filepath.Join(root, "examples/adapters.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var uncommented []string
	for _, line := range strings.Split(strings.TrimSpace(string(shipped)), "\n") {
		if !strings.HasPrefix(line, "#") {
			uncommented = append(uncommented, line)
		}
	}
	if shown := fencedBlock(t, string(readme), "yaml"); shown != strings.Join(uncommented, "\n") {
		t.Errorf("the README's first config is not examples/adapters.yml:\n%s\n---\n%s", shown, shipped)
	}

	proxyAddr, adapterAddr := freeAddr(t), freeAddr(t)
	config := filepath.Join(t.TempDir(), "adapters.yml")
	if err := os.WriteFile(config, []byte(strings.ReplaceAll(string(shipped), "127.0.0.1:8083", adapterAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	stand := strings.NewReplacer("unix:///var/run/docker.sock", daemon, "127.0.0.1:2375", proxyAddr, "127.0.0.1:8083", adapterAddr,
		"examples/adapters.yml", config, " busybox ", " "+image+" ")
	script := []string{"set -e", `trap 'kill $(jobs -p) 2>/dev/null' EXIT`}
	var commands, expected []string
	for _, line := range strings.Split(fencedBlock(t, string(readme), "sh"), "\n") {
		switch {
		case strings.HasPrefix(line, "# "):
			expected = append(expected, strings.TrimPrefix(line, "# "))
		case strings.HasPrefix(line, "git clone "):
		case strings.TrimSpace(line) != "":
			commands = append(commands, stand.Replace(line))
		}
	}
	if len(commands) < 3 || len(expected) == 0 {
		t.Fatalf("the first shell block has %d commands and %d expected lines", len(commands), len(expected))
	}
	for i, c := range commands {
		if i == len(commands)-1 {
			script = append(script, "set +e") // the last command's failure is what the block shows
		}
		script = append(script, c)
		if !strings.HasSuffix(c, "&") {
			continue
		}
		// A typist's next line comes later than a script's: wait, bounded,
		// until what the background command serves accepts connections.
		for _, addr := range []string{proxyAddr, adapterAddr} {
			if strings.Contains(c, addr) {
				host, port, _ := strings.Cut(addr, ":")
				script = append(script, "for i in $(seq 600); do (exec 3<>/dev/tcp/"+host+"/"+port+") 2>/dev/null && break; sleep 0.1; done")
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := t.TempDir()
	cmd := exec.CommandContext(ctx, "bash", "-c", strings.Join(script, "\n"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "PATH="+bin+":"+os.Getenv("PATH"), "DOCKER_CONFIG="+t.TempDir(), "DOCKER_HOST=")
	// The block starts servers in the background: they go with the script,
	// whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	for _, want := range expected {
		if !strings.Contains(string(out), want) {
			t.Errorf("the first screen did not print %q (exit: %v); the script:\n%s\nits output:\n%s", want, err, strings.Join(script, "\n"), out)
		}
	}
}
