package powerstrip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// newLeanServer serves p as the binary does, with Serve's lean path in
// front of net/http, under httptest's bookkeeping. configure, if given,
// sets up the http.Server first.
func newLeanServer(t testing.TB, p *Proxy, configure ...func(*http.Server)) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(p)
	ts.Config.ConnContext = ConnContext
	for _, f := range configure {
		f(ts.Config)
	}
	ts.Listener = p.leanListener(ts.Config, ts.Listener)
	ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts.Close()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return ts
}

// rawDaemon is a daemon that records each request's bytes as they came,
// and answers with what answer returns, written as it is.
type rawDaemon struct {
	l        net.Listener
	requests chan string
	answer   func(head string, conn net.Conn)
}

func newRawDaemon(t *testing.T, answer func(head string, conn net.Conn)) *rawDaemon {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &rawDaemon{l: l, requests: make(chan string, 100), answer: answer}
	t.Cleanup(func() { l.Close() })
	go serveEach(l, d.serve)
	return d
}

// serveEach serves each connection l accepts in a goroutine, until l closes.
func serveEach(l net.Listener, serve func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go serve(c)
	}
}

func (d *rawDaemon) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var head strings.Builder
		length, chunked := 0, false
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			} else if ok && strings.EqualFold(k, "Transfer-Encoding") {
				chunked = true
			}
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		if chunked {
			var err error
			if body, err = io.ReadAll(httputil.NewChunkedReader(br)); err != nil {
				return
			}
			if _, err := br.ReadString('\n'); err != nil { // the empty trailer
				return
			}
		}
		d.requests <- head.String() + string(body)
		d.answer(head.String(), c)
	}
}

func (d *rawDaemon) addr() string { return "tcp://" + d.l.Addr().String() }

// request takes what the daemon received next, within a bound.
func (d *rawDaemon) request(t *testing.T) string {
	t.Helper()
	select {
	case r := <-d.requests:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon received nothing")
		return ""
	}
}

