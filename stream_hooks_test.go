package powerstrip

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamingDocker answers every call with a streamed JSON answer: its head
// at once, then each message the test sends on next, flushed, until next
// is closed.
func streamingDocker(t *testing.T) (upstream string, next chan string) {
	t.Helper()
	next = make(chan string)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Api-Version", "1.41")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for {
			select {
			case msg, ok := <-next:
				if !ok {
					return
				}
				io.WriteString(w, msg)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		defer func() { recover() }() // closed by the test already
		close(next)
	})
	return "tcp://" + srv.Listener.Addr().String(), next
}

func testLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// streamProxy serves a Proxy whose endpoints YAML names hooks, each
// in-process with its settings.
func streamProxy(t *testing.T, upstream, endpoints string, hooks map[string]Hook, settings map[string]HookSettings, opts ...Option) *httptest.Server {
	t.Helper()
	opts = append(opts, WithUpstream(upstream))
	for name, h := range hooks {
		opts = append(opts, WithHookSettings(name, h, settings[name]))
	}
	return proxyFromYAML(t, "version: 1\nendpoints:\n"+endpoints+"adapters: {}\n", opts...)
}

// openStream makes a call and returns the answer once its head arrived,
// failing if that takes more than a few seconds.
func openStream(t *testing.T, srv *httptest.Server, method, path string) (*http.Response, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
	got := make(chan *http.Response, 1)
	go func() {
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- resp
	}()
	select {
	case resp, ok := <-got:
		if !ok {
			t.FailNow()
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp, bufio.NewReader(resp.Body)
	case <-time.After(5 * time.Second):
		t.Fatalf("%s %s: no head within 5s", method, path)
		return nil, nil
	}
}

// readLine reads the next message, failing after a few seconds.
func readLine(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		return line
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return ""
	}
}

// A post-hook on wait does not hold back its head: the head arrives at
// once, the body when Docker sends it, and a v1 post-hook may still
// rewrite the body (not the status, which went out with the head).
func TestStreamLongPollHeadAtOnce(t *testing.T) {
	upstream, next := streamingDocker(t)
	rewrite := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		out := *req.ServerResponse
		body := strings.Replace(BodyText(out.Body), `"StatusCode":3`, `"StatusCode":4`, 1)
		out.Body, out.Code = &body, 500
		return &HookResponse{ModifiedServerResponse: &out}, nil
	})
	logs := &syncBuffer{}
	srv := streamProxy(t, upstream, "  \"POST /**/containers/*/wait\":\n    post: [rewrite]\n",
		map[string]Hook{"rewrite": rewrite}, nil, WithLogger(testLogger(logs)))
	resp, br := openStream(t, srv, "POST", "/v1.41/containers/abc/wait?condition=next-exit")
	if resp.StatusCode != 200 || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("head: %d %v", resp.StatusCode, resp.TransferEncoding)
	}
	next <- `{"Error":null,"StatusCode":3}` + "\n"
	close(next)
	if line := readLine(t, br); line != `{"Error":null,"StatusCode":4}`+"\n" {
		t.Fatalf("body %q", line)
	}
	if !strings.Contains(logs.String(), "adapter=rewrite") || !strings.Contains(logs.String(), "not applied") {
		t.Fatalf("the status change was not logged with the adapter's name:\n%s", logs)
	}
}

// A v1 post-hook on a live stream keeps it live and chunked: each message
// reaches the client before Docker sends the next; the hook sees the whole
// body once it ended, and what it changes is logged, not applied.
func TestStreamLiveWithV1PostHook(t *testing.T) {
	upstream, next := streamingDocker(t)
	var seen sync.WaitGroup
	seen.Add(1)
	var whole string
	echo := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		whole = BodyText(req.ServerResponse.Body)
		seen.Done()
		body := "changed"
		return &HookResponse{ModifiedServerResponse: &ServerResponse{Body: &body}}, nil
	})
	logs := &syncBuffer{}
	srv := streamProxy(t, upstream, "  \"GET /**\":\n    post: [echo]\n", map[string]Hook{"echo": echo}, nil, WithLogger(testLogger(logs)))
	resp, br := openStream(t, srv, "GET", "/v1.41/events")
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" || resp.ContentLength != -1 {
		t.Fatalf("framing: %v %d", resp.TransferEncoding, resp.ContentLength)
	}
	for i := range 3 {
		msg := fmt.Sprintf(`{"status":"start","id":"c%d"}`+"\n", i)
		next <- msg
		if line := readLine(t, br); line != msg {
			t.Fatalf("message %d: %q", i, line)
		}
	}
	close(next)
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Fatalf("after the stream: %q", rest)
	}
	seen.Wait()
	if strings.Count(whole, `"status":"start"`) != 3 {
		t.Fatalf("the hook saw %q", whole)
	}
	if !strings.Contains(logs.String(), "adapter=echo") {
		t.Fatalf("the change was not logged:\n%s", logs)
	}
}

