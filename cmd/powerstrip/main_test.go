package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/internal/testpki"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
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
		{undefined, 1, undefined + `: config: line 3: endpoint "POST /*/containers/create": "b" is neither an adapter nor an in-process hook`},
		{malformed, 1, `line 4: endpoint "POST /*/containers/create": pre must be a list of adapter names`},
		{filepath.Join(t.TempDir(), "missing.yml"), 1, "missing.yml: no such file or directory; write it, or run with -config none"},
		// The original's users' files: no version:, and an endpoint with
		// empty lists, which is a warning naming its line.
		{writeFile(t, "original.yml", "endpoints:\n  \"POST /*/containers/create\":\n    pre: [a]\n  \"POST /*/containers/*/start\":\n    pre: []\n    post: []\nadapters:\n  a: http://127.0.0.1:1/a\n"),
			0, `: config: line 4: endpoint \"POST /*/containers/*/start\" has no pre or post hooks`},
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

// A missing config file is an error, the default one too: a policy proxy
// whose policy went missing must neither serve nor pass -check. A proxy
// without hooks is asked for with -config none.
func TestMissingConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "adapters.yml")
	for _, args := range [][]string{{"-check", "-config", missing}, {"-config", missing, "-listen", "unix://" + filepath.Join(t.TempDir(), "s")}} {
		var stderr bytes.Buffer
		code := run(args, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "open "+missing+": no such file or directory; write it, or run with -config none") || !strings.Contains(stderr.String(), "-config none") {
			t.Errorf("%v: exit %d, %q; want 1, naming the file and -config none", args, code, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if code := run([]string{"-check", "-config", "none"}, &stderr); code != 0 || !strings.Contains(stderr.String(), "none: ok") {
		t.Errorf("-config none -check: exit %d, %q", code, stderr.String())
	}
}

func TestLogFormatJSON(t *testing.T) {
	var out bytes.Buffer
	logger, err := newLogger(&options{logFormat: "json", verbose: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	logger.Debug("chain step", "adapter", "a")
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil || line["adapter"] != "a" || line["level"] != "DEBUG" {
		t.Errorf("not a JSON log line: %q %v", out.String(), err)
	}
	if _, err := newLogger(&options{logFormat: "xml"}, &out); err == nil {
		t.Error("-log-format xml accepted")
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
	if code := run([]string{"-docker", "ftp://x", "-check", "-config", "none"}, &stderr); code != 1 || !strings.Contains(stderr.String(), "unix://, tcp://, http:// or https://") {
		t.Errorf("bad -docker: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"-request-body-limit", "0", "-check", "-config", "none"}, &stderr); code != 1 || !strings.Contains(stderr.String(), "WithRequestBodyLimit: 0 is not positive") {
		t.Errorf("bad -request-body-limit: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"extra"}, &stderr); code != 2 {
		t.Errorf("extra argument: %d %q", code, stderr.String())
	}
	none := []string{"-config", "none", "-check"}
	stderr.Reset()
	if code := run(append(none, "-docker", "127.0.0.1:2375"), &stderr); code != 0 {
		t.Errorf("-docker HOST:PORT: %d %q", code, stderr.String())
	}
	for _, bad := range [][]string{{"-docker", "127.0.0.1:99999"}, {"-docker", "tcp://localhost:0"}, {"-listen", "127.0.0.1:2375x"}, {"-listen", "tcp://127.0.0.1:70000"}} {
		stderr.Reset()
		if code := run(append(none, bad...), &stderr); code != 1 || !strings.Contains(stderr.String(), "port") {
			t.Errorf("%v passed -check: %d %q", bad, code, stderr.String())
		}
	}
}

// -h describes the command with an example; a bad flag is named once, with
// a one-line hint instead of the whole usage.
func TestUsage(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"-h"}, &stderr); code != 0 || !strings.Contains(stderr.String(), "proxy for the Docker Engine API") ||
		!strings.Contains(stderr.String(), "Example:\n  powerstrip -config adapters.yml") || !strings.Contains(stderr.String(), "-log-format") {
		t.Errorf("-h: exit %d:\n%s", code, stderr.String())
	}
	stderr.Reset()
	code := run([]string{"-lisen", "x"}, &stderr)
	want := "powerstrip: flag provided but not defined: -lisen\nRun powerstrip -h for the flags.\n"
	if code != 2 || stderr.String() != want {
		t.Errorf("a bad flag: exit %d, %q; want 2, %q", code, stderr.String(), want)
	}
}

// -version names the build: the module version go install stamps, else
// the commit go build stamps from the checkout.
func TestVersion(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	cases := []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{nil, "(devel)"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3 go1.26.8"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-11-30T04:55:00Z", "vcs.modified", "true")},
			"commit 0123456789ab 2026-11-30T04:55:00Z +dirty go1.26.8"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261130045500-0123456789ab"},
			Settings: settings("vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-11-30T04:55:00Z")},
			"v0.0.0-20261130045500-0123456789ab go1.26.8"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "(devel) go1.26.8"},
	}
	for _, tc := range cases {
		if got := version(tc.bi); got != tc.want {
			t.Errorf("version(%+v) = %q, want %q", tc.bi, got, tc.want)
		}
	}
	// The test binary is built from this checkout: it names a commit.
	var stderr bytes.Buffer
	run([]string{"-version"}, &stderr)
	if bi, _ := debug.ReadBuildInfo(); bi != nil && strings.Contains(fmt.Sprint(bi.Settings), "vcs.revision") && !strings.Contains(stderr.String(), "commit ") {
		t.Errorf("-version: %q", stderr.String())
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

// e2eDocker returns the test daemon and image; see powerstriptest.RealDaemon.
func e2eDocker(t *testing.T) (daemon, image string) { return powerstriptest.RealDaemon(t) }

// runningBinary is the powerstrip binary running as a user would run it.
type runningBinary struct {
	cmd     *exec.Cmd
	sock    string   // DOCKER_HOST=unix://sock reaches it, unless -listen was given
	startup []string // log lines up to the last "listening"
	lines   chan string
	mu      sync.Mutex
	log     strings.Builder // every line so far
	exited  chan struct{}   // closed when stderr ends, at exit
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// powerstripBinary builds the binary once per test run.
func powerstripBinary(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "powerstrip-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "powerstrip")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// startBinary runs the binary with a config in front of the daemon,
// listening on a unix socket unless extra says -listen, and waits until it
// listens.
func startBinary(t *testing.T, ctx context.Context, daemon, config string, extra ...string) *runningBinary {
	t.Helper()
	b := &runningBinary{sock: filepath.Join(t.TempDir(), "powerstrip.sock"), lines: make(chan string, 1000), exited: make(chan struct{})}
	args := []string{"-config", config, "-docker", daemon}
	listens := 0
	for _, a := range extra {
		if a == "-listen" {
			listens++
		}
	}
	if listens == 0 {
		args, listens = append(args, "-listen", "unix://"+b.sock), 1
	}
	b.cmd = exec.CommandContext(ctx, powerstripBinary(t), append(args, extra...)...)
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(b.exited)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			b.mu.Lock()
			b.log.WriteString(s.Text() + "\n")
			b.mu.Unlock()
			select {
			case b.lines <- s.Text():
			default:
			}
		}
	}()
	for listens > 0 {
		line := b.waitLog(t, "")
		b.startup = append(b.startup, line)
		if strings.Contains(line, "msg=listening") || strings.Contains(line, `"msg":"listening"`) { // text or JSON logs
			listens--
		}
	}
	return b
}

// waitLog returns the next log line containing substr, waiting at most 30s.
func (b *runningBinary) waitLog(t *testing.T, substr string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line := <-b.lines:
			if strings.Contains(line, substr) {
				return line
			}
		case <-b.exited:
			t.Fatalf("the binary exited without logging %q:\n%s", substr, b.logText())
		case <-deadline:
			t.Fatalf("no log line with %q:\n%s", substr, b.logText())
		}
	}
}

func (b *runningBinary) logText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
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

// stop sends SIGTERM and returns the whole log once it exited.
func (b *runningBinary) stop(t *testing.T) string {
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-b.exited // stderr ends at exit; the context bounds the wait
	if err := b.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, b.logText())
	}
	return b.logText()
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