func leanProxy(t *testing.T, upstream string, cfg *Config, opts ...Option) (*Proxy, string) {
	t.Helper()
	p, err := New(cfg, append([]Option{WithUpstream(upstream)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := newLeanServer(t, p)
	return p, srv.Listener.Addr().String()
}

// rawClient is one client connection that writes requests as given.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawClient{conn: c, br: bufio.NewReader(c)}
}

func (c *rawClient) call(t *testing.T, request string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c.conn, request); err != nil {
		t.Fatal(err)
	}
	return c.read(t, strings.HasPrefix(request, "HEAD "))
}

func (c *rawClient) read(t *testing.T, head bool) (*http.Response, string) {
	t.Helper()
	method := "GET"
	if head {
		method = "HEAD"
	}
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	for err == nil && resp.StatusCode == http.StatusContinue {
		resp, err = http.ReadResponse(c.br, &http.Request{Method: method})
	}
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func answerJSON(status int, body string) func(string, net.Conn) {
	return func(_ string, c net.Conn) {
		fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: %d\r\n\r\n%s",
			status, http.StatusText(status), len(body), body)
	}
}

// A call no hook matches reaches Docker byte for byte, but for the
// hop-by-hop headers, and the answer comes back the same way; several
// calls share the client's connection and the daemon's.
func TestLeanPathForwardsBytes(t *testing.T) {
	d := newRawDaemon(t, answerJSON(201, `{"Id":"4f1c","Warnings":[]}`))
	_, addr := leanProxy(t, d.addr(), nil)
	c := dialRaw(t, addr)
	for i := 0; i < 3; i++ {
		resp, body := c.call(t, "POST /v1.41/containers/create?name=web&x=%7B%22a%22%7D HTTP/1.1\r\nHost: docker\r\n"+
			"x-odd-CASE: kept as sent\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"+
			"Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"Image\":\"a\"}")
		want := "POST /v1.41/containers/create?name=web&x=%7B%22a%22%7D HTTP/1.1\r\nHost: docker\r\n" +
			"x-odd-CASE: kept as sent\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"Image\":\"a\"}"
		if got := d.request(t); got != want {
			t.Fatalf("call %d: Docker received\n%q\nwant\n%q", i, got, want)
		}
		if resp.StatusCode != 201 || body != `{"Id":"4f1c","Warnings":[]}` || resp.Header.Get("Api-Version") != "1.41" || resp.Close {
			t.Fatalf("call %d: got %d %v %q", i, resp.StatusCode, resp.Header, body)
		}
	}
}

// The lean path passes on Docker's answers in their framing: chunked
// streams flushed chunk by chunk as Docker writes them, no body for HEAD
// and 204, a body ended by Docker closing its connection.
func TestLeanPathAnswers(t *testing.T) {
	next := make(chan struct{})
	d := newRawDaemon(t, func(head string, c net.Conn) {
		switch {
		case strings.HasPrefix(head, "GET /events"):
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"+
				"e\r\n{\"status\":\"a\"}\r\n")
			select {
			case <-next: // the client saw the first event
			case <-time.After(10 * time.Second):
			}
			io.WriteString(c, "e\r\n{\"status\":\"b\"}\r\n0\r\n\r\n")
		case strings.HasPrefix(head, "HEAD /_ping"):
			io.WriteString(c, "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\n")
		case strings.HasPrefix(head, "DELETE"):
			io.WriteString(c, "HTTP/1.1 204 No Content\r\nConnection: keep-alive, X-Secret\r\nX-Secret: hop\r\n\r\n")
		case strings.HasPrefix(head, "GET /containers/x/export"):
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nConnection: close\r\n\r\n"+strings.Repeat("t", 100000))
			c.Close()
		}
	})
	_, addr := leanProxy(t, d.addr(), nil)
	c := dialRaw(t, addr)

	io.WriteString(c.conn, "GET /events HTTP/1.1\r\nHost: docker\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	dec := bufio.NewReader(resp.Body)
	first, err := dec.ReadString('}')
	if err != nil || first != `{"status":"a"}` {
		t.Fatalf("first event: %q %v", first, err)
	}
	close(next)
	rest, err := io.ReadAll(dec)
	if err != nil || string(rest) != `{"status":"b"}` || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("rest: %q %v %v", rest, err, resp.TransferEncoding)
	}
	d.request(t)

	resp, body := c.call(t, "HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != 2 {
		t.Fatalf("HEAD: %d %d %q", resp.StatusCode, resp.ContentLength, body)
	}
	d.request(t)
	resp, _ = c.call(t, "DELETE /containers/x HTTP/1.1\r\nHost: docker\r\n\r\n")
	if resp.StatusCode != 204 || resp.Header.Get("X-Secret") != "" || resp.Header.Get("Connection") != "" {
		t.Fatalf("DELETE: %d %v", resp.StatusCode, resp.Header)
	}
	d.request(t)
	// Docker closing after an answer of unknown length: the client's
	// connection closes too, the only way to tell it where the body ends.
	resp, body = c.call(t, "GET /containers/x/export HTTP/1.1\r\nHost: docker\r\n\r\n")
	if resp.StatusCode != 200 || len(body) != 100000 || !resp.Close {
		t.Fatalf("export: %d %d close=%v", resp.StatusCode, len(body), resp.Close)
	}
}

