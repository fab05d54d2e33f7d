package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheck(t *testing.T) {
	good := writeFile(t, "good.yml", "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [a]\nadapters:\n  a: http://127.0.0.1:1/a\n")
	undefined := writeFile(t, "undefined.yml", "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [b]\nadapters:\n  a: http://127.0.0.1:1/a\n")
	malformed := writeFile(t, "malformed.yml", "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: a\nadapters: {}\n")
	cases := []struct {
		path     string
		wantCode int
		wantText string
	}{
		{good, 0, good + ": ok"},
		{undefined, 1, `"b" is neither an adapter nor an in-process hook`},
		{malformed, 1, `line 4: endpoint "POST /*/containers/create": pre must be a list of adapter names`},
		{filepath.Join(t.TempDir(), "missing.yml"), 1, "no such file"},
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		code := run([]string{"-check", "-config", tc.path}, &stderr)
		if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantText) {
			t.Errorf("-check %s: exit %d, %q; want %d and %q", filepath.Base(tc.path), code, stderr.String(), tc.wantCode, tc.wantText)
		}
	}
}

// A bad config stops the binary before it listens.
func TestBadConfigDoesNotListen(t *testing.T) {
	bad := writeFile(t, "bad.yml", "version: 2\nendpoints: {}\nadapters: {}\n")
	sock := filepath.Join(t.TempDir(), "ps.sock")
	var stderr bytes.Buffer
	if code := run([]string{"-config", bad, "-listen", "unix://" + sock}, &stderr); code != 1 || !strings.Contains(stderr.String(), "version 2 is not supported") {
		t.Errorf("exit %d, %q", code, stderr.String())
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("it listened")
	}
}

// Only the default config may be missing: the binary then proxies with no
// hooks and says so.
func TestMissingConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "adapters.yml")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	cfg, err := loadConfig(&options{config: missing}, logger)
	if err != nil || cfg != nil || !strings.Contains(logs.String(), "no config file; running with no hooks") {
		t.Errorf("default missing: %v %v %q", cfg, err, logs.String())
	}
	if _, err := loadConfig(&options{config: missing, configSet: true}, logger); err == nil {
		t.Error("a missing -config file was accepted")
	}
	o, err := parseFlags([]string{"-config", missing}, io.Discard)
	if err != nil || !o.configSet {
		t.Errorf("parseFlags: %+v %v", o, err)
	}
}

func TestFlags(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"-version"}, &stderr); code != 0 || !strings.HasPrefix(stderr.String(), "powerstrip ") {
		t.Errorf("-version: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"-listen", "nonsense", "-docker", "unix:///nonexistent.sock", "-config", writeFile(t, "c.yml", "version: 1\nendpoints: {}\nadapters: {}\n")}, &stderr); code != 1 || !strings.Contains(stderr.String(), `listen "nonsense"`) {
		t.Errorf("bad -listen: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"-docker", "ftp://x", "-check"}, &stderr); code != 1 || !strings.Contains(stderr.String(), "unix://, tcp://, http:// or https://") {
		t.Errorf("bad -docker: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"-request-body-limit", "0", "-check"}, &stderr); code != 1 || !strings.Contains(stderr.String(), "WithRequestBodyLimit: 0 is not positive") {
		t.Errorf("bad -request-body-limit: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"extra"}, &stderr); code != 2 {
		t.Errorf("extra argument: %d %q", code, stderr.String())
	}
}

func TestListenUnixReplacesOnlyStaleSockets(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ps.sock")
	l, err := listenUnix(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode: %v %v", fi.Mode(), err)
	}
	if _, err := listenUnix(sock, ""); err == nil || !strings.Contains(err.Error(), "already answers") {
		t.Errorf("a live socket was replaced: %v", err)
	}
	// A closed unix listener removes its file; leave a stale one behind.
	l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.Close()
	l, err = listenUnix(sock, "")
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	l.Close()
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, nil, 0o600)
	if _, err := listenUnix(plain, ""); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a regular file was replaced: %v", err)
	}
}

// e2eDocker returns the test daemon and image, or skips (fails, when the
// end-to-end tests are required).
func e2eDocker(t *testing.T) (daemon, image string) {
	daemon, image = os.Getenv("POWERSTRIP_TEST_DOCKER"), os.Getenv("POWERSTRIP_TEST_IMAGE")
	if daemon == "" || image == "" {
		if os.Getenv("POWERSTRIP_E2E") == "required" {
			t.Fatal("end-to-end tests are required: POWERSTRIP_TEST_DOCKER and POWERSTRIP_TEST_IMAGE are not set")
		}
		t.Skip("no test daemon (run scripts/test.sh)")
	}
	return daemon, image
}

// runningBinary is the powerstrip binary running as a user would run it.
type runningBinary struct {
	cmd     *exec.Cmd
	sock    string   // DOCKER_HOST=unix://sock reaches it
	startup []string // log lines up to "listening"
	rest    chan string
}

// startBinary builds the binary and runs it with a config, listening on a
// unix socket in front of the test daemon.
func startBinary(t *testing.T, ctx context.Context, daemon, config string) *runningBinary {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "powerstrip")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b := &runningBinary{sock: filepath.Join(dir, "powerstrip.sock"), rest: make(chan string, 1)}
	b.cmd = exec.CommandContext(ctx, bin, "-config", config, "-listen", "unix://"+b.sock, "-docker", daemon)
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := bufio.NewScanner(stderr)
	for logs.Scan() {
		b.startup = append(b.startup, logs.Text())
		if strings.Contains(logs.Text(), "msg=listening") {
			break
		}
	}
	go func() {
		rest, _ := io.ReadAll(stderr)
		b.rest <- string(rest)
	}()
	return b
}