// clis are the docker CLIs on this machine: the 28.x one on PATH and
// Debian's 20.10.
func clis(t *testing.T) []string {
	var out []string
	for _, c := range []string{"/usr/local/bin/docker", "/usr/bin/docker"} {
		if _, err := os.Stat(c); err == nil {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Fatal("no docker CLI")
	}
	return out
}

func runCLI(t *testing.T, ctx context.Context, cli string, env []string, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = append([]string{"DOCKER_CONFIG=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// tlsFront serves the daemon's unix socket over TLS on loopback, requiring
// client certificates: a TLS-protected daemon, as on a remote host.
func tlsFront(t *testing.T, daemon string, pki *testpki.PKI) string {
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pki.Server}, ClientCAs: pki.CAPool, ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				d, err := net.Dial("unix", strings.TrimPrefix(daemon, "unix://"))
				if err != nil {
					return
				}
				defer d.Close()
				go func() {
					io.Copy(d, c)
					d.(*net.UnixConn).CloseWrite()
				}()
				io.Copy(c, d)
			}()
		}
	}()
	return "tcp://" + l.Addr().String()
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// listenedTCP is the address the binary's tcp listener was given by the
// kernel (it listened on port 0), as its start-up log says: a port picked
// before the binary starts can be taken meanwhile by another test.
func listenedTCP(t *testing.T, b *runningBinary) string {
	t.Helper()
	for _, line := range b.startup {
		if _, rest, ok := strings.Cut(line, "addr=tcp://"); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no tcp listener in the start-up log:\n%s", strings.Join(b.startup, "\n"))
	return ""
}

// TLS on both sides, with real certificates: clients must present one
// signed by -tlscacert (dockerd's flags), and Powerstrip reaches a
// TLS-protected daemon with a docker certificate directory.
func TestBinaryTLSBothSides(t *testing.T) {
	daemon, image := e2eDocker(t)
	pki := testpki.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := writeFile(t, "adapters.yml", "version: 1\nendpoints: {}\nadapters: {}\n")
	b := startBinary(t, ctx, tlsFront(t, daemon, pki), cfg,
		"-listen", "tcp://127.0.0.1:0", "-tlsverify", "-tlscacert", pki.CAFile, "-tlscert", pki.ServerCertFile, "-tlskey", pki.ServerKeyFile,
		"-docker-tlsverify", "-docker-cert-path", pki.Dir)
	if !strings.Contains(strings.Join(b.startup, "\n"), "tls=true") {
		t.Errorf("the listener is not logged as TLS:\n%s", strings.Join(b.startup, "\n"))
	}
	host := "DOCKER_HOST=tcp://" + listenedTCP(t, b)
	for _, cli := range clis(t) {
		tlsArgs := []string{"--tlsverify", "--tlscacert", pki.CAFile, "--tlscert", pki.CertFile, "--tlskey", pki.KeyFile}
		out, err := runCLI(t, ctx, cli, []string{host}, nil, append(tlsArgs, "run", "--rm", image, "echo", "over tls")...)
		if err != nil || out != "over tls\n" {
			t.Errorf("%s run: %v %q", cli, err, out)
		}
		out, err = runCLI(t, ctx, cli, []string{host}, strings.NewReader("stdin over tls\n"), append(tlsArgs, "run", "-i", "--rm", image, "cat")...)
		if err != nil || out != "stdin over tls\n" {
			t.Errorf("%s run -i: %v %q", cli, err, out)
		}
		// No client certificate: refused.
		out, err = runCLI(t, ctx, cli, []string{host}, nil, "--tlsverify", "--tlscacert", pki.CAFile, "version")
		if err == nil || !strings.Contains(out, "certificate") {
			t.Errorf("%s without a client certificate: %v %q", cli, err, out)
		}
		// No TLS at all: refused too.
		if out, err = runCLI(t, ctx, cli, []string{host}, nil, "version"); err == nil {
			t.Errorf("%s without TLS: %q", cli, out)
		}
	}
	b.stop(t)
}

// SIGHUP reloads the config: a good one applies to new calls, a bad one is
// refused with a log line and the old one keeps serving.
func TestBinaryReloadOnSIGHUP(t *testing.T) {
	daemon, image := e2eDocker(t)
	injector := func(value string) string {
		return remoteAdapter(t, func(req *powerstrip.HookRequest) *powerstrip.HookResponse {
			var body map[string]any
			if req.ClientRequest.DecodeBody(&body) != nil {
				return nil
			}
			body["Env"] = []string{"VALUE=" + value}
			out := req.ClientRequest
			out.SetBody(body)
			return &powerstrip.HookResponse{ModifiedClientRequest: &out}
		})
	}
	one, two := injector("one"), injector("two")
	config := writeFile(t, "adapters.yml", "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [env]\nadapters:\n  env: "+one+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := startBinary(t, ctx, daemon, config)
	value := func() string {
		out, err := b.docker(t, ctx, "run", "--rm", image, "sh", "-c", "echo $VALUE")
		if err != nil {
			t.Fatalf("run: %v %s", err, out)
		}
		return strings.TrimSpace(out)
	}
	if v := value(); v != "one" {
		t.Fatalf("before reload: %q", v)
	}
	os.WriteFile(config, []byte("version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [env]\nadapters:\n  env: "+two+"\n"), 0o600)
	b.cmd.Process.Signal(syscall.SIGHUP)
	b.waitLog(t, "config reloaded")
	if v := value(); v != "two" {
		t.Errorf("after reload: %q", v)
	}
	os.WriteFile(config, []byte("version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [missing]\nadapters: {}\n"), 0o600)
	b.cmd.Process.Signal(syscall.SIGHUP)
	if line := b.waitLog(t, "config not reloaded"); !strings.Contains(line, `\"missing\" is neither an adapter nor an in-process hook`) {
		t.Errorf("refusal line: %s", line)
	}
	if v := value(); v != "two" {
		t.Errorf("after a refused reload: %q", v)
	}
	b.stop(t)
}

// SIGTERM lets calls in flight finish up to -shutdown-timeout, then closes
// the streams left, and the binary exits.
func TestBinaryGracefulShutdown(t *testing.T) {
	daemon, image := e2eDocker(t)
	cfg := writeFile(t, "adapters.yml", "version: 1\nendpoints: {}\nadapters: {}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := startBinary(t, ctx, daemon, cfg, "-shutdown-timeout", "1s")
	cmd := exec.CommandContext(ctx, "docker", "run", "-i", "--rm", image, "cat")
	cmd.Env = []string{"DOCKER_HOST=unix://" + b.sock, "DOCKER_CONFIG=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "attached\n")
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "attached\n" {
		t.Fatalf("attach: %q %v", line, err)
	}
	log := b.stop(t)
	for _, want := range []string{"shutting down", "streams still open at the deadline were closed", "msg=stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	stdin.Close()
	cmd.Wait() // the CLI ends: its stream was closed
}

func TestExposureWarning(t *testing.T) {
	all, err := net.Listen("tcp", "0.0.0.0:0") // bound, never connected to
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	loop, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	if exposure(all, nil) == "" || exposure(loop, nil) != "" || exposure(all, &tls.Config{}) != "" {
		t.Error("the warning is not given exactly for a non-loopback listener without TLS")
	}
}

// -listen may be repeated: the same proxy answers on every address.
func TestBinaryListensOnSeveralAddresses(t *testing.T) {
	daemon, _ := e2eDocker(t)
	cfg := writeFile(t, "adapters.yml", "version: 1\nendpoints: {}\nadapters: {}\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sock := filepath.Join(t.TempDir(), "a.sock")
	b := startBinary(t, ctx, daemon, cfg, "-listen", "unix://"+sock, "-listen", "tcp://127.0.0.1:0")
	tcp := listenedTCP(t, b)
	for _, host := range []string{"unix://" + sock, "tcp://" + tcp} {
		out, err := runCLI(t, ctx, "docker", []string{"DOCKER_HOST=" + host}, nil, "version", "--format", "{{.Server.Os}}")
		if err != nil || out != "linux\n" {
			t.Errorf("%s: %v %q", host, err, out)
		}
	}
	b.stop(t)
}

// What a docker user sees when things break behind the binary: an adapter
// that never answers (504 after its timeout, the container not created), a
// broken adapter ignored by its failure policy, and a daemon that is gone
// (502); and with -verbose -log-format json, one trace line per chain step.
func TestBinaryFailuresAsTheCLIShowsThem(t *testing.T) {
	daemon, image := e2eDocker(t)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	}))
	defer hang.Close()
	inject := remoteAdapter(t, func(req *powerstrip.HookRequest) *powerstrip.HookResponse {
		var body map[string]any
		if req.ClientRequest.DecodeBody(&body) != nil {
			return nil
		}
		body["Env"] = []string{"TRACED=yes"}
		out := req.ClientRequest
		out.SetBody(body)
		return &powerstrip.HookResponse{ModifiedClientRequest: &out}
	})
	cfg := writeFile(t, "adapters.yml", `version: 1
endpoints:
  "POST /*/containers/create":
    pre: [broken, inject]
  "POST /*/volumes/create":
    pre: [slow]
adapters:
  slow:
    url: `+hang.URL+`
    timeout: 300ms
  broken:
    url: http://127.0.0.1:1/
    failurePolicy: ignore
  inject: `+inject+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := startBinary(t, ctx, daemon, cfg, "-verbose", "-log-format", "json")
	out, err := b.docker(t, ctx, "volume", "create", "powerstrip-never-made")
	if err == nil || !strings.Contains(out, `adapter "slow" (pre-hook) failed: no answer within 300ms`) {
		t.Errorf("a hanging adapter: %v %q", err, out)
	}
	if out, err := runCLI(t, ctx, "docker", []string{"DOCKER_HOST=" + daemon}, nil, "volume", "inspect", "powerstrip-never-made"); err == nil {
		t.Errorf("the volume was created: %s", out)
	}
	if out, err := b.docker(t, ctx, "run", "--rm", image, "sh", "-c", "echo $TRACED"); err != nil || out != "yes\n" {
		t.Errorf("run past an ignored broken adapter: %v %q", err, out)
	}
	log := b.stop(t)
	var step map[string]any
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"msg":"chain step"`) && strings.Contains(line, `"adapter":"inject"`) {
			json.Unmarshal([]byte(line), &step)
		}
	}
	if step["type"] != "pre-hook" || step["status"] != "ok" || step["keys_changed"] != "Env" || step["duration"] == nil {
		t.Errorf("no JSON trace of the inject step:\n%s", log)
	}
	if !strings.Contains(log, `going on unchanged (failurePolicy: ignore)`) {
		t.Errorf("the ignored failure is not logged:\n%s", log)
	}

	// The daemon gone: a 502 the CLI prints.
	gone := startBinary(t, ctx, "unix://"+filepath.Join(t.TempDir(), "no-daemon.sock"), cfg)
	out, err = gone.docker(t, ctx, "ps")
	if err == nil || !strings.Contains(out, "powerstrip: the Docker daemon at unix://") || !strings.Contains(out, "did not answer") {
		t.Errorf("a vanished daemon: %v %q", err, out)
	}
	gone.stop(t)
}
