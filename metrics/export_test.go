package metrics

import "github.com/prometheus/client_golang/prometheus"

// For the tests of package metrics_test.
var (
	InFlight    = func(m *Metrics) prometheus.Gauge { return m.inFlight }
	StreamsOpen = func(m *Metrics) prometheus.Gauge { return m.streamsOpen }
	Calls       = func(m *Metrics) *prometheus.CounterVec { return m.calls }
)
