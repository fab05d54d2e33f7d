package powerstrip_test

// HTTP regression tests against the real daemon: each sends the exact bytes
// of a defect through a proxy served with Proxy.Serve (the lean path in
// front, net/http behind), and, where it helps, the same bytes straight to
// the daemon first, so the test shows the ground truth it compares with.
// A recording tap between the proxy and the daemon shows what Docker
// actually executed.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// serveOn serves a Proxy for cfg in front of upstream, with Serve, on
// loopback TCP, and returns its DOCKER_HOST.
func serveOn(t *testing.T, upstream string, cfg *powerstrip.Config, opts ...powerstrip.Option) string {
	t.Helper()
	p, err := powerstrip.New(cfg, append([]powerstrip.Option{powerstrip.WithUpstream(upstream)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, p)
}

// dialHost connects to a DOCKER_HOST (tcp:// or unix://), with a deadline
// for the whole conversation.
func dialHost(t *testing.T, host string) net.Conn {
	t.Helper()
	network, address := "tcp", strings.TrimPrefix(host, "tcp://")
	if strings.HasPrefix(host, "unix://") {
		network, address = "unix", strings.TrimPrefix(host, "unix://")
	}
	conn, err := net.DialTimeout(network, address, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(time.Minute))
	return conn
}

// readAnswer reads one answer to a call of method, body included.
func readAnswer(br *bufio.Reader, method string) (status int, body string, err error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func pre(method, pattern string, hooks ...string) *powerstrip.Config {
	return &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{{Method: method, Pattern: pattern, Pre: hooks}}}
}

func deny(context.Context, *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
	return nil, powerstrip.Reject(403, "denied by the test")
}

// ---------------------------------------------------------------------------
// A. Hooks see what Docker executes.

// With a catch-all pre-hook chain, every call that reaches the daemon (as
// the tap records it) is exactly what the last pre-hook left: method, path,
// query and body, byte for byte, and nothing reaches it unhooked.
func TestE2EHTTPHooksSeeWhatDockerExecutes(t *testing.T) {
	e := needDocker(t)
	tap := powerstriptest.NewTap(t, e.daemon)

	var mu sync.Mutex
	var left []powerstrip.ClientRequest
	// label changes create's body, as a policy would.
	label := powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		var body map[string]any
		if req.ClientRequest.DecodeBody(&body) != nil || body["Image"] == nil {
			return nil, nil
		}
		labels, _ := body["Labels"].(map[string]any)
		if labels == nil {
			labels = map[string]any{}
		}
		labels["powerstrip.e2e"] = "tap"
		body["Labels"] = labels
		out := req.ClientRequest
		if err := out.SetBody(body); err != nil {
			return nil, err
		}
		return &powerstrip.HookResponse{ModifiedClientRequest: &out}, nil
	})
	// last re-encodes any JSON body (other bytes, same meaning) and records
	// the call it hands on.
	last := powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		out := req.ClientRequest
		var v any
		if out.Body != nil && json.Unmarshal([]byte(*out.Body), &v) == nil {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			s := string(b) + "\n"
			out.Body = &s
		}
		mu.Lock()
		left = append(left, out)
		mu.Unlock()
		return &powerstrip.HookResponse{ModifiedClientRequest: &out}, nil
	})
	host := serveOn(t, tap.Addr(), pre("*", "/**", "label", "last"),
		powerstrip.WithHook("label", label), powerstrip.WithHook("last", last))

	cli := e.clis[0] // the 28.x CLI
	name := uniqueName(t)
	e.removeLater(t, name)
	t.Cleanup(func() {
		ids := strings.Fields(e.must(t, cli, e.daemon, "ps", "-aq", "--filter", "label=powerstrip.e2e=tap"))
		if len(ids) > 0 {
			e.must(t, cli, e.daemon, append([]string{"rm", "-f"}, ids...)...)
		}
	})
	e.must(t, cli, host, "create", "--name", name, e.image, "true")
	// The CLI writes create's head and body separately at times: the name
	// must survive that.
	if r := e.docker(t, cli, e.daemon, nil, "inspect", "-f", "{{.Name}}", name); r.err != nil {
		t.Errorf("docker create --name %s through the proxy made no container of that name: %s", name, r.stderr)
	} else {
		e.must(t, cli, host, "rm", name)
	}
	if out := e.must(t, cli, host, "run", "--rm", e.image, "echo", "through the tap"); out != "through the tap\n" {
		t.Errorf("run printed %q", out)
	}

	// Raw calls, spelled as a client may.
	raw := name + "-raw"
	e.removeLater(t, raw)
	createBody := `{"Image":"` + e.image + `","Cmd":["true"],"Env":["A=1"]}`
	for _, c := range []struct{ method, target, body string }{
		{"POST", "/v1.41/containers/create?name=" + raw, createBody},
		{"GET", "//v1.41/containers/./" + raw + "/json", ""},
		{"GET", "/v1.41/containers/json?all=1&filters=%7B%22name%22%3A%5B%22" + raw + "%22%5D%7D", ""},
		{"DELETE", "/v1.41/containers/" + raw + "?force=1", ""},
	} {
		if code := rawCall(t, host, c.method, c.target, c.body); code >= 300 {
			t.Errorf("%s %s: %d", c.method, c.target, code)
		}
	}

	// What the daemon got against what the last hook left, as multisets:
	// the CLI makes some calls in parallel.
	got := tap.Calls()
	mu.Lock()
	want := append([]powerstrip.ClientRequest(nil), left...)
	mu.Unlock()
	key := func(method, request, body string) string { return method + " " + request + "\n" + body }
	unmatched := map[string]int{}
	for _, c := range got {
		request := c.Path
		if c.Query != "" {
			request += "?" + c.Query
		}
		unmatched[key(c.Method, request, string(c.Body))]++
	}
	for _, w := range want {
		k := key(w.Method, w.Request, powerstrip.BodyText(w.Body))
		if unmatched[k] == 0 {
			t.Errorf("the last pre-hook left a call the daemon did not get as such:\n%s", k)
			continue
		}
		unmatched[k]--
	}
	for k, n := range unmatched {
		if n > 0 {
			t.Errorf("the daemon got %d call(s) no pre-hook left as such:\n%s", n, k)
		}
	}
	creates := 0
	for _, w := range want {
		if strings.HasSuffix(strings.Split(w.Request, "?")[0], "/containers/create") {
			creates++
			if !strings.Contains(powerstrip.BodyText(w.Body), `"powerstrip.e2e":"tap"`) {
				t.Errorf("a create without the label: %s", powerstrip.BodyText(w.Body))
			}
		}
	}
	if creates != 3 || len(want) < 10 {
		t.Errorf("the hooks saw %d creates in %d calls", creates, len(want))
	}
	named := false
	for _, w := range want {
		named = named || (w.Method == "POST" && w.Request == "/v1.41/containers/create?name="+name)
	}
	if !named {
		t.Errorf("no pre-hook saw POST /v1.41/containers/create?name=%s", name)
	}
	t.Logf("%d calls, hooked and executed alike", len(want))
}

