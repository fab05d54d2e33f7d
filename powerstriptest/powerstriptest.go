// Package powerstriptest tests Powerstrip adapters the way net/http/httptest
// tests handlers: it runs an adapter, remote or in-process, through the real
// chain of a powerstrip.Proxy, in front of a recording fake daemon or a real
// one, and shows at each point what the call became.
//
//	h := powerstriptest.Start(t, powerstriptest.Setup{
//		Config: `
//	version: 1
//	endpoints:
//	  "POST /*/containers/create":
//	    pre: [policy]
//	adapters: {}`,
//		Hooks: map[string]powerstrip.Hook{"policy": myPolicy},
//	})
//	got := h.Call(powerstriptest.CreateRequest())
//	// got.Status, got.Body: what the client got.
//	// got.DockerGot: what reached the daemon, after the pre-hooks.
//	// got.DockerAnswered: the daemon's answer, before the post-hooks.
//
// Fixtures (CreateRequest, StartRequest, BuildRequest, AttachRequest) are
// the calls the docker CLI makes, byte for byte where it matters.
package powerstriptest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
)

// Setup says what to run.
type Setup struct {
	// Config is the proxy's adapters.yml. Remote adapters are listed under
	// adapters with their URL; in-process ones are named by Hooks.
	Config string
	// Hooks are in-process hooks by name (powerstrip.WithHook).
	Hooks map[string]powerstrip.Hook
	// HookSettings give in-process hooks an adapter's settings:
	// extensions, dry run, timeout (powerstrip.WithHookSettings). Remote
	// adapters take theirs from Config.
	HookSettings map[string]powerstrip.HookSettings
	// Unix serves the proxy on a unix socket with powerstrip.ConnContext,
	// so hooks with the caller extension see the test's uid, gid and pid.
	// Host is then unix://path.
	Unix bool
	// Daemon is a real daemon's address (unix:///path or tcp://host:port).
	// Empty starts a FakeDaemon.
	Daemon string
	// Answer replaces the FakeDaemon's answers; see DefaultAnswer.
	Answer func(r *http.Request, body []byte) Answer
	// Options are more powerstrip.Options, such as WithLogger.
	Options []powerstrip.Option
}

// Harness is a running proxy with its adapters, and its fake daemon.
type Harness struct {
	// Host is the proxy as a DOCKER_HOST value, tcp://127.0.0.1:port, so a
	// test can drive it with the docker CLI too.
	Host string
	// URL is the proxy's base URL for net/http.
	URL string
	// Daemon is the fake daemon; nil in front of a real one.
	Daemon *FakeDaemon
	// Proxy is the proxy under test.
	Proxy *powerstrip.Proxy

	t      testing.TB
	srv    *http.Server
	sock   string // the unix socket, with Setup.Unix
	client *http.Client
}

// Start runs a proxy for s and stops it when the test ends. A bad Config or
// Hooks fail the test.
func Start(t testing.TB, s Setup) *Harness {
	t.Helper()
	cfg, err := powerstrip.ParseConfig([]byte(s.Config))
	if err != nil {
		t.Fatalf("powerstriptest: %v", err)
	}
	h := &Harness{t: t}
	upstream := s.Daemon
	if upstream == "" {
		h.Daemon = newFakeDaemon(t, s.Answer)
		upstream = "tcp://" + h.Daemon.srv.Listener.Addr().String()
	}
	opts := []powerstrip.Option{powerstrip.WithUpstream(upstream)}
	for name, hook := range s.Hooks {
		opts = append(opts, powerstrip.WithHookSettings(name, hook, s.HookSettings[name]))
	}
	if h.Proxy, err = powerstrip.New(cfg, append(opts, s.Options...)...); err != nil {
		t.Fatalf("powerstriptest: %v", err)
	}
	// Served as the binary serves it: Serve, so calls no hook matches take
	// the lean path and the others net/http's.
	h.srv = &http.Server{Handler: h.Proxy, ConnContext: powerstrip.ConnContext}
	network, address := "tcp", "127.0.0.1:0"
	if s.Unix {
		dir, err := os.MkdirTemp("", "powerstriptest") // short: unix socket paths are limited to 108 bytes
		if err != nil {
			t.Fatalf("powerstriptest: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		network, address = "unix", filepath.Join(dir, "proxy.sock")
	}
	l, err := net.Listen(network, address)
	if err != nil {
		t.Fatalf("powerstriptest: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- h.Proxy.Serve(h.srv, l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.srv.Close()
		h.Proxy.Shutdown(ctx) //nolint:errcheck // what is left is closed
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("powerstriptest: serving: %v", err)
		}
	})
	if s.Unix {
		h.sock = l.Addr().String()
	}
	h.URL = "http://" + l.Addr().String()
	h.Host = "tcp://" + l.Addr().String()
	h.client = &http.Client{Transport: &http.Transport{DialContext: h.dial}}
	if h.sock != "" {
		h.URL, h.Host = "http://docker", "unix://"+h.sock
		h.client = &http.Client{Transport: &http.Transport{DialContext: h.dial}}
	}
	return h
}

// dial reaches the proxy, on TCP or on its unix socket.
func (h *Harness) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	var d net.Dialer
	if h.sock != "" {
		return d.DialContext(ctx, "unix", h.sock)
	}
	return d.DialContext(ctx, "tcp", strings.TrimPrefix(h.URL, "http://"))
}

