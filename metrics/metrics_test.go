package metrics_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/metrics"
)

// Events in, series out: each event lands in its series with bounded
// labels.
func TestMetricsFromEvents(t *testing.T) {
	m := metrics.New()
	lean := &powerstrip.CallInfo{Method: "GET", Path: "/v1.41/containers/abc/json", Status: 200, Duration: 3 * time.Millisecond}
	m.CallStart(lean)
	if got := testutil.ToFloat64(metrics.InFlight(m)); got != 1 {
		t.Errorf("in flight: %v", got)
	}
	m.CallEnd(lean)
	hooked := &powerstrip.CallInfo{Method: "POST", Path: "/v1.41/containers/create",
		Endpoints: []string{"POST /*/containers/create", "* /**"}, Status: 403, Failure: powerstrip.FailureRejected}
	m.CallStart(hooked)
	m.HookDone(hooked, &powerstrip.HookInfo{Hook: "policy", Phase: powerstrip.PreHook, Outcome: powerstrip.OutcomeRejected, Duration: time.Millisecond})
	m.CallEnd(hooked)
	odd := &powerstrip.CallInfo{Method: "BREW", Path: "/coffee", Status: 502, Failure: powerstrip.FailureDaemon}
	m.CallStart(odd)
	m.CallEnd(odd)
	for _, f := range []powerstrip.Failure{powerstrip.FailureRequestBodyLimit, powerstrip.FailureHookMemoryLimit, powerstrip.FailureResponseBufferLimit} {
		c := &powerstrip.CallInfo{Method: "POST", Endpoints: []string{"POST /*/containers/create"}, Status: 413, Failure: f}
		m.CallStart(c)
		m.CallEnd(c)
	}
	gone := &powerstrip.CallInfo{Method: "GET", Failure: powerstrip.FailureClientGone}
	m.CallStart(gone)
	m.CallEnd(gone)
	m.StreamStart(lean)

	want := `
# HELP powerstrip_calls_total Calls served, by method, endpoint (the first config endpoint whose hooks the call met, or none) and the status the client got (none if it hung up first).
# TYPE powerstrip_calls_total counter
powerstrip_calls_total{endpoint="POST /*/containers/create",method="POST",status="403"} 1
powerstrip_calls_total{endpoint="POST /*/containers/create",method="POST",status="413"} 3
powerstrip_calls_total{endpoint="none",method="GET",status="200"} 1
powerstrip_calls_total{endpoint="none",method="GET",status="none"} 1
powerstrip_calls_total{endpoint="none",method="OTHER",status="502"} 1
# HELP powerstrip_hook_calls_total Hook calls, by hook, phase (pre-hook, post-hook, unwind) and outcome (ok, changed, answered, rejected, failed, timed_out, failed_open, canceled, dry_run_reject, dry_run_change).
# TYPE powerstrip_hook_calls_total counter
powerstrip_hook_calls_total{hook="policy",outcome="rejected",phase="pre-hook"} 1
# HELP powerstrip_daemon_errors_total Calls failed because the Docker daemon could not be reached or broke off its answer.
# TYPE powerstrip_daemon_errors_total counter
powerstrip_daemon_errors_total 1
# HELP powerstrip_body_limit_refusals_total Calls refused for a body limit: request_body (413), hook_memory (503, or 502 for an answer), response_buffer (502).
# TYPE powerstrip_body_limit_refusals_total counter
powerstrip_body_limit_refusals_total{limit="hook_memory"} 1
powerstrip_body_limit_refusals_total{limit="request_body"} 1
powerstrip_body_limit_refusals_total{limit="response_buffer"} 1
# HELP powerstrip_calls_in_flight Calls being served now, streams included.
# TYPE powerstrip_calls_in_flight gauge
powerstrip_calls_in_flight 0
# HELP powerstrip_streams_open Connections Docker took over (attach, exec start) being relayed now.
# TYPE powerstrip_streams_open gauge
powerstrip_streams_open 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"powerstrip_calls_total", "powerstrip_hook_calls_total", "powerstrip_daemon_errors_total",
		"powerstrip_body_limit_refusals_total", "powerstrip_calls_in_flight", "powerstrip_streams_open"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.Registry(), "powerstrip_call_duration_seconds"); n != 3 {
		t.Errorf("%d duration series, want one per method and endpoint: 3", n)
	}
	if n := testutil.CollectAndCount(m.Registry(), "powerstrip_hook_duration_seconds"); n != 1 {
		t.Errorf("%d hook duration series", n)
	}
	m.StreamEnd(lean)
	if got := testutil.ToFloat64(metrics.StreamsOpen(m)); got != 0 {
		t.Errorf("streams open after the end: %v", got)
	}
}

// A proxy with Metrics, end to end in-process: the lean path, a hooked
// call, a rejection and a daemon error land in their series, and the
// handler serves them in the text format.
func TestMetricsThroughAProxy(t *testing.T) {
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		io.WriteString(w, `{}`)
	}))
	defer daemon.Close()
	m := metrics.New()
	deny := powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		if strings.Contains(req.ClientRequest.Request, "deny") {
			return nil, &powerstrip.Rejection{Code: 403, Body: []byte("no")}
		}
		return nil, nil
	})
	cfg := &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"policy"}}}}
	p, err := powerstrip.New(cfg, powerstrip.WithUpstream("tcp://"+daemon.Listener.Addr().String()),
		powerstrip.WithHook("policy", deny), powerstrip.WithObserver(m))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p}
	go p.Serve(srv, l) //nolint:errcheck // ends with Close
	defer srv.Close()
	base := "http://" + l.Addr().String()
	post := func(path string) {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for range 3 {
		post("/v1.41/containers/abc/start")
	}
	post("/v1.41/containers/create")
	post("/v1.41/containers/create?name=deny")
	count := func(labels ...string) float64 {
		return testutil.ToFloat64(metrics.Calls(m).WithLabelValues(labels...))
	}
	waitFor(t, func() bool {
		return count("POST", "none", "201") == 3 && count("POST", "POST /*/containers/create", "403") == 1
	})
	if got := count("POST", "POST /*/containers/create", "201"); got != 1 {
		t.Errorf("hooked and allowed: %v", got)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`powerstrip_hook_calls_total{hook="policy",outcome="ok",phase="pre-hook"} 1`,
		`powerstrip_hook_calls_total{hook="policy",outcome="rejected",phase="pre-hook"} 1`,
		`powerstrip_call_duration_seconds_count{endpoint="none",method="POST"} 3`,
		`powerstrip_call_failures_total{failure="rejected"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the handler's answer lacks %q", want)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}

// The library must not depend on Prometheus' client: that is why the
// metrics live here.
func TestLibraryDoesNotImportPrometheus(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/powerstrip-go/powerstrip").CombinedOutput()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		t.Skipf("no go command: %v", err)
	}
	if strings.Contains(string(out), "prometheus") {
		t.Errorf("the powerstrip package depends on Prometheus:\n%s", out)
	}
}

// BenchmarkCall is what Metrics add to a call no hook matches: its start
// and its end.
func BenchmarkCall(b *testing.B) {
	m := metrics.New()
	c := &powerstrip.CallInfo{Method: "POST", Path: "/v1.41/containers/create", Status: 201, Duration: time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.CallStart(c)
			m.CallEnd(c)
		}
	})
}
