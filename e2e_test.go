package powerstrip_test

// End-to-end tests: the real docker CLIs (the machine's 28.x and Debian's
// 20.10) through a Proxy in front of a real daemon. scripts/test.sh starts
// the daemon and imports the image; POWERSTRIP_E2E=required turns a missing
// daemon into a failure instead of a skip.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
)

// e2eEnv is the daemon and image scripts/test.sh prepared.
type e2eEnv struct {
	daemon string // DOCKER_HOST of the real daemon
	image  string
	clis   []string
}

func needDocker(t *testing.T) *e2eEnv {
	t.Helper()
	env := &e2eEnv{daemon: os.Getenv("POWERSTRIP_TEST_DOCKER"), image: os.Getenv("POWERSTRIP_TEST_IMAGE")}
	for _, cli := range []string{"/usr/local/bin/docker", "/usr/bin/docker"} {
		if _, err := os.Stat(cli); err == nil {
			env.clis = append(env.clis, cli)
		}
	}
	missing := ""
	switch {
	case env.daemon == "" || env.image == "":
		missing = "POWERSTRIP_TEST_DOCKER and POWERSTRIP_TEST_IMAGE are not set (run scripts/test.sh)"
	case len(env.clis) < 2 && os.Getenv("POWERSTRIP_E2E") == "required":
		missing = fmt.Sprintf("want both docker CLIs, found %v", env.clis)
	case len(env.clis) == 0:
		missing = "no docker CLI"
	}
	if missing != "" {
		if os.Getenv("POWERSTRIP_E2E") == "required" {
			t.Fatal("end-to-end tests are required: " + missing)
		}
		t.Skip(missing)
	}
	return env
}

// proxy serves a Proxy for cfg in front of the test daemon on loopback and
// returns its DOCKER_HOST.
func (e *e2eEnv) proxy(t *testing.T, cfg *powerstrip.Config, opts ...powerstrip.Option) string {
	t.Helper()
	p, err := powerstrip.New(cfg, append([]powerstrip.Option{powerstrip.WithUpstream(e.daemon)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, p)
}

// serve serves p as the binary does, with Serve, on loopback, and returns
// its DOCKER_HOST.
func serve(t *testing.T, p *powerstrip.Proxy) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ConnContext: powerstrip.ConnContext}
	served := make(chan error, 1)
	go func() { served <- p.Serve(srv, l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close()
		p.Shutdown(ctx) //nolint:errcheck // what is left is closed
		<-served
	})
	return "tcp://" + l.Addr().String()
}

type cliResult struct {
	stdout, stderr string
	err            error
}

// docker runs a docker CLI against host, bounded in time.
func (e *e2eEnv) docker(t *testing.T, cli, host string, stdin io.Reader, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = cliEnv(t, host)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return cliResult{stdout.String(), stderr.String(), err}
}

func cliEnv(t *testing.T, host string) []string {
	return []string{
		"DOCKER_HOST=" + host,
		"DOCKER_CONFIG=" + t.TempDir(), // no user config, no credential helpers
		"DOCKER_BUILDKIT=0",            // the classic builder: no buildx plugin here
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
	}
}

