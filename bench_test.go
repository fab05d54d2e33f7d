package powerstrip

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// benchEndpoints is a config of realistic size: a dozen endpoints, most
// calls matching none.
var benchEndpoints = []Endpoint{
	{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"a"}},
	{Method: "POST", Pattern: "/*/containers/*/start", Post: []string{"a"}},
	{Method: "POST", Pattern: "/*/containers/*/stop", Post: []string{"a"}},
	{Method: "POST", Pattern: "/*/containers/*/kill", Post: []string{"a"}},
	{Method: "DELETE", Pattern: "/*/containers/*", Post: []string{"a"}},
	{Method: "POST", Pattern: "/*/build", Pre: []string{"a"}},
	{Method: "POST", Pattern: "/*/images/create", Pre: []string{"a"}},
	{Method: "POST", Pattern: "/*/networks/create", Pre: []string{"a"}},
	{Method: "POST", Pattern: "/*/volumes/create", Pre: []string{"a"}},
	{Method: "POST", Pattern: "/*/services/create", Pre: []string{"a"}},
	{Method: "*", Pattern: "/v1.4{0,1}/exec/*/start", Pre: []string{"a"}},
	{Method: "GET", Pattern: "/*/containers/*/json", Post: []string{"a"}},
}

func BenchmarkMatch(b *testing.B) {
	p, err := New(&Config{Version: 1, Endpoints: benchEndpoints}, WithHook("a", HookFunc(nil)))
	if err != nil {
		b.Fatal(err)
	}
	st := p.state.Load()
	for _, tc := range []struct{ name, method, path string }{
		{"hit-versioned", "POST", "/v1.41/containers/create"},
		{"hit-unversioned", "POST", "/containers/abc/start"},
		{"miss", "GET", "/v1.41/_ping"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st.hooksFor(tc.method, tc.path)
			}
		})
	}
}

// The call benchmarks drive the proxy with raw HTTP/1.1 on kept-alive
// loopback connections, against a daemon that answers every call with the
// same bytes, so that the time and allocations reported are mostly the
// proxy's own.

const benchAnswer = "HTTP/1.1 201 Created\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n" +
	"Date: Sun, 22 Nov 2026 01:00:00 GMT\r\nContent-Length: 27\r\n\r\n{\"Id\":\"4f1c\",\"Warnings\":[]}"

const benchRequest = "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nUser-Agent: Docker-Client/28.2.2 (linux)\r\n" +
	"Content-Type: application/json\r\nContent-Length: 19\r\n\r\n{\"Image\":\"busybox\"}"

// benchDaemon answers every call with benchAnswer.
func benchDaemon(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go serveEach(l, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			if _, err := readBenchMessage(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, benchAnswer); err != nil {
				return
			}
		}
	})
	return "tcp://" + l.Addr().String()
}

// readBenchMessage reads one head and its Content-Length body, without
// allocating, and returns the status or request line's third byte run.
func readBenchMessage(br *bufio.Reader) (status string, err error) {
	length := 0
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return "", err
		}
		if first && len(line) > 12 && string(line[:5]) == "HTTP/" {
			status = string(line[9:12])
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && (line[0] == 'C' || line[0] == 'c') && strings.EqualFold(string(line[:15]), "content-length:") {
			length, _ = strconv.Atoi(strings.TrimSpace(string(line[15:])))
		}
	}
	_, err = br.Discard(length)
	return status, err
}

// benchServe serves p with Serve (lean) or with srv.Serve (net/http only).
func benchServe(b *testing.B, p *Proxy, lean bool) string {
	if lean {
		return newLeanServer(b, p).Listener.Addr().String()
	}
	srv := httptest.NewServer(p)
	b.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func benchCalls(b *testing.B, addr string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for pb.Next() {
			if _, err := io.WriteString(c, benchRequest); err != nil {
				b.Error(err)
				return
			}
			if status, err := readBenchMessage(br); err != nil || status != "201" {
				b.Errorf("status %q, %v", status, err)
				return
			}
		}
	})
}

func benchProxy(b *testing.B, lean bool, cfg *Config, opts ...Option) string {
	p, err := New(cfg, append([]Option{WithUpstream(benchDaemon(b))}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return benchServe(b, p, lean)
}

// BenchMetrics makes the Observer of the "-metrics" benchmarks: package
// metrics' (bench_metrics_test.go sets it), which this package cannot
// import.
var BenchMetrics func() Observer

// BenchmarkPassThrough is a call no hook matches, on the lean path and on
// net/http's side, without an Observer and with the Prometheus metrics.
func BenchmarkPassThrough(b *testing.B) {
	b.Run("lean", func(b *testing.B) { benchCalls(b, benchProxy(b, true, nil)) })
	b.Run("net-http", func(b *testing.B) { benchCalls(b, benchProxy(b, false, nil)) })
	b.Run("lean-metrics", func(b *testing.B) { benchCalls(b, benchProxy(b, true, nil, WithObserver(BenchMetrics()))) })
	b.Run("net-http-metrics", func(b *testing.B) { benchCalls(b, benchProxy(b, false, nil, WithObserver(BenchMetrics()))) })
}

// BenchmarkChainInProcess is a call with an in-process hook that changes
// nothing: as a pre-hook (the lean path), and as a pre- and post-hook
// (net/http's side, which buffers the answer for the post-hook).
func BenchmarkChainInProcess(b *testing.B) {
	noop := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, nil })
	pre := &Config{Version: 1, Endpoints: []Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"h"}}}}
	both := &Config{Version: 1, Endpoints: []Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"h"}, Post: []string{"h"}}}}
	b.Run("pre", func(b *testing.B) { benchCalls(b, benchProxy(b, true, pre, WithHook("h", noop))) })
	b.Run("pre-post", func(b *testing.B) { benchCalls(b, benchProxy(b, true, both, WithHook("h", noop))) })
}

// BenchmarkChainLoopbackAdapter is a call with a remote pre-hook on
// loopback that changes nothing.
func BenchmarkChainLoopbackAdapter(b *testing.B) {
	adapter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"PowerstripProtocolVersion":1}`)
	}))
	b.Cleanup(adapter.Close)
	cfg := &Config{Version: 1,
		Endpoints: []Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"a"}}},
		Adapters:  map[string]AdapterSettings{"a": {URL: adapter.URL}}}
	benchCalls(b, benchProxy(b, true, cfg))
}