// Calls the lean path does not take go to net/http with the bytes already
// read, on the same connection, and get the same answers: a call with a
// post-hook, then calls after it, and the requests net/http is there to
// judge.
func TestLeanPathHandsOver(t *testing.T) {
	d := newRawDaemon(t, answerJSON(200, `{}`))
	cfg := &Config{Version: 1, Endpoints: []Endpoint{
		{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"tag"}},
		{Method: "GET", Pattern: "/*/info", Post: []string{"noop"}},
	}}
	tag := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		sep := "?"
		if strings.Contains(req.ClientRequest.Request, "?") {
			sep = "&"
		}
		return &HookResponse{ModifiedClientRequest: &ClientRequest{Method: req.ClientRequest.Method,
			Request: req.ClientRequest.Request + sep + "tagged=1", Body: req.ClientRequest.Body}}, nil
	})
	noop := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, nil })
	_, addr := leanProxy(t, d.addr(), cfg, WithHook("tag", tag), WithHook("noop", noop))
	c := dialRaw(t, addr)

	if resp, _ := c.call(t, "GET /v1.41/version HTTP/1.1\r\nHost: docker\r\nx-case: lean\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	if got := d.request(t); !strings.Contains(got, "x-case: lean") {
		t.Fatalf("the first call did not take the lean path: %q", got)
	}
	if resp, _ := c.call(t, "GET /v1.41/info HTTP/1.1\r\nHost: docker\r\nx-case: lean\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	// net/http writes header names its way.
	if got := d.request(t); !strings.Contains(got, "X-Case: lean") {
		t.Fatalf("the call with a post-hook was not handed over: %q", got)
	}
	// The connection is net/http's now.
	if resp, _ := c.call(t, "GET /v1.41/version HTTP/1.1\r\nHost: docker\r\nx-case: lean\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	if got := d.request(t); !strings.Contains(got, "X-Case: lean") {
		t.Fatalf("the call after the hand-over: %q", got)
	}

	cases := []struct{ name, request, docker string }{
		{"a path to make canonical", "GET /v1.41//containers/./json HTTP/1.1\r\nHost: docker\r\n\r\n", "GET /v1.41/containers/json "},
		{"percent-encoding in the path", "GET /v1.41/containers/%6aso%6e HTTP/1.1\r\nHost: docker\r\n\r\n", "GET /v1.41/containers/json "},
		{"HTTP/1.0", "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n", "GET /_ping "},
		{"bare line feeds", "GET /_ping HTTP/1.1\nHost: docker\n\n", "GET /_ping "},
		{"a chunked body", "POST /build HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "POST /build "},
		{"a head larger than the lean buffer", "GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Registry-Auth: " + strings.Repeat("a", 6000) + "\r\n\r\n", "GET /_ping "},
		{"Expect", "POST /_ping HTTP/1.1\r\nHost: docker\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}", "POST /_ping "},
		{"a hooked call with a lower-case method", "post /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: 2\r\n\r\n{}", "POST /containers/create?tagged=1 "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			resp, _ := c.call(t, tc.request)
			if got := d.request(t); resp.StatusCode != 200 || !strings.HasPrefix(got, tc.docker) {
				t.Fatalf("%s; Docker got %.80q, want it to start with %q", resp.Status, got, tc.docker)
			}
		})
	}
	t.Run("no Host", func(t *testing.T) {
		c := dialRaw(t, addr)
		if resp, body := c.call(t, "GET /_ping HTTP/1.1\r\n\r\n"); resp.StatusCode != 400 {
			t.Fatalf("%s %q", resp.Status, body)
		}
	})
}

// Pre-hooks of the plain protocol run on the lean path: a call they leave
// as it was reaches Docker byte for byte; a changed one gets its new
// request line, body and Content-Length, the client's other headers kept;
// a rejection or a failing hook answers the client, and the connection
// carries on.
func TestServePreHooks(t *testing.T) {
	d := newRawDaemon(t, answerJSON(201, `{"Id":"4f1c"}`))
	cfg := &Config{Version: 1, Endpoints: []Endpoint{
		{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"env"}},
		{Method: "GET", Pattern: "/**", Pre: []string{"look"}},
		{Method: "DELETE", Pattern: "/**", Pre: []string{"deny"}},
		{Method: "POST", Pattern: "/*/containers/*/kill", Pre: []string{"broken"}},
	}}
	env := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		body := `{"Image":"a","Env":["X=1"]}`
		return &HookResponse{ModifiedClientRequest: &ClientRequest{Request: req.ClientRequest.Request + "&labelled=1", Body: &body}}, nil
	})
	look := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, nil })
	deny := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, Reject(403, "no deleting") })
	broken := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, errors.New("adapter broke") })
	_, addr := leanProxy(t, d.addr(), cfg, WithHook("env", env), WithHook("look", look), WithHook("deny", deny), WithHook("broken", broken))
	c := dialRaw(t, addr)

	resp, body := c.call(t, "POST /v1.41/containers/create?name=a HTTP/1.1\r\nHost: docker\r\nContent-Length: 13\r\n"+
		"x-case: kept\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n\r\n{\"Image\":\"a\"}")
	// Hooked calls are net/http's: the head is written anew, in its order.
	want := "POST /v1.41/containers/create?name=a&labelled=1 HTTP/1.1\r\nHost: docker\r\nContent-Length: 27\r\n" +
		"Content-Type: application/json\r\nX-Case: kept\r\n\r\n{\"Image\":\"a\",\"Env\":[\"X=1\"]}"
	if got := d.request(t); got != want || resp.StatusCode != 201 || body != `{"Id":"4f1c"}` {
		t.Fatalf("rewritten call: %s %q; Docker got\n%q\nwant\n%q", resp.Status, body, got, want)
	}
	resp, _ = c.call(t, "GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: docker\r\nx-case: kept\r\n\r\n")
	if got := d.request(t); got != "GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: docker\r\nX-Case: kept\r\n\r\n" || resp.StatusCode != 201 {
		t.Fatalf("untouched call: %s; Docker got %q", resp.Status, got)
	}
	resp, body = c.call(t, "DELETE /v1.41/containers/a HTTP/1.1\r\nHost: docker\r\n\r\n")
	if resp.StatusCode != 403 || body != `{"message":"no deleting"}`+"\n" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("rejected call: %s %q", resp.Status, body)
	}
	resp, body = c.call(t, "POST /v1.41/containers/a/kill HTTP/1.1\r\nHost: docker\r\n\r\n")
	if resp.StatusCode != 502 || !strings.Contains(body, "adapter broke") {
		t.Fatalf("failing hook: %s %q", resp.Status, body)
	}
	select {
	case got := <-d.requests:
		t.Fatalf("Docker received a call the hooks stopped: %q", got)
	default:
	}
	if resp, _ := c.call(t, "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"); resp.StatusCode != 201 {
		t.Fatalf("after the failures: %s", resp.Status)
	}
	d.request(t)
}