// Result is what became of one call.
type Result struct {
	// Status, Header and Body are what the client got. For a call Docker
	// took over (attach), Status is 101 and Conn is the raw stream.
	Status int
	Header http.Header
	Body   []byte
	Conn   io.ReadWriteCloser
	// DockerGot is the call as it reached the fake daemon, after the
	// pre-hooks; nil when it did not (a pre-hook rejected it) or when the
	// daemon is real.
	DockerGot *Received
	// DockerAnswered is the fake daemon's answer, before the post-hooks.
	DockerAnswered *Answer
}

// JSON decodes the client's body into v.
func (r *Result) JSON(v any) error { return json.Unmarshal(r.Body, v) }

// Received is a call as the fake daemon received it.
type Received struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// JSON decodes the received body into v.
func (r *Received) JSON(v any) error { return json.Unmarshal(r.Body, v) }

// Call sends req through the proxy and reports what became of it. A
// relative req.URL is taken against the proxy. Transport failures fail the
// test; error statuses are results.
func (h *Harness) Call(req *http.Request) *Result {
	h.t.Helper()
	if !req.URL.IsAbs() {
		u := *req.URL
		req.URL = &u
		req.URL.Scheme, req.URL.Host = "http", strings.TrimPrefix(h.URL, "http://")
	}
	if req.Header.Get("Upgrade") != "" {
		return h.takeOver(req)
	}
	before := h.received()
	ctx, cancel := context.WithTimeout(req.Context(), time.Minute)
	defer cancel()
	resp, err := h.client.Do(req.WithContext(ctx))
	if err != nil {
		h.t.Fatalf("powerstriptest: %s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("powerstriptest: reading the answer: %v", err)
	}
	return h.result(before, &Result{Status: resp.StatusCode, Header: resp.Header, Body: body})
}

// takeOver sends a call that asks to take over the connection, and hands
// the raw stream back in Result.Conn.
func (h *Harness) takeOver(req *http.Request) *Result {
	before := h.received()
	conn, err := h.dial(context.Background(), "", "")
	if err != nil {
		h.t.Fatalf("powerstriptest: %v", err)
	}
	h.t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(time.Minute))
	if err := req.Write(conn); err != nil {
		h.t.Fatalf("powerstriptest: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		h.t.Fatalf("powerstriptest: %v", err)
	}
	r := &Result{Status: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		r.Conn = struct {
			io.Reader
			io.WriteCloser
		}{br, conn}
	} else {
		r.Body, _ = io.ReadAll(resp.Body)
	}
	return h.result(before, r)
}

func (h *Harness) received() int {
	if h.Daemon == nil {
		return 0
	}
	return len(h.Daemon.Calls())
}

func (h *Harness) result(before int, r *Result) *Result {
	if h.Daemon != nil {
		calls := h.Daemon.Calls()
		if len(calls) > before {
			last := calls[len(calls)-1]
			r.DockerGot, r.DockerAnswered = &last.Received, &last.Answer
		}
	}
	return r
}

// Answer is what the fake daemon answers.
type Answer struct {
	Status      int
	ContentType string
	Body        string
	// TakeOver answers 101 and then echoes the raw stream back, as an
	// attach to a container running cat would.
	TakeOver bool
}

// FakeDaemon records the calls it gets and answers like Docker.
type FakeDaemon struct {
	srv    *httptest.Server
	answer func(*http.Request, []byte) Answer
	mu     sync.Mutex
	calls  []Exchange
}

// Exchange is one call the fake daemon got, and its answer.
type Exchange struct {
	Received Received
	Answer   Answer
}

// Addr is the fake daemon as a DOCKER_HOST value, for adapters that call
// the daemon themselves (to inspect an image, say).
func (d *FakeDaemon) Addr() string { return "tcp://" + d.srv.Listener.Addr().String() }

// Calls lists what the fake daemon received, in order.
func (d *FakeDaemon) Calls() []Exchange {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Exchange(nil), d.calls...)
}

