package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	if code := run([]string{"-docker", "ftp://x", "-check"}, &stderr); code != 1 || !strings.Contains(stderr.String(), "unix://, tcp:// or http://") {
		t.Errorf("bad -docker: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"extra"}, &stderr); code != 2 {
		t.Errorf("extra argument: %d %q", code, stderr.String())
	}
}

func TestListenUnixReplacesOnlyStaleSockets(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ps.sock")
	l, err := listenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode: %v %v", fi.Mode(), err)
	}
	if _, err := listenUnix(sock); err == nil || !strings.Contains(err.Error(), "already answers") {
		t.Errorf("a live socket was replaced: %v", err)
	}
	// A closed unix listener removes its file; leave a stale one behind.
	l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.Close()
	l, err = listenUnix(sock)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	l.Close()
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, nil, 0o600)
	if _, err := listenUnix(plain); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a regular file was replaced: %v", err)
	}
}

// The binary end to end: flags, config, a remote adapter, the real daemon
// and the real CLI, then a clean stop on SIGTERM.
func TestBinaryEndToEnd(t *testing.T) {
	daemon, image := os.Getenv("POWERSTRIP_TEST_DOCKER"), os.Getenv("POWERSTRIP_TEST_IMAGE")
	if daemon == "" || image == "" {
		if os.Getenv("POWERSTRIP_E2E") == "required" {
			t.Fatal("end-to-end tests are required: POWERSTRIP_TEST_DOCKER and POWERSTRIP_TEST_IMAGE are not set")
		}
		t.Skip("no test daemon (run scripts/test.sh)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "powerstrip")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	adapter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req powerstrip.HookRequest
		json.NewDecoder(r.Body).Decode(&req)
		var body map[string]any
		if err := req.ClientRequest.DecodeBody(&body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body["Env"] = []string{"VIA=the-binary"}
		out := req.ClientRequest
		out.SetBody(body)
		json.NewEncoder(w).Encode(powerstrip.HookResponse{PowerstripProtocolVersion: 1, ModifiedClientRequest: &out})
	}))
	defer adapter.Close()
	cfg := writeFile(t, "adapters.yml", "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [env]\nadapters:\n  env: "+adapter.URL+"\n")
	sock := filepath.Join(dir, "powerstrip.sock")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-config", cfg, "-listen", "unix://"+sock, "-docker", daemon)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := bufio.NewScanner(stderr)
	var startup []string
	for logs.Scan() {
		startup = append(startup, logs.Text())
		if strings.Contains(logs.Text(), "msg=listening") {
			break
		}
	}
	if !strings.Contains(strings.Join(startup, "\n"), `hooks="POST /*/containers/create pre=[env] post=[]"`) {
		t.Errorf("the start-up log does not list the endpoint:\n%s", strings.Join(startup, "\n"))
	}
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(stderr)
		rest <- string(b)
	}()

	run := exec.CommandContext(ctx, "docker", "run", "--rm", image, "sh", "-c", "echo $VIA")
	run.Env = []string{"DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out, err := run.CombinedOutput()
	if err != nil || string(out) != "the-binary\n" {
		t.Errorf("docker run through the binary: %v, %q", err, out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	tail := <-rest // ends when the process closes stderr, at exit
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, tail)
	}
	if !strings.Contains(tail, "shutting down") {
		t.Errorf("no shutdown in the log:\n%s", tail)
	}
}