// A daemon connection that dies in the pool costs a client nothing when
// the peek before use sees it closed; when the daemon reads a call and
// closes without answering, a call without a body is sent again on a new
// connection, and one with a body fails rather than risk running twice.
func TestLeanPathStaleDaemonConnection(t *testing.T) {
	var used sync.Map // daemon connections that answered once
	d := newRawDaemon(t, func(head string, c net.Conn) {
		_, again := used.LoadOrStore(c, true)
		switch {
		case strings.HasPrefix(head, "GET /closed-after"):
			answerJSON(200, `{}`)(head, c)
			c.(*net.TCPConn).CloseWrite() // the pooled connection dies while idle
		case again:
			c.Close() // read the call, then went away without an answer
		default:
			answerJSON(200, `{"fresh":true}`)(head, c)
		}
	})
	_, addr := leanProxy(t, d.addr(), nil)
	c := dialRaw(t, addr)

	c.call(t, "GET /closed-after HTTP/1.1\r\nHost: docker\r\n\r\n")
	d.request(t)
	if resp, body := c.call(t, "GET /next HTTP/1.1\r\nHost: docker\r\n\r\n"); resp.StatusCode != 200 || body != `{"fresh":true}` {
		t.Fatalf("after an idle connection died: %s %q", resp.Status, body)
	}
	d.request(t)

	// The connection that served /next is pooled; the daemon will read the
	// next call on it and hang up.
	if resp, body := c.call(t, "GET /again HTTP/1.1\r\nHost: docker\r\n\r\n"); resp.StatusCode != 200 || body != `{"fresh":true}` {
		t.Fatalf("a call without a body, sent again: %s %q", resp.Status, body)
	}
	d.request(t)
	d.request(t)
	resp, body := c.call(t, "POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	if resp.StatusCode != 502 || !strings.Contains(body, "did not answer") {
		t.Fatalf("a call with a body: %s %q", resp.Status, body)
	}
	d.request(t)
	select {
	case got := <-d.requests:
		t.Fatalf("the call with a body reached Docker twice: %q", got)
	default:
	}
}

// When Docker cannot be reached, the lean path answers as net/http's side
// does: 502 and Docker's error shape, naming the daemon.
func TestLeanPathDaemonGone(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "tcp://" + l.Addr().String()
	l.Close()
	_, addr := leanProxy(t, gone, nil)
	c := dialRaw(t, addr)
	for i := 0; i < 2; i++ { // the connection stays usable
		resp, body := c.call(t, "GET /v1.41/info HTTP/1.1\r\nHost: docker\r\n\r\n")
		if resp.StatusCode != 502 || !strings.Contains(body, `"message":"powerstrip: the Docker daemon at `+gone+` did not answer`) {
			t.Fatalf("%s %q", resp.Status, body)
		}
	}
}