// ---------------------------------------------------------------------------
// B1. Expect: 100-continue.

// expectCall sends POST path with Expect: 100-continue, waits (bounded) for
// the interim 100 before sending the body, and returns the final answer.
func expectCall(t *testing.T, host, path, body string) (status int, answer string) {
	t.Helper()
	conn := dialHost(t, host)
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", path, len(body))
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout() && br.Buffered() == 0:
		// No 100 within the bound: a client then sends the body anyway.
		t.Logf("%s: no 100 Continue within 5s", host)
	case err != nil:
		t.Fatalf("%s: waiting for 100 Continue: %v", host, err)
	case resp.StatusCode != http.StatusContinue:
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b) // a final answer instead: the body is not sent
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	for {
		status, answer, err := readAnswer(br, "POST")
		if err != nil {
			t.Fatalf("%s: the final answer: %v", host, err)
		}
		if status/100 != 1 {
			return status, answer
		}
		t.Logf("%s: another interim answer %d", host, status)
	}
}

// A call with Expect: 100-continue gets Docker's final answer, the
// post-hook sees that answer and not the interim 100, and nothing of it is
// left for the next client.
func TestE2EHTTPExpectContinue(t *testing.T) {
	e := needDocker(t)
	name := uniqueName(t)
	e.removeLater(t, name)
	e.must(t, e.clis[0], e.daemon, "create", "--name", name, e.image, "true")
	path := "/v1.41/containers/" + name + "/update"
	const body = `{"Memory":1}`
	const message = "Minimum memory limit allowed is 6MB"

	status, answer := expectCall(t, e.daemon, path, body)
	if status != 400 || !strings.Contains(answer, message) {
		t.Fatalf("ground truth changed: the daemon answers %d %q", status, answer)
	}

	var mu sync.Mutex
	var seen []powerstrip.ServerResponse
	record := powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		mu.Lock()
		seen = append(seen, *req.ServerResponse)
		mu.Unlock()
		return nil, nil
	})
	hooked := &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{
		{Method: "POST", Pattern: "/**/containers/*/update", Post: []string{"record"}},
	}}
	for _, c := range []struct {
		name string
		host string
	}{
		{"hooked", serveOn(t, e.daemon, hooked, powerstrip.WithHook("record", record))},
		{"unhooked", serveOn(t, e.daemon, nil)},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, answer := expectCall(t, c.host, path, body)
			if status != 400 || !strings.Contains(answer, message) {
				t.Errorf("through the proxy: %d %q; direct: 400 %q", status, answer, message)
			}
			// New clients, new connections: each gets its own answer.
			for i := 0; i < 3; i++ {
				conn := dialHost(t, c.host)
				io.WriteString(conn, "GET /v1.41/version HTTP/1.1\r\nHost: docker\r\n\r\n")
				status, answer, err := readAnswer(bufio.NewReader(conn), "GET")
				conn.Close()
				if err != nil || status != 200 || !strings.Contains(answer, `"ApiVersion"`) {
					t.Errorf("GET /version after it: %d %q %v", status, answer, err)
				}
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0].Code != 400 || !strings.Contains(powerstrip.BodyText(seen[0].Body), message) {
		t.Errorf("the post-hook saw %+v, not Docker's 400", seen)
		for _, s := range seen {
			t.Logf("  Code %d Body %q", s.Code, powerstrip.BodyText(s.Body))
		}
	}
}

