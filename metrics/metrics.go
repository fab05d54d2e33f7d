// Package metrics counts what a powerstrip.Proxy does, in Prometheus'
// format: calls by method, endpoint and status, their durations, each
// hook's calls, outcomes and durations, calls in flight, open attach and
// exec streams, daemon errors and body-limit refusals.
//
//	m := metrics.New()
//	proxy, err := powerstrip.New(cfg, powerstrip.WithObserver(m))
//	go http.ListenAndServe("127.0.0.1:9323", m.Handler())
//
// It lives apart from the powerstrip package so that the library does not
// depend on Prometheus' client; a Metrics registers in a registry of its
// own, never in Prometheus' global one.
package metrics

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/powerstrip-go/powerstrip"
)

// Label values for what has none: a call no endpoint's hooks matched, and
// a call the client hung up on before its answer.
const (
	NoEndpoint = "none"
	NoStatus   = "none"
)

// Buckets of the duration histograms, in seconds. Calls range from a ping
// (under a millisecond) to a pull or a build (minutes); hooks from an
// in-process check (microseconds) to an adapter's timeout (30 s).
var (
	CallBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	HookBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
)

// Metrics is a powerstrip.Observer that counts in Prometheus' format. It
// is safe for concurrent use; one Metrics may observe several Proxies,
// whose calls it then adds up.
type Metrics struct {
	reg          *prometheus.Registry
	calls        *prometheus.CounterVec
	callDuration *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	hookCalls    *prometheus.CounterVec
	hookDuration *prometheus.HistogramVec
	streamsOpen  prometheus.Gauge
	streams      prometheus.Counter
	failures     *prometheus.CounterVec
	daemonErrors prometheus.Counter
	refusals     *prometheus.CounterVec
	// series caches a call's two series by their labels: resolving label
	// values costs more than counting, and this is on every call's path.
	series sync.Map // callKey → *callSeries
}

type callKey struct {
	method, endpoint string
	status           int
}

type callSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// New returns Metrics registered in a registry of their own, with the Go
// runtime's and the process's collectors beside them.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "powerstrip_calls_total",
			Help: "Calls served, by method, endpoint (the first config endpoint whose hooks the call met, or none) and the status the client got (none if it hung up first).",
		}, []string{"method", "endpoint", "status"}),
		callDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "powerstrip_call_duration_seconds",
			Help:    "Time from a call's head to the end of its answer (or stream), hooks included, by method and endpoint.",
			Buckets: CallBuckets,
		}, []string{"method", "endpoint"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "powerstrip_calls_in_flight",
			Help: "Calls being served now, streams included.",
		}),
		hookCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "powerstrip_hook_calls_total",
			Help: "Hook calls, by hook, phase (pre-hook, post-hook, unwind) and outcome (ok, changed, answered, rejected, failed, timed_out, failed_open, canceled, dry_run_reject, dry_run_change).",
		}, []string{"hook", "phase", "outcome"}),
		hookDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "powerstrip_hook_duration_seconds",
			Help:    "Time one hook call took, by hook and phase.",
			Buckets: HookBuckets,
		}, []string{"hook", "phase"}),
		streamsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "powerstrip_streams_open",
			Help: "Connections Docker took over (attach, exec start) being relayed now.",
		}),
		streams: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "powerstrip_streams_total",
			Help: "Connections Docker took over (attach, exec start), relayed since the start.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "powerstrip_call_failures_total",
			Help: "Calls that did not get Docker's answer, by why (rejected, hook, daemon, request_body_limit, response_buffer_limit, hook_memory_limit, bad_request, client_gone, other).",
		}, []string{"failure"}),
		daemonErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "powerstrip_daemon_errors_total",
			Help: "Calls failed because the Docker daemon could not be reached or broke off its answer.",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "powerstrip_body_limit_refusals_total",
			Help: "Calls refused for a body limit: request_body (413), hook_memory (503, or 502 for an answer), response_buffer (502).",
		}, []string{"limit"}),
	}
	m.reg.MustRegister(m.calls, m.callDuration, m.inFlight, m.hookCalls, m.hookDuration,
		m.streamsOpen, m.streams, m.failures, m.daemonErrors, m.refusals,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the metrics are registered, for an embedder to add
// collectors of its own or to gather them into another registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus' text format (or OpenMetrics,
// when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// CallStart counts the call in flight.
func (m *Metrics) CallStart(*powerstrip.CallInfo) { m.inFlight.Inc() }

// CallEnd counts the call, its duration and its failure.
func (m *Metrics) CallEnd(c *powerstrip.CallInfo) {
	m.inFlight.Dec()
	s := m.callSeries(callKey{method: methodLabel(c.Method), endpoint: endpointLabel(c), status: c.Status})
	s.count.Inc()
	s.duration.Observe(c.Duration.Seconds())
	if c.Failure == "" {
		return
	}
	m.failures.WithLabelValues(string(c.Failure)).Inc()
	switch c.Failure {
	case powerstrip.FailureDaemon:
		m.daemonErrors.Inc()
	case powerstrip.FailureRequestBodyLimit:
		m.refusals.WithLabelValues("request_body").Inc()
	case powerstrip.FailureHookMemoryLimit:
		m.refusals.WithLabelValues("hook_memory").Inc()
	case powerstrip.FailureResponseBufferLimit:
		m.refusals.WithLabelValues("response_buffer").Inc()
	}
}

// HookDone counts one hook call, its outcome and its duration.
func (m *Metrics) HookDone(_ *powerstrip.CallInfo, h *powerstrip.HookInfo) {
	m.hookCalls.WithLabelValues(h.Hook, h.Phase, string(h.Outcome)).Inc()
	m.hookDuration.WithLabelValues(h.Hook, h.Phase).Observe(h.Duration.Seconds())
}

// StreamStart counts an open stream.
func (m *Metrics) StreamStart(*powerstrip.CallInfo) {
	m.streamsOpen.Inc()
	m.streams.Inc()
}

// StreamEnd counts a stream closed.
func (m *Metrics) StreamEnd(*powerstrip.CallInfo) { m.streamsOpen.Dec() }

func (m *Metrics) callSeries(k callKey) *callSeries {
	if s, ok := m.series.Load(k); ok {
		return s.(*callSeries)
	}
	status := NoStatus
	if k.status != 0 {
		status = strconv.Itoa(k.status)
	}
	s, _ := m.series.LoadOrStore(k, &callSeries{
		count:    m.calls.WithLabelValues(k.method, k.endpoint, status),
		duration: m.callDuration.WithLabelValues(k.method, k.endpoint),
	})
	return s.(*callSeries)
}

// methodLabel bounds the method label: a client may send any token as a
// method, and each would be a series of its own.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// endpointLabel is the first endpoint whose hooks the call met: bounded
// by the config, unlike the path.
func endpointLabel(c *powerstrip.CallInfo) string {
	if len(c.Endpoints) == 0 {
		return NoEndpoint
	}
	return c.Endpoints[0]
}
