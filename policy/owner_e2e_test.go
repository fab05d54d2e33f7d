//go:build linux

package policy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// ownerConfig puts the owner policy before every call, known route or not.
const ownerConfig = `version: 1
endpoints:
  "* /**":
    pre: [owner]
adapters:
  owner:
    builtin: owner
`

// ownerCLI runs a docker CLI as one user: the test's own (root), or
// another uid, through a proxy or the daemon.
type ownerCLI struct {
	cli    string
	host   string
	uid    int // -1: the test's own
	config string
}

// run runs the CLI; ok is whether it exited 0.
func (u ownerCLI) run(t *testing.T, args ...string) (out string, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.cli, args...)
	cmd.Env = []string{"DOCKER_HOST=" + u.host, "DOCKER_CONFIG=" + u.config, "HOME=" + u.config, "PATH=" + os.Getenv("PATH")}
	if u.uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.uid), Groups: []uint32{}}}
	}
	b, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: %v", u.cli, strings.Join(args, " "), ctx.Err())
	}
	return strings.TrimSpace(string(b)), err == nil
}

// must runs the CLI and fails the test if it fails.
func (u ownerCLI) must(t *testing.T, args ...string) string {
	t.Helper()
	out, ok := u.run(t, args...)
	if !ok {
		t.Fatalf("%s %s (uid %d): %s", u.cli, strings.Join(args, " "), u.uid, out)
	}
	return out
}

// fails runs the CLI, which must fail saying want.
func (u ownerCLI) fails(t *testing.T, want string, args ...string) {
	t.Helper()
	out, ok := u.run(t, args...)
	if ok || !strings.Contains(strings.ToLower(out), strings.ToLower(want)) { // the CLIs differ in case
		t.Errorf("%s %s (uid %d): ok=%v, want a failure saying %q; got %q", u.cli, strings.Join(args, " "), u.uid, ok, want, out)
	}
}

func TestOwnerE2E(t *testing.T) {
	daemon, image := powerstriptest.RealDaemon(t)
	if os.Geteuid() != 0 {
		t.Skip("the test runs a second user's CLI, which needs root")
	}
	h := powerstriptest.Start(t, powerstriptest.Setup{Daemon: daemon, Unix: true, Config: ownerConfig,
		Options: []powerstrip.Option{powerstrip.WithPolicies(New())}})
	// The second user must reach the socket, and a config dir.
	sock := strings.TrimPrefix(h.Host, "unix://")
	shared, err := os.MkdirTemp("", "owner-e2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	for path, mode := range map[string]os.FileMode{filepath.Dir(sock): 0o755, sock: 0o777, shared: 0o777} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, cli := range []string{"/usr/bin/docker", "/usr/local/bin/docker"} {
		if _, err := os.Stat(cli); err != nil {
			t.Errorf("%s: %v", cli, err)
			continue
		}
		t.Run(filepath.Base(filepath.Dir(filepath.Dir(cli)))+"-"+filepath.Base(cli), func(t *testing.T) {
			alice := ownerCLI{cli: cli, host: h.Host, uid: -1, config: shared}
			bob := ownerCLI{cli: cli, host: h.Host, uid: 1000, config: shared}
			truth := ownerCLI{cli: cli, host: daemon, uid: -1, config: shared}
			ownerScenario(t, image, alice, bob, truth)
		})
	}
}

// ownerScenario: alice and bob share a daemon through the proxy; the
// daemon, asked directly, is the ground truth.
func ownerScenario(t *testing.T, image string, alice, bob, truth ownerCLI) {
	suffix := make([]byte, 4)
	rand.Read(suffix) //nolint:errcheck // never fails
	ac, bc, bv := "owner-alice-"+hex.EncodeToString(suffix), "owner-bob-"+hex.EncodeToString(suffix), "owner-bobvol-"+hex.EncodeToString(suffix)
	t.Cleanup(func() {
		truth.run(t, "rm", "-f", ac, bc)
		truth.run(t, "volume", "rm", "-f", bv)
	})

	alice.must(t, "create", "--name", ac, "--label", "org.powerstrip.owner=uid:1000", image, "sleep", "60")
	bob.must(t, "run", "-d", "--name", bc, "-v", bv+":/data", image, "sleep", "60")

	// Lists: each sees its own only.
	if ps := bob.must(t, "ps", "-a", "--format", "{{.Names}}"); strings.Contains(ps, ac) || !strings.Contains(ps, bc) {
		t.Errorf("bob's docker ps -a: %q", ps)
	}
	if ps := alice.must(t, "ps", "-a", "--format", "{{.Names}}"); !strings.Contains(ps, ac) || strings.Contains(ps, bc) {
		t.Errorf("alice's docker ps -a: %q", ps)
	}
	if ls := alice.must(t, "volume", "ls", "-q"); strings.Contains(ls, bv) {
		t.Errorf("alice's docker volume ls: %q", ls)
	}
	if ls := bob.must(t, "volume", "ls", "-q"); !strings.Contains(ls, bv) {
		t.Errorf("bob's docker volume ls: %q", ls)
	}

	// Another's objects are no objects.
	bob.fails(t, "No such object: "+ac, "inspect", ac)
	bob.fails(t, "No such container: "+ac, "rm", ac)
	bob.run(t, "rm", "-f", ac) // exits 0 for a missing container, as docker rm -f does
	bob.fails(t, "No such container: "+ac, "start", ac)
	bob.fails(t, "No such container: "+ac, "logs", ac)
	alice.fails(t, "No such container: "+bc, "exec", bc, "true")
	alice.fails(t, "No such volume", "volume", "rm", bv)

	// One's own work, attach and exec included.
	if owner := alice.must(t, "inspect", "-f", `{{index .Config.Labels "org.powerstrip.owner"}}`, ac); owner != "uid:0" {
		t.Errorf("alice's container is owned by %q: the label she set is not overwritten", owner)
	}
	alice.must(t, "start", ac)
	if out := alice.must(t, "exec", ac, "echo", "hi"); out != "hi" {
		t.Errorf("alice's exec: %q", out)
	}
	if out := bob.must(t, "run", "--rm", "-v", bv+":/data", image, "ls", "/data"); out != "" {
		t.Errorf("bob's run: %q", out)
	}

	// The daemon's own account.
	if state := truth.must(t, "inspect", "-f", `{{.State.Running}} {{index .Config.Labels "org.powerstrip.owner"}}`, ac); state != "true uid:0" {
		t.Errorf("alice's container after bob's rm: %q", state)
	}
	if owner := truth.must(t, "inspect", "-f", `{{index .Config.Labels "org.powerstrip.owner"}}`, bc); owner != "uid:1000" {
		t.Errorf("bob's container is owned by %q", owner)
	}
	if owner := truth.must(t, "volume", "inspect", "-f", `{{index .Labels "org.powerstrip.owner"}}`, bv); owner != "uid:1000" {
		t.Errorf("bob's volume, made by his run, is owned by %q", owner)
	}
	alice.must(t, "rm", "-f", ac)
	if _, ok := truth.run(t, "inspect", ac); ok {
		t.Errorf("alice's rm left %s", ac)
	}
}
