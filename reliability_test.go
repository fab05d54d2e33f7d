package powerstrip

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip/internal/testpki"
)

// syncBuffer is a log sink safe for the proxy's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Ignored timeouts cannot add up: the hooks of one call share a budget.
func TestHookBudget(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{}`))
	var calls atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}))
	defer hang.Close()
	var logs syncBuffer
	srv := proxyFromYAML(t, fmt.Sprintf(`version: 1
endpoints:
  "POST /*/containers/create":
    pre: [first, second]
adapters:
  first: {url: %[1]s/a, timeout: 10s, failurePolicy: ignore}
  second: {url: %[1]s/b, timeout: 10s, failurePolicy: ignore}
`, hang.URL), WithUpstream(docker.upstream()), WithHookBudget(300*time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if got := do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{}`); got.Code != 201 {
		t.Fatalf("got %+v", got)
	}
	if calls.Load() != 1 {
		t.Errorf("the adapter was called %d times; the second call should find the budget spent", calls.Load())
	}
	for _, want := range []string{
		`adapter=first`, `no answer within 300ms (what was left of the call's hook budget of 300ms)`,
		`adapter=second`, `not called: the call's hook budget of 300ms is spent`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.String())
		}
	}
}

// Calls to an adapter reuse one kept-alive connection.
func TestAdapterConnectionsKeptAlive(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(201, `{}`))
	var conns atomic.Int32
	adapter := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"PowerstripProtocolVersion":1}`)
	}))
	adapter.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	adapter.Start()
	defer adapter.Close()
	srv := proxyFromYAML(t, fmt.Sprintf("version: 1\nendpoints:\n  \"POST /**\":\n    pre: [a]\n    post: [a]\nadapters:\n  a: %s\n", adapter.URL),
		WithUpstream(docker.upstream()))
	for i := 0; i < 20; i++ {
		if got := do(t, srv, "POST", "/v1.41/containers/create", "application/json", `{}`); got.Code != 201 {
			t.Fatalf("call %d: %+v", i, got)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("40 hook calls opened %d connections to the adapter", n)
	}
}

// A daemon that is down gets a 502; once it is back, calls go through.
func TestDaemonDownThenBack(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	srv := proxyFromYAML(t, "version: 1\nendpoints: {}\nadapters: {}\n", WithUpstream("unix://"+sock))
	got := do(t, srv, "GET", "/v1.41/info", "", "")
	if got.Code != 502 || !strings.Contains(got.Body, "the Docker daemon at unix://"+sock+" did not answer") {
		t.Fatalf("daemon down: %+v", got)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	daemon := &http.Server{Handler: http.HandlerFunc(jsonReply(200, `{"ID":"back"}`))}
	go daemon.Serve(l)
	defer daemon.Close()
	if got := do(t, srv, "GET", "/v1.41/info", "", ""); got.Code != 200 || got.Body != `{"ID":"back"}` {
		t.Errorf("daemon back: %+v", got)
	}
}

// A client that hangs up cancels the call to Docker.
func TestClientGoneCancelsDockerCall(t *testing.T) {
	entered, cancelled := make(chan struct{}), make(chan struct{})
	docker := newFakeDocker(t, func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(30 * time.Second):
		}
	})
	srv := proxyFromYAML(t, "version: 1\nendpoints: {}\nadapters: {}\n", WithUpstream(docker.upstream()))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1.41/containers/x/wait", nil)
	go func() {
		if resp, err := srv.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("Docker's call went on after the client left")
	}
}

// Calls in flight finish on the config they started with.
func TestReloadLeavesCallsInFlight(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(200, `{}`))
	entered, release := make(chan struct{}), make(chan struct{})
	slow := HookFunc(func(ctx context.Context, _ *HookRequest) (*HookResponse, error) {
		close(entered)
		<-release
		return nil, nil
	})
	deny := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, Reject(403, "new config") })
	p, err := New(&Config{Version: 1, Endpoints: []Endpoint{{Method: "GET", Pattern: "/**", Pre: []string{"slow"}, Post: []string{"slow-post"}}}},
		WithUpstream(docker.upstream()), WithHook("slow", slow), WithHook("deny", deny),
		WithHook("slow-post", HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, nil })))
	if err != nil {
		t.Fatal(err)
	}
	srv := newLeanServer(t, p)
	defer srv.Close()
	result := make(chan clientResult, 1)
	go func() { result <- do(t, srv, "GET", "/v1.41/info", "", "") }()
	<-entered
	if err := p.Reload(&Config{Version: 1, Endpoints: []Endpoint{{Method: "GET", Pattern: "/**", Pre: []string{"deny"}, Post: []string{"deny"}}}}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if got := <-result; got.Code != 200 {
		t.Errorf("the call in flight: %+v", got)
	}
	if got := do(t, srv, "GET", "/v1.41/info", "", ""); got.Code != 403 {
		t.Errorf("a new call: %+v", got)
	}
}

// Powerstrip fronts a TLS-protected daemon with the docker CLI's
// certificate directory: client certificate presented, daemon verified.
func TestUpstreamTLS(t *testing.T) {
	pki := testpki.New(t)
	daemon := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"client":%q}`, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	daemon.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server}, ClientCAs: pki.CAPool, ClientAuth: tls.RequireAndVerifyClientCert}
	daemon.StartTLS()
	defer daemon.Close()
	addr := "tcp://" + daemon.Listener.Addr().String()

	verified, err := UpstreamTLSConfig(pki.Dir, true)
	if err != nil {
		t.Fatal(err)
	}
	srv := proxyFromYAML(t, "version: 1\nendpoints: {}\nadapters: {}\n", WithUpstream(addr), WithUpstreamTLS(verified))
	if got := do(t, srv, "GET", "/v1.41/info", "", ""); got.Code != 200 || got.Body != `{"client":"powerstrip client"}` {
		t.Errorf("verified TLS: %+v", got)
	}

	// A daemon whose certificate the CA did not sign is refused.
	other := testpki.New(t)
	wrongCA, err := UpstreamTLSConfig(other.Dir, true)
	if err != nil {
		t.Fatal(err)
	}
	srv = proxyFromYAML(t, "version: 1\nendpoints: {}\nadapters: {}\n", WithUpstream(addr), WithUpstreamTLS(wrongCA))
	if got := do(t, srv, "GET", "/v1.41/info", "", ""); got.Code != 502 || !strings.Contains(got.Body, "certificate") {
		t.Errorf("unknown CA: %+v", got)
	}

	// Without a client certificate the daemon refuses us.
	noCert := t.TempDir()
	os.Link(pki.CAFile, filepath.Join(noCert, "ca.pem"))
	bare, err := UpstreamTLSConfig(noCert, true)
	if err != nil {
		t.Fatal(err)
	}
	srv = proxyFromYAML(t, "version: 1\nendpoints: {}\nadapters: {}\n", WithUpstream(addr), WithUpstreamTLS(bare))
	if got := do(t, srv, "GET", "/v1.41/info", "", ""); got.Code != 502 {
		t.Errorf("no client certificate: %+v", got)
	}
	if _, err := UpstreamTLSConfig(t.TempDir(), true); err == nil {
		t.Error("verify without ca.pem was accepted")
	}
	if _, err := New(nil, WithUpstream("unix:///x.sock"), WithUpstreamTLS(verified)); err == nil {
		t.Error("TLS over a unix socket was accepted")
	}
}

