package powerstrip_test

import (
	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/metrics"
)

func init() {
	powerstrip.BenchMetrics = func() powerstrip.Observer { return metrics.New() }
}