// A client that hangs up while an answer streams (events, logs -f) ends
// the call on Docker's side too, though Docker has nothing to write.
func TestLeanPathClientHangsUp(t *testing.T) {
	closed := make(chan struct{})
	d := newRawDaemon(t, func(_ string, c net.Conn) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
			close(closed)
		}
	})
	_, addr := leanProxy(t, d.addr(), nil)
	c := dialRaw(t, addr)
	io.WriteString(c.conn, "GET /events HTTP/1.1\r\nHost: docker\r\n\r\n")
	if resp, err := http.ReadResponse(c.br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	d.request(t)
	c.conn.Close()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Docker's connection stayed open after the client hung up")
	}
}

// A client that hangs up while a pre-hook runs on the lean path cancels
// the hook's context, and Docker is never called; one that hangs up once
// the hooks let the call through ends Docker's side of it.
func TestLeanPathHangUpDuringHooks(t *testing.T) {
	dockerSawEOF := make(chan struct{})
	d := newRawDaemon(t, func(_ string, c net.Conn) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
			close(dockerSawEOF)
		}
	})
	entered, cancelled := make(chan struct{}, 1), make(chan struct{})
	hold := HookFunc(func(ctx context.Context, req *HookRequest) (*HookResponse, error) {
		if !strings.Contains(req.ClientRequest.Request, "hold") {
			return nil, nil
		}
		entered <- struct{}{}
		select {
		case <-ctx.Done():
			close(cancelled)
		case <-time.After(10 * time.Second):
		}
		return nil, ctx.Err()
	})
	cfg := &Config{Version: 1, Endpoints: []Endpoint{{Method: "POST", Pattern: "/**", Pre: []string{"hold"}}}}
	_, addr := leanProxy(t, d.addr(), cfg, WithHook("hold", hold))

	c := dialRaw(t, addr)
	io.WriteString(c.conn, "POST /containers/x/wait?hold=1 HTTP/1.1\r\nHost: docker\r\n\r\n")
	<-entered
	c.conn.Close()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the hook's context was not cancelled when the client hung up")
	}

	c = dialRaw(t, addr)
	io.WriteString(c.conn, "POST /containers/x/wait HTTP/1.1\r\nHost: docker\r\n\r\n")
	if got := d.request(t); !strings.HasPrefix(got, "POST /containers/x/wait ") {
		t.Fatalf("Docker got %q", got)
	}
	c.conn.Close()
	select {
	case <-dockerSawEOF:
	case <-time.After(10 * time.Second):
		t.Fatal("Docker's connection stayed open after the client hung up")
	}
	select {
	case got := <-d.requests:
		t.Fatalf("Docker received the call whose client hung up during the hooks: %q", got)
	default:
	}
}

// The server's timeouts hold on the lean path: an idle connection and a
// head that trickles in are closed; a stream that outlasts them is not.
func TestLeanPathTimeouts(t *testing.T) {
	const timeout = 300 * time.Millisecond
	d := newRawDaemon(t, func(head string, c net.Conn) {
		if !strings.HasPrefix(head, "GET /events") {
			answerJSON(200, `{}`)(head, c)
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"e\r\n{\"status\":\"a\"}\r\n")
		<-time.After(3 * timeout) // what is tested: an event long after every timeout
		io.WriteString(c, "e\r\n{\"status\":\"b\"}\r\n0\r\n\r\n")
	})
	p, err := New(nil, WithUpstream(d.addr()))
	if err != nil {
		t.Fatal(err)
	}
	addr := newLeanServer(t, p, func(srv *http.Server) {
		srv.ReadHeaderTimeout, srv.IdleTimeout = timeout, timeout
	}).Listener.Addr().String()

	c := dialRaw(t, addr)
	resp, body := c.call(t, "GET /events HTTP/1.1\r\nHost: docker\r\n\r\n")
	if resp.StatusCode != 200 || body != `{"status":"a"}{"status":"b"}` {
		t.Fatalf("the stream: %s %q", resp.Status, body)
	}
	d.request(t)
	start := time.Now()
	if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("the idle connection: %v, want EOF", err)
	}
	if idle := time.Since(start); idle < timeout*7/8 {
		t.Fatalf("the idle connection was closed after %v, before IdleTimeout (%v)", idle, timeout)
	}

	c = dialRaw(t, addr)
	io.WriteString(c.conn, "GET /_ping HTTP/1.1\r\nHo")
	if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("the trickling head: %v, want EOF", err)
	}
}