// With the stream extension, each message passes through the hook as it
// arrives, numbered; the hook may rewrite or drop it. A status change is
// not applied.
func TestStreamExtensionPerMessage(t *testing.T) {
	for _, kind := range hookKinds {
		t.Run(kind, func(t *testing.T) {
			upstream, next := streamingDocker(t)
			var mu sync.Mutex
			var indexes []int
			filter := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
				if req.StreamMessage == nil || req.PowerstripProtocolVersion != ProtocolVersionExtended {
					return nil, fmt.Errorf("not a message call: %+v", req)
				}
				mu.Lock()
				indexes = append(indexes, req.StreamMessage.Index)
				mu.Unlock()
				var ev struct{ ID string }
				if err := req.ServerResponse.DecodeBody(&ev); err != nil {
					return nil, err
				}
				if ev.ID == "theirs" {
					return &HookResponse{DropMessage: true}, nil
				}
				out := *req.ServerResponse
				body := strings.Replace(BodyText(out.Body), "mine", "MINE", 1)
				out.Body, out.Code = &body, 500
				return &HookResponse{ModifiedServerResponse: &out}, nil
			})
			endpoints := "  \"GET /**/events\":\n    post: [filter]\n"
			var srv *httptest.Server
			if kind == "http" {
				adapter := httptest.NewServer(NewAdapterHandler(filter))
				t.Cleanup(adapter.Close)
				srv = proxyFromYAML(t, "version: 1\nendpoints:\n"+endpoints+"adapters:\n  filter:\n    url: "+adapter.URL+
					"\n    extensions: [stream]\n", WithUpstream(upstream))
			} else {
				srv = streamProxy(t, upstream, endpoints, map[string]Hook{"filter": filter},
					map[string]HookSettings{"filter": {Extensions: Extensions{Stream: true}}})
			}
			resp, br := openStream(t, srv, "GET", "/v1.41/events")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			next <- `{"ID":"theirs"}` + "\n"
			next <- `{"ID":"mine"}` + "\n"
			if line := readLine(t, br); line != `{"ID":"MINE"}`+"\n" {
				t.Fatalf("got %q", line)
			}
			close(next)
			io.ReadAll(br)
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(indexes) != "[0 1]" {
				t.Fatalf("indexes %v", indexes)
			}
		})
	}
}

// A message over the per-message limit is replaced, in a progress stream,
// by an error message in Docker's shape; the stream goes on.
func TestStreamMessageLimit(t *testing.T) {
	upstream, next := streamingDocker(t)
	pass := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, nil })
	srv := streamProxy(t, upstream, "  \"POST /**/build\":\n    post: [pass]\n", map[string]Hook{"pass": pass},
		map[string]HookSettings{"pass": {Extensions: Extensions{Stream: true}}}, WithStreamMessageLimit(64))
	_, br := openStream(t, srv, "POST", "/v1.41/build")
	next <- `{"stream":"` + strings.Repeat("x", 10<<10) + `"}` + "\n"
	line := readLine(t, br)
	var e struct {
		Error       string `json:"error"`
		ErrorDetail struct {
			Message string `json:"message"`
		} `json:"errorDetail"`
	}
	if err := json.Unmarshal([]byte(line), &e); err != nil || !strings.Contains(e.Error, "WithStreamMessageLimit") || e.ErrorDetail.Message != e.Error {
		t.Fatalf("%q: %v", line, err)
	}
	next <- `{"stream":"Step 2/2"}` + "\n"
	if line := readLine(t, br); line != `{"stream":"Step 2/2"}`+"\n" {
		t.Fatalf("after the large message: %q", line)
	}
}

// A per-message hook that fails (fail closed) ends a progress stream with
// an error message the CLI prints.
func TestStreamHookFailureEndsStream(t *testing.T) {
	upstream, next := streamingDocker(t)
	broken := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, fmt.Errorf("adapter broke") })
	srv := streamProxy(t, upstream, "  \"POST /**/images/create\":\n    post: [broken]\n", map[string]Hook{"broken": broken},
		map[string]HookSettings{"broken": {Extensions: Extensions{Stream: true}}})
	_, br := openStream(t, srv, "POST", "/v1.41/images/create?fromImage=busybox")
	next <- `{"status":"Pulling"}` + "\n"
	line := readLine(t, br)
	if !strings.Contains(line, `"errorDetail"`) || !strings.Contains(line, "adapter broke") {
		t.Fatalf("%q", line)
	}
	if rest, err := io.ReadAll(br); len(rest) != 0 || err != nil {
		t.Fatalf("the stream went on: %q %v", rest, err)
	}
}