// must runs a docker CLI and fails the test if it fails.
func (e *e2eEnv) must(t *testing.T, cli, host string, args ...string) string {
	t.Helper()
	r := e.docker(t, cli, host, nil, args...)
	if r.err != nil {
		t.Fatalf("docker %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// eachCLI runs f as a subtest per docker CLI.
func (e *e2eEnv) eachCLI(t *testing.T, f func(t *testing.T, cli string)) {
	for _, cli := range e.clis {
		name := "cli-" + strings.ReplaceAll(strings.Trim(filepath.Dir(cli), "/"), "/", "-")
		t.Run(name, func(t *testing.T) { f(t, cli) })
	}
}

func (e *e2eEnv) removeLater(t *testing.T, nameOrID string) {
	t.Cleanup(func() {
		e.docker(t, e.clis[0], e.daemon, nil, "rm", "-f", nameOrID)
	})
}

func uniqueName(t *testing.T) string {
	r := strings.NewReplacer("/", "-", "_", "-")
	return strings.ToLower(r.Replace(t.Name())) + fmt.Sprint("-", time.Now().UnixNano()%1e9)
}

func TestE2ERunThroughTransparentProxy(t *testing.T) {
	e := needDocker(t)
	host := e.proxy(t, nil)
	e.eachCLI(t, func(t *testing.T, cli string) {
		if out := e.must(t, cli, host, "run", "--rm", e.image, "echo", "hello from docker"); out != "hello from docker\n" {
			t.Errorf("run printed %q", out)
		}
		r := e.docker(t, cli, host, strings.NewReader("line one\nline two\n"), "run", "-i", "--rm", e.image, "cat")
		if r.err != nil || r.stdout != "line one\nline two\n" {
			t.Errorf("run -i: %v, stdout %q, stderr %q", r.err, r.stdout, r.stderr)
		}
		// exec -i: stdin's end reaches the process, which then exits.
		id := strings.TrimSpace(e.must(t, cli, host, "run", "-d", e.image, "sleep", "60"))
		e.removeLater(t, id)
		r = e.docker(t, cli, host, strings.NewReader("to exec\n"), "exec", "-i", id, "sh", "-c", "cat; echo done")
		if r.err != nil || r.stdout != "to exec\ndone\n" {
			t.Errorf("exec -i: %v, stdout %q, stderr %q", r.err, r.stdout, r.stderr)
		}
		// The exit code travels back through the wait call.
		r = e.docker(t, cli, host, nil, "run", "--rm", e.image, "sh", "-c", "exit 7")
		if ee, ok := r.err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
			t.Errorf("exit code: %v (stderr %q)", r.err, r.stderr)
		}
	})
}

// logs -f shows lines while the container runs, and ends when it goes.
func TestE2ELogsFollow(t *testing.T) {
	e := needDocker(t)
	host := e.proxy(t, nil)
	e.eachCLI(t, func(t *testing.T, cli string) {
		id := strings.TrimSpace(e.must(t, cli, host, "run", "-d", e.image, "sh", "-c", "echo first; exec sleep 60"))
		e.removeLater(t, id)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, "logs", "-f", id)
		cmd.Env = cliEnv(t, host)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			lines <- line
		}()
		start := time.Now()
		select {
		case line := <-lines:
			if line != "first\n" {
				t.Errorf("first line %q", line)
			}
		case <-ctx.Done():
			t.Fatal("logs -f showed nothing")
		}
		t.Logf("first line after %v", time.Since(start))
		if running := strings.TrimSpace(e.must(t, cli, e.daemon, "inspect", "-f", "{{.State.Running}}", id)); running != "true" {
			t.Fatalf("the container is not running any more (%s): the line was not streamed", running)
		}
		e.must(t, cli, host, "rm", "-f", id)
		if err := cmd.Wait(); err != nil && ctx.Err() != nil {
			t.Fatalf("logs -f did not end with its container: %v", err)
		}
	})
}