// srv.Close closes the lean path's idle connections; Proxy.Shutdown
// waits for a call in flight and lets it finish.
func TestLeanPathShutdown(t *testing.T) {
	release := make(chan struct{})
	d := newRawDaemon(t, func(head string, c net.Conn) {
		if strings.Contains(head, "/slow") {
			<-release
		}
		answerJSON(200, `{}`)(head, c)
	})
	p, err := New(nil, WithUpstream(d.addr()))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p}
	served := make(chan error, 1)
	go func() { served <- p.Serve(srv, l) }()
	idle := dialRaw(t, l.Addr().String())
	idle.call(t, "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
	busy := dialRaw(t, l.Addr().String())
	io.WriteString(busy.conn, "GET /slow HTTP/1.1\r\nHost: docker\r\n\r\n")
	d.request(t)
	d.request(t)

	srv.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := idle.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("the idle connection: %v, want EOF", err)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- p.Shutdown(ctx)
	}()
	close(release)
	resp, body := busy.read(t, false)
	if resp.StatusCode != 200 || body != "{}" || !resp.Close {
		t.Fatalf("the call in flight: %s %q close=%v", resp.Status, body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
}

// Serve refuses a server that would serve something else than the Proxy.
func TestServeNeedsTheProxy(t *testing.T) {
	p, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Serve(&http.Server{Handler: http.NotFoundHandler()}, nil)
	if err == nil || !strings.Contains(err.Error(), "Handler is this Proxy") {
		t.Fatalf("got %v", err)
	}
}

func TestParseLeanCall(t *testing.T) {
	ok := func(head string) leanCall {
		t.Helper()
		c, ok := parseLeanCall([]byte(head))
		if !ok {
			t.Fatalf("%q: not taken", head)
		}
		return c
	}
	c := ok("GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if c.method != "GET" || c.path != "/v1.41/containers/json" || !c.close || c.skips != 1 {
		t.Fatalf("%+v", c)
	}
	if c := ok("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 65536\r\n\r\n"); c.length != 65536 || c.path != "/" {
		t.Fatalf("%+v", c)
	}
	for _, head := range []string{
		"GET /a HTTP/1.1\r\n\r\n",                                                      // no Host
		"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",                                // two
		"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", // two lengths
		"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n", // too large to send before the answer
		"GET /a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\x00\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close, X-Foo\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n",
		"GET /a/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a/../b HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a#f HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET  /a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a HTTP/1.0\r\nHost: x\r\n\r\n",
		"Get /a HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT /a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a HTTP/1.1\nHost: x\n\n",
	} {
		if c, ok := parseLeanCall([]byte(head)); ok {
			t.Errorf("%q taken: %+v", head, c)
		}
	}
}

func TestHeadEnd(t *testing.T) {
	for head, want := range map[string]int{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest": 27,
		"GET / HTTP/1.1\nHost: x\n\nrest":       24,
		"GET / HTTP/1.1\r\nHost: x\r\n":         0,
		"":                                      0,
		"\r\n":                                  2,
	} {
		if got := headEnd([]byte(head)); got != want {
			t.Errorf("%q: %d, want %d", head, got, want)
		}
	}
}

// An in-process hook under Serve that waits past its timeout fails
// the call with 504, and its context says why.
func TestServeHookTimeout(t *testing.T) {
	d := newRawDaemon(t, answerJSON(200, `{}`))
	slow := HookFunc(func(ctx context.Context, _ *HookRequest) (*HookResponse, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return nil, nil
		}
	})
	cfg := &Config{Version: 1, Endpoints: []Endpoint{{Method: "GET", Pattern: "/**", Pre: []string{"slow"}}}}
	_, addr := leanProxy(t, d.addr(), cfg, WithHookSettings("slow", slow, HookSettings{Timeout: 100 * time.Millisecond}))
	c := dialRaw(t, addr)
	resp, body := c.call(t, "GET /v1.41/info HTTP/1.1\r\nHost: docker\r\n\r\n")
	if resp.StatusCode != 504 || !strings.Contains(body, `adapter \"slow\" (pre-hook) failed: no answer within 100ms (its timeout): context deadline exceeded`) {
		t.Fatalf("%s %q", resp.Status, body)
	}
}