func newFakeDaemon(t testing.TB, answer func(*http.Request, []byte) Answer) *FakeDaemon {
	if answer == nil {
		answer = DefaultAnswer
	}
	d := &FakeDaemon{answer: answer}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *FakeDaemon) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a := d.answer(r, body)
	d.mu.Lock()
	d.calls = append(d.calls, Exchange{Received{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body}, a})
	d.mu.Unlock()
	if a.TakeOver {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		io.Copy(conn, buf)
		return
	}
	w.Header().Set("Api-Version", "1.41")
	if a.ContentType != "" {
		w.Header().Set("Content-Type", a.ContentType)
	}
	w.WriteHeader(a.Status)
	io.WriteString(w, a.Body)
}

// FakeContainerID is the id the fake daemon gives created containers.
const FakeContainerID = "4f1c2a7e9b3d5c6a8f0e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2"

// DefaultAnswer answers like Docker for the calls of the fixtures: create
// 201 with an id, start 204, build a stream of progress JSON, attach a
// taken-over echo stream, an image's inspect with an Entrypoint, and 404 in
// Docker's error shape for anything else.
func DefaultAnswer(r *http.Request, _ []byte) Answer {
	path := r.URL.Path
	if i := strings.Index(path[1:], "/"); i >= 0 && strings.HasPrefix(path, "/v") {
		path = path[1+i:]
	}
	switch {
	case r.Method == "POST" && path == "/containers/create":
		return Answer{Status: 201, ContentType: "application/json", Body: `{"Id":"` + FakeContainerID + `","Warnings":[]}` + "\n"}
	case r.Method == "POST" && strings.HasSuffix(path, "/start"), r.Method == "POST" && strings.HasSuffix(path, "/stop"):
		return Answer{Status: 204}
	case r.Method == "POST" && strings.HasSuffix(path, "/attach"):
		return Answer{TakeOver: true}
	case r.Method == "POST" && path == "/build":
		return Answer{Status: 200, ContentType: "application/json", Body: `{"stream":"Step 1/1 : FROM busybox"}` + "\r\n" +
			`{"stream":"\n"}` + "\r\n" + `{"aux":{"ID":"sha256:1e4bbba9f2f5"}}` + "\r\n" + `{"stream":"Successfully built 1e4bbba9f2f5\n"}` + "\r\n"}
	case r.Method == "GET" && strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/json"):
		return Answer{Status: 200, ContentType: "application/json",
			Body: `{"Id":"sha256:1e4bbba9f2f5","Config":{"Entrypoint":["/docker-entrypoint.sh"],"Cmd":["serve"],"Env":["PATH=/bin"]}}`}
	case r.Method == "HEAD" || path == "/_ping":
		return Answer{Status: 200, ContentType: "text/plain; charset=utf-8", Body: "OK"}
	}
	return Answer{Status: 404, ContentType: "application/json", Body: fmt.Sprintf(`{"message":"page not found: %s %s"}`, r.Method, r.URL.Path)}
}

// RealDaemon returns the real daemon and image to test against, from
// POWERSTRIP_TEST_DOCKER and POWERSTRIP_TEST_IMAGE (scripts/test.sh sets
// them). Without them the test is skipped, or fails when
// POWERSTRIP_E2E=required, as in CI.
func RealDaemon(t testing.TB) (addr, image string) {
	t.Helper()
	addr, image = os.Getenv("POWERSTRIP_TEST_DOCKER"), os.Getenv("POWERSTRIP_TEST_IMAGE")
	if addr == "" || image == "" {
		if os.Getenv("POWERSTRIP_E2E") == "required" {
			t.Fatal("end-to-end tests are required: POWERSTRIP_TEST_DOCKER and POWERSTRIP_TEST_IMAGE are not set")
		}
		t.Skip("no test daemon: set POWERSTRIP_TEST_DOCKER and POWERSTRIP_TEST_IMAGE (scripts/test.sh does)")
	}
	return addr, image
}