// docker runs the docker CLI through the binary.
func (b *runningBinary) docker(t *testing.T, ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = []string{"DOCKER_HOST=unix://" + b.sock, "DOCKER_CONFIG=" + t.TempDir(), "DOCKER_BUILDKIT=0",
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// peakRSS is the binary's peak resident memory so far, from the kernel.
func (b *runningBinary) peakRSS(t *testing.T) string {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return ""
}

// stop sends SIGTERM and returns the rest of the log once it exited.
func (b *runningBinary) stop(t *testing.T) string {
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	tail := <-b.rest // ends when the process closes stderr, at exit
	if err := b.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, tail)
	}
	return tail
}

// remoteAdapter serves fn as a protocol v1 adapter on loopback.
func remoteAdapter(t *testing.T, fn func(req *powerstrip.HookRequest) *powerstrip.HookResponse) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req powerstrip.HookRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(fn(&req))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The binary end to end: flags, config, a remote adapter, the real daemon
// and the real CLI, then a clean stop on SIGTERM.
func TestBinaryEndToEnd(t *testing.T) {
	daemon, image := e2eDocker(t)
	url := remoteAdapter(t, func(req *powerstrip.HookRequest) *powerstrip.HookResponse {
		var body map[string]any
		if err := req.ClientRequest.DecodeBody(&body); err != nil {
			return nil
		}
		body["Env"] = []string{"VIA=the-binary"}
		out := req.ClientRequest
		out.SetBody(body)
		return &powerstrip.HookResponse{PowerstripProtocolVersion: 1, ModifiedClientRequest: &out}
	})
	cfg := writeFile(t, "adapters.yml", "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [env]\nadapters:\n  env: "+url+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := startBinary(t, ctx, daemon, cfg)
	if !strings.Contains(strings.Join(b.startup, "\n"), `hooks="POST /*/containers/create pre=[env] post=[]"`) {
		t.Errorf("the start-up log does not list the endpoint:\n%s", strings.Join(b.startup, "\n"))
	}
	if out, err := b.docker(t, ctx, "run", "--rm", image, "sh", "-c", "echo $VIA"); err != nil || out != "the-binary\n" {
		t.Errorf("docker run through the binary: %v, %q", err, out)
	}
	if tail := b.stop(t); !strings.Contains(tail, "shutting down") {
		t.Errorf("no shutdown in the log:\n%s", tail)
	}
}

// A build context of 200 MiB streams through the binary while a remote
// pre-hook is configured on /build: the build gets every byte, the hook sees
// the call, and the proxy's memory stays flat.
func TestBinaryBigBuildContext(t *testing.T) {
	daemon, image := e2eDocker(t)
	var sawBuild atomic.Int32
	url := remoteAdapter(t, func(req *powerstrip.HookRequest) *powerstrip.HookResponse {
		if strings.Contains(req.ClientRequest.Request, "/build?") && req.ClientRequest.Body == nil {
			sawBuild.Add(1)
		}
		return &powerstrip.HookResponse{PowerstripProtocolVersion: 1}
	})
	cfg := writeFile(t, "adapters.yml", "version: 1\nendpoints:\n  \"POST /*/build\":\n    pre: [gate]\nadapters:\n  gate: "+url+"\n")

	const size = 200 << 20
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	chunk := make([]byte, 1<<20)
	x := uint64(88172645463325252)
	for written := 0; written < size; written += len(chunk) {
		for i := 0; i < len(chunk); i += 8 { // xorshift: incompressible, fast
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			binary.LittleEndian.PutUint64(chunk[i:], x)
		}
		f.Write(chunk)
		sum.Write(chunk)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(sum.Sum(nil))
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+image+"\nCOPY big.bin /big.bin\nRUN sha256sum /big.bin\n"), 0o644)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := startBinary(t, ctx, daemon, cfg)
	tag := "powerstrip-e2e-bigcontext:latest"
	start := time.Now()
	out, err := b.docker(t, ctx, "build", "--no-cache", "-t", tag, dir)
	took := time.Since(start)
	t.Cleanup(func() {
		rmi := exec.Command("docker", "rmi", "-f", tag)
		rmi.Env = []string{"DOCKER_HOST=" + daemon, "DOCKER_CONFIG=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		rmi.Run()
	})
	if err != nil || !strings.Contains(out, want+"  /big.bin") {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if sawBuild.Load() != 1 {
		t.Errorf("the pre-hook saw %d builds", sawBuild.Load())
	}
	peak := b.peakRSS(t)
	t.Logf("200 MiB build context through the binary: %v; proxy peak RSS %s", took, peak)
	var kb int
	fmt.Sscanf(peak, "%d kB", &kb)
	if kb <= 0 || kb > 64<<10 {
		t.Errorf("peak RSS %s: the context was held in memory", peak)
	}
	b.stop(t)
}
