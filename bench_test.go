package powerstrip

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
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

// benchProxy serves a Proxy in front of a minimal daemon that answers
// every call with a small JSON body.
func benchProxy(b *testing.B, cfg *Config, opts ...Option) *httptest.Server {
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"Id":"4f1c","Warnings":[]}`)
	}))
	b.Cleanup(daemon.Close)
	p, err := New(cfg, append([]Option{WithUpstream("tcp://" + daemon.Listener.Addr().String())}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	srv := newLeanServer(b, p)
	b.Cleanup(srv.Close)
	return srv
}

func benchCalls(b *testing.B, srv *httptest.Server) {
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(srv.URL+"/v1.41/containers/create", "application/json", strings.NewReader(`{"Image":"busybox"}`))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

func BenchmarkPassThrough(b *testing.B) {
	benchCalls(b, benchProxy(b, nil))
}

func BenchmarkChainInProcess(b *testing.B) {
	cfg := &Config{Version: 1, Endpoints: []Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"h"}, Post: []string{"h"}}}}
	noop := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, nil })
	benchCalls(b, benchProxy(b, cfg, WithHook("h", noop)))
}

func BenchmarkChainLoopbackAdapter(b *testing.B) {
	adapter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"PowerstripProtocolVersion":1}`)
	}))
	b.Cleanup(adapter.Close)
	cfg := &Config{Version: 1,
		Endpoints: []Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"a"}}},
		Adapters:  map[string]Adapter{"a": {URL: adapter.URL}}}
	benchCalls(b, benchProxy(b, cfg))
}