// hookServer serves fn as a remote adapter over loopback HTTP.
func hookServer(t *testing.T, fn func(req *powerstrip.HookRequest) (status int, reply any)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req powerstrip.HookRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		status, reply := fn(&req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(reply)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/adapter"
}

// adapterOnCreate serves fn as a remote adapter, hooked as phase ("pre"
// or "post") on containers/create, and returns the DOCKER_HOST of a proxy
// configured from YAML as a user would write it.
func (e *e2eEnv) adapterOnCreate(t *testing.T, phase string, fn func(req *powerstrip.HookRequest) (int, any)) string {
	t.Helper()
	cfg, err := powerstrip.ParseConfig([]byte(fmt.Sprintf(
		"version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    %s: [adapter]\nadapters:\n  adapter: %s\n", phase, hookServer(t, fn))))
	if err != nil {
		t.Fatal(err)
	}
	return e.proxy(t, cfg)
}

// The classic Powerstrip use: a remote pre-hook injects an environment
// variable into containers/create, and the container prints it.
func TestE2EPreHookInjectsEnv(t *testing.T) {
	e := needDocker(t)
	var mu sync.Mutex
	var seen []string
	host := e.adapterOnCreate(t, "pre", func(req *powerstrip.HookRequest) (int, any) {
		mu.Lock()
		seen = append(seen, req.ClientRequest.Request)
		mu.Unlock()
		var body map[string]any
		if err := req.ClientRequest.DecodeBody(&body); err != nil {
			return 400, map[string]string{"message": err.Error()}
		}
		env, _ := body["Env"].([]any)
		body["Env"] = append(env, "INJECTED=by-powerstrip")
		out := req.ClientRequest
		if err := out.SetBody(body); err != nil {
			return 500, nil
		}
		return 200, powerstrip.HookResponse{PowerstripProtocolVersion: 1, ModifiedClientRequest: &out}
	})
	e.eachCLI(t, func(t *testing.T, cli string) {
		out := e.must(t, cli, host, "run", "--rm", "-e", "OWN=kept", e.image, "sh", "-c", `echo "$OWN $INJECTED"`)
		if out != "kept by-powerstrip\n" {
			t.Errorf("the container printed %q", out)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(e.clis) {
		t.Errorf("the adapter saw %v", seen)
	}
}

// A post-hook rewrites Docker's answer to containers/create; the CLI shows
// the rewritten answer.
func TestE2EPostHookRewritesCreate(t *testing.T) {
	e := needDocker(t)
	host := e.adapterOnCreate(t, "post", func(req *powerstrip.HookRequest) (int, any) {
		sr := *req.ServerResponse
		var body map[string]any
		if err := sr.DecodeBody(&body); err != nil || sr.Code != 201 {
			return 200, nil // unchanged
		}
		body["Warnings"] = []string{"registered by powerstrip"}
		if err := sr.SetBody(body); err != nil {
			return 500, nil
		}
		return 200, powerstrip.HookResponse{PowerstripProtocolVersion: 1, ModifiedServerResponse: &sr}
	})
	e.eachCLI(t, func(t *testing.T, cli string) {
		name := uniqueName(t)
		e.removeLater(t, name)
		r := e.docker(t, cli, host, nil, "create", "--name", name, e.image, "true")
		if r.err != nil || !strings.Contains(r.stderr, "WARNING: registered by powerstrip") {
			t.Errorf("create: %v, stdout %q, stderr %q", r.err, r.stdout, r.stderr)
		}
		// The rest of the answer is Docker's own: the id is real.
		id := strings.TrimSpace(r.stdout)
		if got := strings.TrimSpace(e.must(t, cli, e.daemon, "inspect", "-f", "{{.Id}}", name)); got != id {
			t.Errorf("create printed %q, the daemon has %q", id, got)
		}
	})
}

// A pre-hook that rejects with 403: the CLI prints the adapter's message,
// and Docker never saw the call.
func TestE2EPreHookRejects(t *testing.T) {
	e := needDocker(t)
	host := e.adapterOnCreate(t, "pre", func(req *powerstrip.HookRequest) (int, any) {
		var body struct{ HostConfig struct{ Privileged bool } }
		if err := req.ClientRequest.DecodeBody(&body); err == nil && body.HostConfig.Privileged {
			return 403, map[string]string{"message": "policy: privileged containers are not allowed"}
		}
		return 200, powerstrip.HookResponse{PowerstripProtocolVersion: 1}
	})
	e.eachCLI(t, func(t *testing.T, cli string) {
		name := uniqueName(t)
		e.removeLater(t, name)
		r := e.docker(t, cli, host, nil, "run", "--privileged", "--name", name, e.image, "true")
		if r.err == nil || !strings.Contains(r.stderr, "policy: privileged containers are not allowed") {
			t.Errorf("run --privileged: %v, stderr %q", r.err, r.stderr)
		}
		if r := e.docker(t, cli, e.daemon, nil, "inspect", name); r.err == nil {
			t.Errorf("the rejected container exists: %s", r.stdout)
		}
		// The same adapter lets an ordinary container through.
		if out := e.must(t, cli, host, "run", "--rm", e.image, "echo", "allowed"); out != "allowed\n" {
			t.Errorf("run printed %q", out)
		}
	})
}

// Docker's error (an unknown image) still goes through the post-hook, which
// sees the error and may reword it.
func TestE2EDockerErrorThroughPostHook(t *testing.T) {
	e := needDocker(t)
	var mu sync.Mutex
	var codes []int
	host := e.adapterOnCreate(t, "post", func(req *powerstrip.HookRequest) (int, any) {
		sr := *req.ServerResponse
		mu.Lock()
		codes = append(codes, sr.Code)
		mu.Unlock()
		var body struct{ Message string }
		if sr.Code < 400 || sr.DecodeBody(&body) != nil {
			return 200, powerstrip.HookResponse{PowerstripProtocolVersion: 1}
		}
		if err := sr.SetBody(map[string]string{"message": body.Message + " (seen by the post-hook)"}); err != nil {
			return 500, nil
		}
		return 200, powerstrip.HookResponse{PowerstripProtocolVersion: 1, ModifiedServerResponse: &sr}
	})
	e.eachCLI(t, func(t *testing.T, cli string) {
		r := e.docker(t, cli, host, nil, "run", "--pull=never", "--rm", "powerstrip-no-such-image:latest", "true")
		if r.err == nil || !strings.Contains(r.stderr, "No such image: powerstrip-no-such-image:latest (seen by the post-hook)") {
			t.Errorf("run: %v, stderr %q", r.err, r.stderr)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if len(codes) != len(e.clis) || codes[0] != 404 {
		t.Errorf("post-hook saw codes %v", codes)
	}
}

// An in-process Go hook through the library API: same chain, same effect.
func TestE2EInProcessHook(t *testing.T) {
	e := needDocker(t)
	cfg := &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{
		{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"label"}},
	}}
	label := powerstrip.HookFunc(func(ctx context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		var body map[string]any
		if err := req.ClientRequest.DecodeBody(&body); err != nil {
			return nil, err
		}
		body["Env"] = append(asList(body["Env"]), "FROM_GO=in-process")
		out := req.ClientRequest
		if err := out.SetBody(body); err != nil {
			return nil, err
		}
		return &powerstrip.HookResponse{ModifiedClientRequest: &out}, nil
	})
	host := e.proxy(t, cfg, powerstrip.WithHook("label", label))
	e.eachCLI(t, func(t *testing.T, cli string) {
		if out := e.must(t, cli, host, "run", "--rm", e.image, "sh", "-c", "echo $FROM_GO"); out != "in-process\n" {
			t.Errorf("the container printed %q", out)
		}
	})
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// docker build streams its context past a pre-hook on /build, which sees
// the call with a null Body.
func TestE2EBuild(t *testing.T) {
	e := needDocker(t)
	var mu sync.Mutex
	var seen []powerstrip.ClientRequest
	cfg := &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{{Method: "POST", Pattern: "/*/build", Pre: []string{"watch"}}}}
	watch := powerstrip.HookFunc(func(ctx context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		mu.Lock()
		seen = append(seen, req.ClientRequest)
		mu.Unlock()
		return nil, nil
	})
	host := e.proxy(t, cfg, powerstrip.WithHook("watch", watch))
	dir := t.TempDir()
	dockerfile := fmt.Sprintf("FROM %s\nCOPY payload.bin /payload.bin\nRUN echo built > /built.txt\nCMD [\"cat\", \"/built.txt\"]\n", e.image)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "payload.bin"), bytes.Repeat([]byte("powerstrip\x00"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	e.eachCLI(t, func(t *testing.T, cli string) {
		tag := "powerstrip-e2e-build:" + strings.ToLower(strings.ReplaceAll(filepath.Base(t.Name()), "_", "-"))
		t.Cleanup(func() { e.docker(t, cli, e.daemon, nil, "rmi", "-f", tag) })
		r := e.docker(t, cli, host, nil, "build", "-t", tag, dir)
		if r.err != nil || !strings.Contains(r.stdout, "Successfully tagged "+tag) {
			t.Fatalf("build: %v\nstdout %s\nstderr %s", r.err, r.stdout, r.stderr)
		}
		if out := e.must(t, cli, host, "run", "--rm", tag); out != "built\n" {
			t.Errorf("the built image printed %q", out)
		}
		if out := e.must(t, cli, host, "run", "--rm", tag, "wc", "-c", "/payload.bin"); !strings.Contains(out, fmt.Sprint(11<<20)) {
			t.Errorf("the context arrived as %q bytes", out)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(e.clis) {
		t.Fatalf("the hook saw %d builds", len(seen))
	}
	for _, req := range seen {
		if req.Method != "POST" || !strings.Contains(req.Request, "/build?") || req.Body != nil {
			t.Errorf("the hook saw %+v", req)
		}
	}
}

// rawCall sends a request line exactly as written, which net/http's client
// would normalise, and returns the status.
func rawCall(t *testing.T, host, method, path, body string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(host, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		method, path, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// No spelling of a path that Docker routes to a hooked endpoint reaches it
// unhooked: each is hooked, and Docker gets the canonical call.
func TestE2ENoBypassBySpelling(t *testing.T) {
	e := needDocker(t)
	spellings := []struct{ method, path string }{
		{"POST", "/v1.41/containers/create"},
		{"POST", "/containers/create"},           // no version
		{"POST", "/v1.41/containers/%63reate"},   // percent-encoded
		{"POST", "/v1.41/%63ontainers%2Fcreate"}, // an encoded slash
		{"POST", "/v1.41//containers/create"},    // //
		{"POST", "/v1.41/./containers/create"},   // /./
		{"POST", "/v1.41/images/../containers/create"},
		{"POST", "/v1.41/containers/create/"}, // trailing slash
		{"post", "/v1.41/containers/create"},  // method case
		{"Post", "//containers/./create/"},
	}
	body := `{"Image":"` + e.image + `","Cmd":["true"],"Labels":{"powerstrip.test":"bypass"}}`

	deny := &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"deny"}}}}
	host := e.proxy(t, deny, powerstrip.WithHook("deny", powerstrip.HookFunc(func(context.Context, *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		return nil, powerstrip.Reject(403, "denied")
	})))
	for _, s := range spellings {
		if code := rawCall(t, host, s.method, s.path, body); code != 403 {
			t.Errorf("%s %s: %d, not the hook's 403", s.method, s.path, code)
		}
	}
	if out := e.must(t, e.clis[0], e.daemon, "ps", "-aq", "--filter", "label=powerstrip.test=bypass"); out != "" {
		t.Fatalf("containers were created past the hook: %s", out)
	}

	var mu sync.Mutex
	var seen []string
	allow := &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"seen"}}}}
	host = e.proxy(t, allow, powerstrip.WithHook("seen", powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		mu.Lock()
		seen = append(seen, req.ClientRequest.Method+" "+req.ClientRequest.Request)
		mu.Unlock()
		return nil, nil
	})))
	t.Cleanup(func() {
		ids := strings.Fields(e.must(t, e.clis[0], e.daemon, "ps", "-aq", "--filter", "label=powerstrip.test=bypass"))
		if len(ids) > 0 {
			e.must(t, e.clis[0], e.daemon, append([]string{"rm", "-f"}, ids...)...)
		}
	})
	for _, s := range spellings {
		if code := rawCall(t, host, s.method, s.path, body); code != 201 {
			t.Errorf("%s %s: %d; Docker should create it from the canonical call", s.method, s.path, code)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, got := range seen {
		if got != "POST /v1.41/containers/create" && got != "POST /containers/create" {
			t.Errorf("spelling %d reached the hook as %q", i, got)
		}
	}
	if len(seen) != len(spellings) {
		t.Errorf("the hook saw %d of %d calls", len(seen), len(spellings))
	}
}