// docker update --memory 1 through the proxy prints what it prints direct.
func TestE2EHTTPUpdateCLI(t *testing.T) {
	e := needDocker(t)
	cli := e.clis[0] // the 28.x CLI
	name := uniqueName(t)
	e.removeLater(t, name)
	e.must(t, cli, e.daemon, "create", "--name", name, e.image, "true")
	direct := e.docker(t, cli, e.daemon, nil, "update", "--memory", "1", name)
	if direct.err == nil || !strings.Contains(direct.stderr, "Minimum memory limit allowed is 6MB") {
		t.Fatalf("ground truth changed: %v %q %q", direct.err, direct.stdout, direct.stderr)
	}
	record := powerstrip.HookFunc(func(context.Context, *powerstrip.HookRequest) (*powerstrip.HookResponse, error) { return nil, nil })
	hooked := &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{
		{Method: "POST", Pattern: "/**/containers/*/update", Post: []string{"record"}},
	}}
	for _, c := range []struct{ name, host string }{
		{"hooked", serveOn(t, e.daemon, hooked, powerstrip.WithHook("record", record))},
		{"unhooked", serveOn(t, e.daemon, nil)},
	} {
		r := e.docker(t, cli, c.host, nil, "update", "--memory", "1", name)
		if (r.err == nil) != (direct.err == nil) || r.stdout != direct.stdout || r.stderr != direct.stderr {
			t.Errorf("%s: through the proxy: %v stdout %q stderr %q\ndirect: %v stdout %q stderr %q",
				c.name, r.err, r.stdout, r.stderr, direct.err, direct.stdout, direct.stderr)
		}
		if out := e.must(t, cli, c.host, "version", "--format", "{{.Server.APIVersion}}"); out != "1.41\n" {
			t.Errorf("%s: docker version after it printed %q", c.name, out)
		}
	}
}

