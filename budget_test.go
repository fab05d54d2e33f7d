package powerstrip

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// jsonBody is a JSON object of about n bytes.
func jsonBody(n int) string {
	return `{"Image":"busybox","Pad":"` + strings.Repeat("x", max(n-30, 0)) + `"}`
}

// postRaw sends a create with body on a new connection and returns the
// answer's status and body.
func postRaw(t testing.TB, addr, body string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// The memory held for hooks is bounded across calls: a body that does not
// fit while others are held is refused with 503 before Docker sees it, and
// the same call goes through once room is back.
func TestHookMemoryLimit(t *testing.T) {
	d := newRawDaemon(t, answerJSON(201, `{"Id":"4f1c"}`))
	entered, release := make(chan struct{}, 1), make(chan struct{})
	hold := HookFunc(func(ctx context.Context, req *HookRequest) (*HookResponse, error) {
		if strings.Contains(BodyText(req.ClientRequest.Body), `"hold"`) {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil, nil
	})
	cfg := &Config{Version: 1, Endpoints: []Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"h"}}}}
	_, addr := leanProxy(t, d.addr(), cfg, WithHook("h", hold), WithHookMemoryLimit(1<<20))
	first := make(chan int, 1)
	go func() {
		code, _ := postRaw(t, addr, `{"hold":1,"Pad":"`+strings.Repeat("x", 600<<10)+`"}`)
		first <- code
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first call never reached its hook")
	}
	second := jsonBody(600 << 10)
	code, msg := postRaw(t, addr, second)
	if code != http.StatusServiceUnavailable || !strings.Contains(msg, "WithHookMemoryLimit") || !strings.Contains(msg, "Docker was not called") {
		t.Fatalf("over the limit: %d %s", code, msg)
	}
	close(release)
	if code := <-first; code != 201 {
		t.Fatalf("the held call: %d", code)
	}
	d.request(t) // the first call's
	if code, msg := postRaw(t, addr, second); code != 201 {
		t.Fatalf("after room came back: %d %s", code, msg)
	}
	if got := d.request(t); !strings.HasSuffix(got, second) {
		t.Fatalf("Docker got %d bytes, not the body sent", len(got))
	}
}

// A body larger than the whole budget is refused as such, not waited on.
func TestHookMemoryLimitLargerThanBudget(t *testing.T) {
	d := newRawDaemon(t, answerJSON(201, `{}`))
	cfg := &Config{Version: 1, Endpoints: []Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"h"}}}}
	_, addr := leanProxy(t, d.addr(), cfg, WithHook("h", HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, nil })),
		WithHookMemoryLimit(64<<10))
	if code, msg := postRaw(t, addr, jsonBody(100<<10)); code != http.StatusServiceUnavailable {
		t.Fatalf("%d %s", code, msg)
	}
	if code, _ := postRaw(t, addr, jsonBody(10<<10)); code != 201 {
		t.Fatalf("a small body after: %d", code)
	}
}

// BenchmarkHeldBody reports what an 8 MiB JSON body held for a pre-hook
// costs: allocated bytes per call, as a multiple of the body
// ("alloc-x"), with an in-process hook and with a remote adapter that
// echoes the body back (as an adapter that re-encodes it does).
func BenchmarkHeldBody(b *testing.B) {
	const size = 8 << 20
	body := jsonBody(size)
	adapter := httptest.NewServer(NewAdapterHandler(HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		return &HookResponse{ModifiedClientRequest: &req.ClientRequest}, nil
	})))
	b.Cleanup(adapter.Close)
	cfg := func(remote bool) *Config {
		c := &Config{Version: 1, Endpoints: []Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"h"}}}}
		if remote {
			c.Adapters = map[string]AdapterSettings{"h": {URL: adapter.URL}}
		}
		return c
	}
	noop := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) { return nil, nil })
	for _, tc := range []struct {
		name string
		cfg  *Config
		opts []Option
	}{
		{"in-process", cfg(false), []Option{WithHook("h", noop)}},
		{"remote-echo", cfg(true), nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			addr := benchProxy(b, true, tc.cfg, tc.opts...)
			b.ReportAllocs()
			b.SetBytes(size)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				if code, msg := postRaw(b, addr, body); code != 201 {
					b.Fatalf("%d %s", code, msg)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/size, "alloc-x")
		})
	}
}

// BenchmarkHeldBodies30 holds thirty 8 MiB bodies for an in-process hook
// at once and reports the heap in use at that moment, per body, as a
// multiple of the body ("heap-x").
func BenchmarkHeldBodies30(b *testing.B) {
	const size, n = 8 << 20, 30
	body := jsonBody(size)
	var arrived sync.WaitGroup
	gate := make(chan struct{})
	hook := HookFunc(func(context.Context, *HookRequest) (*HookResponse, error) {
		arrived.Done()
		<-gate
		return nil, nil
	})
	cfg := &Config{Version: 1, Endpoints: []Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"h"}}}}
	addr := benchProxy(b, true, cfg, WithHook("h", hook))
	var worst float64
	for b.Loop() {
		arrived.Add(n)
		var done sync.WaitGroup
		for range n {
			done.Add(1)
			go func() {
				defer done.Done()
				postRaw(b, addr, body)
			}()
		}
		arrived.Wait()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		// The test's own copy of the body counts once.
		worst = max(worst, float64(ms.HeapInuse-size)/float64(n*size))
		close(gate)
		done.Wait()
		gate = make(chan struct{})
	}
	b.ReportMetric(worst, "heap-x")
}