// An answer Docker sends whole, even on a stream route (stats with
// stream=false, with its length), keeps the post-hooks' full say.
func TestStreamRouteWholeAnswer(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(200, `{"read":"now"}`))
	deny := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) {
		return &HookResponse{ModifiedServerResponse: &ServerResponse{Code: 403}}, nil
	})
	srv := buildProxy(t, "in-process", "  \"GET /**/stats\":\n    post: [deny]\n", map[string]Hook{"deny": deny}, WithUpstream(docker.upstream()))
	if r := do(t, srv, "GET", "/v1.41/containers/abc/stats?stream=false", "", ""); r.Code != 403 || r.Body != `{"read":"now"}` {
		t.Fatalf("%+v", r)
	}
}

func TestStreamKindOf(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         streamKind
	}{
		{"GET", "/v1.41/events", messageStream},
		{"GET", "/events", messageStream},
		{"GET", "/v1.41/containers/abc/stats", messageStream},
		{"POST", "/v1.41/containers/abc/wait", longPoll},
		{"POST", "/build", progressStream},
		{"POST", "/v1.41/images/create", progressStream},
		{"POST", "/v1.41/images/load", progressStream},
		{"POST", "/v1.41/images/registry.local:5000/team/app/push", progressStream},
		{"POST", "/v1.41/plugins/pull", progressStream},
		{"POST", "/v1.41/containers/create", wholeAnswer},
		{"GET", "/v1.41/containers/abc/json", wholeAnswer},
		{"POST", "/v1.41/events", wholeAnswer},
		{"GET", "/", wholeAnswer},
	} {
		if got := streamKindOf(tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}

// BenchmarkHookedEventStreams holds 500 idle event streams open at once
// and reports the memory (heap and goroutine stacks) of the whole process
// per stream: client, proxy and daemon, which share it, with no hook, with
// a v1 post-hook, and with a stream-extension post-hook on events. The
// differences are what a hook costs a stream.
func BenchmarkHookedEventStreams(b *testing.B) {
	const n = 500
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	b.Cleanup(daemon.Close)
	noop := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, nil })
	for _, tc := range []struct {
		name string
		cfg  string
		ext  Extensions
	}{
		{"no-hook", "", Extensions{}},
		{"v1-post-hook", "  \"GET /**/events\":\n    post: [h]\n", Extensions{}},
		{"stream-hook", "  \"GET /**/events\":\n    post: [h]\n", Extensions{Stream: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg, err := ParseConfig([]byte("version: 1\nendpoints:\n" + tc.cfg + "adapters: {}\n"))
			if tc.cfg == "" {
				cfg, err = nil, nil
			}
			if err != nil {
				b.Fatal(err)
			}
			p, err := New(cfg, WithUpstream("tcp://"+daemon.Listener.Addr().String()), WithHookSettings("h", noop, HookSettings{Extensions: tc.ext}))
			if err != nil {
				b.Fatal(err)
			}
			addr := newLeanServer(b, p).Listener.Addr().String()
			var perStream float64
			for b.Loop() {
				perStream = holdStreams(b, addr, n)
			}
			b.ReportMetric(perStream, "B/stream")
		})
	}
}

// holdStreams opens n event streams, waits for each head, and returns the
// process's heap and stack in use per stream while all are open.
func holdStreams(b *testing.B, addr string, n int) float64 {
	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("stream %d: %v", len(conns), err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&during)
	used := float64(during.HeapInuse+during.StackInuse) - float64(before.HeapInuse+before.StackInuse)
	return used / float64(n)
}

// Each message of a post-hooked stream goes out as one chunk, as Docker
// sends it, however long: SDKs read a message per chunk.
func TestStreamMessagePerChunk(t *testing.T) {
	upstream, next := streamingDocker(t)
	pass := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, nil })
	srv := streamProxy(t, upstream, "  \"POST /**/build\":\n    post: [pass]\n", map[string]Hook{"pass": pass}, nil)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST /v1.41/build HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	for _, size := range []int{10 << 10, 20} {
		msg := `{"stream":"` + strings.Repeat("y", size) + `"}` + "\n"
		next <- msg
		chunk, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%x\r\n", len(msg)); chunk != want {
			t.Fatalf("a %d-byte message came in a chunk of %q", len(msg), chunk)
		}
		if _, err := br.Discard(len(msg) + 2); err != nil {
			t.Fatal(err)
		}
	}
}