// ---------------------------------------------------------------------------
// B2. The query when the body comes in a later write than the head.

// unreadTCP is how many bytes the local socket from port to peer holds
// that its owner has not read yet (rx_queue in /proc/net/tcp).
func unreadTCP(t *testing.T, port, peer int) (n int, found bool) {
	t.Helper()
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("0100007F:%04X 0100007F:%04X", port, peer)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || f[1]+" "+f[2] != want {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		v, err := strconv.ParseInt(rx, 16, 64)
		if err != nil {
			t.Fatalf("/proc/net/tcp: %q", line)
		}
		return int(v), true
	}
	return 0, false
}

// splitWrite sends head, waits (bounded) until the proxy, in this process,
// has read all of it from its socket, then sends body, and returns the
// answer. That is what a client that writes head and body separately does
// to a proxy that is waiting for it.
func splitWrite(t *testing.T, host, head, body string) (status int, answer string) {
	t.Helper()
	conn := dialHost(t, host)
	defer conn.Close()
	local, remote := conn.LocalAddr().(*net.TCPAddr), conn.RemoteAddr().(*net.TCPAddr)
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, found := unreadTCP(t, remote.Port, local.Port)
		if found && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy did not read the head within 10s (%d bytes unread, socket found: %v)", n, found)
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	status, answer, err := readAnswer(bufio.NewReader(conn), "POST")
	if err != nil {
		t.Fatalf("the answer: %v", err)
	}
	return status, answer
}

