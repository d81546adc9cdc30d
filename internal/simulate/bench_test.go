package simulate

import (
	"testing"

	"github.com/floodgate/floodgate/internal/scale"
)

// BenchmarkSimulate reports simulated requests per second of wall time for
// one policy (Floodgate's, so decisions run every simulated second) on a
// 10-minute diurnal-like ramp between 100 and 600 req/s.
func BenchmarkSimulate(b *testing.B) {
	tr := &Trace{Name: "bench", Points: []Point{{0, 100}, {200, 600}, {400, 300}, {600, 300}}}
	cfg := DefaultConfig()
	cfg.Interp = Linear
	p := scale.DefaultPolicy()
	p.MinReplicas = 0
	p.Targets = []scale.Target{{Metric: scale.MetricConcurrency, Value: 7}}
	var requests int64
	b.ReportAllocs()
	for b.Loop() {
		r, err := Run(tr, cfg, Floodgate(p))
		if err != nil {
			b.Fatal(err)
		}
		requests += r.Completed + r.Dropped + r.Unfinished
	}
	b.ReportMetric(float64(requests)/b.Elapsed().Seconds(), "requests/s")
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(requests), "ns/request")
}