// Proxy.Shutdown closes taken-over streams left at the deadline, and
// returns at once when there are none.
func TestShutdownClosesTakenOverStreams(t *testing.T) {
	// A daemon that takes the connection over and then only echoes.
	docker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		io.Copy(conn, buf)
	}))
	defer docker.Close()
	p, err := New(nil, WithUpstream("tcp://"+docker.Listener.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	srv := newLeanServer(t, p)
	defer srv.Close()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("no streams: %v", err)
	}
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(conn, "POST /v1.41/containers/x/attach?stream=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nping")
	head := make([]byte, len("HTTP/1.1 101"))
	if _, err := io.ReadFull(conn, head); err != nil || string(head) != "HTTP/1.1 101" {
		t.Fatalf("switch: %q %v", head, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); err == nil || !strings.Contains(err.Error(), "closed 1 attach or exec streams") {
		t.Errorf("Shutdown = %v", err)
	}
	rest, _ := io.ReadAll(conn) // ends because the proxy closed the stream
	if !strings.HasSuffix(string(rest), "ping") {
		t.Errorf("the stream carried %q", rest)
	}
}

// The daemon's address as users write it: a bare HOST:PORT (as -listen
// takes it) is tcp://, and a port that cannot be is refused by New, not by
// every call afterwards.
func TestUpstreamAddressSpellings(t *testing.T) {
	docker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }))
	defer docker.Close()
	p, err := New(nil, WithUpstream(docker.Listener.Addr().String()), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("bare HOST:PORT: %v", err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/_ping")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "OK" {
		t.Errorf("through a bare HOST:PORT upstream: %d %q", resp.StatusCode, body)
	}
	for _, bad := range []string{"tcp://127.0.0.1:99999", "127.0.0.1:0", "tcp://127.0.0.1:23x5", "127.0.0.1:65536"} {
		if _, err := New(nil, WithUpstream(bad)); err == nil {
			t.Errorf("New accepted the upstream %q", bad)
		}
	}
}