func TestE2EHTTPQueryWithLateBody(t *testing.T) {
	e := needDocker(t)
	var mu sync.Mutex
	var seen []string
	reencode := powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		mu.Lock()
		seen = append(seen, req.ClientRequest.Request)
		mu.Unlock()
		var body any
		if err := req.ClientRequest.DecodeBody(&body); err != nil {
			return nil, err
		}
		out := req.ClientRequest
		if err := out.SetBody(body); err != nil {
			return nil, err
		}
		return &powerstrip.HookResponse{ModifiedClientRequest: &out}, nil
	})
	host := serveOn(t, e.daemon, pre("POST", "/**/containers/create", "reencode"), powerstrip.WithHook("reencode", reencode))
	t.Cleanup(func() {
		ids := strings.Fields(e.must(t, e.clis[0], e.daemon, "ps", "-aq", "--filter", "label=powerstrip.test=late-body"))
		if len(ids) > 0 {
			e.must(t, e.clis[0], e.daemon, append([]string{"rm", "-f"}, ids...)...)
		}
	})
	createHead := func(target string, length int) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: Docker-Client/28.2.2 (linux)\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", target, length)
	}

	t.Run("query kept", func(t *testing.T) {
		body := `{"Image":"` + e.image + `","Cmd":["true"],"Labels":{"powerstrip.test":"late-body"}}`
		for i := 0; i < 4; i++ {
			name := fmt.Sprintf("%s-%d", uniqueName(t), i)
			e.removeLater(t, name)
			mu.Lock()
			seen = nil
			mu.Unlock()
			status, answer := splitWrite(t, host, createHead("/v1.41/containers/create?name="+name, len(body)), body)
			if status != 201 {
				t.Errorf("create %s: %d %q", name, status, answer)
				continue
			}
			var created struct{ Id string }
			json.Unmarshal([]byte(answer), &created)
			if got := strings.TrimSpace(e.must(t, e.clis[0], e.daemon, "inspect", "-f", "{{.Name}}", created.Id)); got != "/"+name {
				t.Errorf("the container is named %q, not %q", got, name)
			}
			mu.Lock()
			if len(seen) != 1 || seen[0] != "/v1.41/containers/create?name="+name {
				t.Errorf("the hook saw %q", seen)
			}
			mu.Unlock()
		}
	})

	t.Run("no query from the body", func(t *testing.T) {
		// The body holds a query's text where the head's request target
		// was (from byte 5 on): only a proxy that reads the target out of
		// a reused buffer would see it.
		bogus := fmt.Sprintf("ps%08d", time.Now().UnixNano()%1e8)
		e.removeLater(t, bogus)
		body := `{"X":"?name=` + bogus + `&x=1&zz","Image":"` + e.image + `","Cmd":["true"],"Labels":{"powerstrip.test":"late-body"}}`
		for i := 0; i < 4; i++ {
			mu.Lock()
			seen = nil
			mu.Unlock()
			status, answer := splitWrite(t, host, createHead("/v1.41/containers/create", len(body)), body)
			if status != 201 {
				t.Errorf("create: %d %q", status, answer)
			}
			if r := e.docker(t, e.clis[0], e.daemon, nil, "inspect", "-f", "{{.Id}}", bogus); r.err == nil {
				t.Errorf("a container named %s, from the body's text, exists: %s", bogus, r.stdout)
				e.docker(t, e.clis[0], e.daemon, nil, "rm", "-f", bogus)
			}
			mu.Lock()
			if len(seen) != 1 || seen[0] != "/v1.41/containers/create" {
				t.Errorf("the hook saw %q", seen)
			}
			mu.Unlock()
		}
	})
}

// ---------------------------------------------------------------------------
// B4. Version spellings Docker's router accepts.

func TestE2EHTTPVersionSpellings(t *testing.T) {
	e := needDocker(t)
	cli := e.clis[0]
	name := uniqueName(t)
	e.removeLater(t, name)
	e.must(t, cli, e.daemon, "run", "-d", "--name", name, e.image, "sleep", "300")
	spellings := []string{"v1.41.0", "v01.41", "v1.041", "v1.41."}
	// Ground truth: Docker routes each spelling as v1.41.
	for _, v := range spellings {
		conn := dialHost(t, e.daemon)
		fmt.Fprintf(conn, "GET /%s/containers/%s/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n", v, name)
		status, _, err := readAnswer(bufio.NewReader(conn), "GET")
		if err != nil || status != 200 {
			t.Fatalf("ground truth changed: the daemon answers GET /%s/containers/%s/json with %d %v", v, name, status, err)
		}
	}
	host := serveOn(t, e.daemon, pre("POST", "/v1.41/containers/*/pause", "deny"), powerstrip.WithHook("deny", powerstrip.HookFunc(deny)))
	paused := func() bool {
		return strings.TrimSpace(e.must(t, cli, e.daemon, "inspect", "-f", "{{.State.Paused}}", name)) == "true"
	}
	for _, v := range append([]string{"v1.41"}, spellings...) {
		path := "/" + v + "/containers/" + name + "/pause"
		if code := rawCall(t, host, "POST", path, ""); code != 403 {
			t.Errorf("POST %s: %d, not the hook's 403", path, code)
		}
		if paused() {
			t.Errorf("POST %s paused the container past the hook", path)
			e.must(t, cli, e.daemon, "unpause", name)
		}
	}
}

// ---------------------------------------------------------------------------
// B5. A malformed chunked body.

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

func TestE2EHTTPMalformedChunked(t *testing.T) {
	e := needDocker(t)
	host := serveOn(t, e.daemon, nil)
	// Warm up: the proxy's connections to the daemon exist before counting.
	for i := 0; i < 2; i++ {
		if code := rawCall(t, host, "GET", "/_ping", ""); code != 200 {
			t.Fatalf("GET /_ping: %d", code)
		}
	}
	before := openFDs(t)
	const malformed = "POST /_ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZZ\r\n\r\n"
	// Twenty at once, so that the test takes 5 s, not 100, when none is
	// answered.
	conns := make([]net.Conn, 20)
	for i := range conns {
		conns[i] = dialHost(t, host)
		if _, err := io.WriteString(conns[i], malformed); err != nil {
			t.Fatal(err)
		}
	}
	bound := time.Now().Add(5 * time.Second)
	for i, conn := range conns {
		conn.SetReadDeadline(bound)
		status, answer, err := readAnswer(bufio.NewReader(conn), "POST")
		if err != nil || status != 400 {
			t.Errorf("request %d: %d %q %v; want 400 within 5s", i, status, answer, err)
		}
		conn.Close()
	}
	const slack = 4
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := openFDs(t)
		if n <= before+slack {
			t.Logf("open fds: %d before, %d after", before, n)
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("open fds: %d before, still %d after 10s: the proxy leaks", before, n)
			links := []string{}
			fds, _ := os.ReadDir("/proc/self/fd")
			for _, fd := range fds {
				l, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
				links = append(links, l)
			}
			t.Logf("fds: %v", links)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// B6. HEAD answers the proxy makes itself.

// headThenGet pipelines HEAD /_ping and GET /_ping on one connection: the
// HEAD's answer must be a head only, so the GET's answer comes next.
func headThenGet(t *testing.T, host string, wantHead, wantGet int) {
	t.Helper()
	conn := dialHost(t, host)
	io.WriteString(conn, "HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\nGET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
	br := bufio.NewReader(conn)
	status, _, err := readAnswer(br, "HEAD")
	if err != nil || status != wantHead {
		t.Fatalf("HEAD /_ping: %d %v, want %d", status, err, wantHead)
	}
	status, answer, err := readAnswer(br, "GET")
	switch {
	case (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && br.Buffered() == 0:
		t.Logf("the proxy closed the connection after the HEAD")
	case err != nil:
		rest, _ := io.ReadAll(io.LimitReader(br, 200))
		t.Errorf("the answer after HEAD's: %v; then %q: the HEAD's answer carried a body", err, rest)
	case status != wantGet:
		t.Errorf("GET /_ping: %d %q, want %d", status, answer, wantGet)
	}
}

func TestE2EHTTPHeadAnswers(t *testing.T) {
	e := needDocker(t)
	hook := powerstrip.HookFunc(deny)
	t.Run("rejected", func(t *testing.T) {
		headThenGet(t, serveOn(t, e.daemon, pre("HEAD", "/_ping", "deny"), powerstrip.WithHook("deny", hook)), 403, 200)
	})
	t.Run("rejected with an extension", func(t *testing.T) { // net/http's side
		headThenGet(t, serveOn(t, e.daemon, pre("HEAD", "/_ping", "deny"),
			powerstrip.WithHookSettings("deny", hook, powerstrip.HookSettings{Extensions: powerstrip.Extensions{Headers: true}})), 403, 200)
	})
	t.Run("daemon down", func(t *testing.T) {
		dir := t.TempDir()
		l, err := net.Listen("unix", filepath.Join(dir, "d.sock"))
		if err != nil {
			t.Fatal(err)
		}
		down := "unix://" + l.Addr().String()
		l.Close()
		headThenGet(t, serveOn(t, down, nil), 502, 502)
	})
	// Ground truth: Docker's own HEAD answer has no body either.
	t.Run("direct", func(t *testing.T) { headThenGet(t, e.daemon, 200, 200) })
}
