package telemetry

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The collector turns a snapshot of pools and targets into series: one-hot
// states, counters, the latency histogram, and no bulkhead series for an
// upstream without one.
func TestUpstreamCollector(t *testing.T) {
	m := NewMetrics("test")
	m.RegisterUpstreams(func() ([]PoolStats, []TargetStats) {
		return []PoolStats{
				{Upstream: "users", Breaker: "open", Eligible: 2, InUse: 3, Queued: 1, Retries: 7, Denied: 2},
				{Upstream: "plain", Eligible: 1, InUse: -1},
			}, []TargetStats{{
				Upstream: "users", Target: "10.0.0.1:80", State: "ejected", Weight: 5, InFlight: 4,
				Requests: 100, Failures: 9, Ejections: map[string]uint64{"hang": 1, "consecutive_failures": 2},
				LatencyEWMA: 0.25, LatencyBuckets: map[float64]uint64{0.1: 60, 1: 90}, LatencyCount: 100, LatencySum: 12.5,
			}}
	})
	want := `
# HELP floodgate_upstream_breaker_state Upstream circuit breaker, one series per state with value 1 for the current one.
# TYPE floodgate_upstream_breaker_state gauge
floodgate_upstream_breaker_state{state="closed",upstream="users"} 0
floodgate_upstream_breaker_state{state="half_open",upstream="users"} 0
floodgate_upstream_breaker_state{state="open",upstream="users"} 1
# HELP floodgate_upstream_concurrency Requests holding a bulkhead slot.
# TYPE floodgate_upstream_concurrency gauge
floodgate_upstream_concurrency{upstream="users"} 3
# HELP floodgate_upstream_queued Requests waiting for a bulkhead slot.
# TYPE floodgate_upstream_queued gauge
floodgate_upstream_queued{upstream="users"} 1
# HELP floodgate_upstream_retries_total Retries sent to the upstream.
# TYPE floodgate_upstream_retries_total counter
floodgate_upstream_retries_total{upstream="plain"} 0
floodgate_upstream_retries_total{upstream="users"} 7
# HELP floodgate_upstream_retries_denied_total Retries not sent because the retry budget was spent.
# TYPE floodgate_upstream_retries_denied_total counter
floodgate_upstream_retries_denied_total{upstream="plain"} 0
floodgate_upstream_retries_denied_total{upstream="users"} 2
# HELP floodgate_upstream_target_ejections_total Ejections of the target by reason (consecutive failures, failure rate, hang, probe, failed trial).
# TYPE floodgate_upstream_target_ejections_total counter
floodgate_upstream_target_ejections_total{reason="consecutive_failures",target="10.0.0.1:80",upstream="users"} 2
floodgate_upstream_target_ejections_total{reason="hang",target="10.0.0.1:80",upstream="users"} 1
# HELP floodgate_upstream_target_state Target health, one series per state with value 1 for the current one.
# TYPE floodgate_upstream_target_state gauge
floodgate_upstream_target_state{state="draining",target="10.0.0.1:80",upstream="users"} 0
floodgate_upstream_target_state{state="ejected",target="10.0.0.1:80",upstream="users"} 1
floodgate_upstream_target_state{state="half_open",target="10.0.0.1:80",upstream="users"} 0
floodgate_upstream_target_state{state="healthy",target="10.0.0.1:80",upstream="users"} 0
floodgate_upstream_target_state{state="unhealthy",target="10.0.0.1:80",upstream="users"} 0
# HELP floodgate_upstream_target_latency_seconds Time to response head per target.
# TYPE floodgate_upstream_target_latency_seconds histogram
floodgate_upstream_target_latency_seconds_bucket{target="10.0.0.1:80",upstream="users",le="0.1"} 60
floodgate_upstream_target_latency_seconds_bucket{target="10.0.0.1:80",upstream="users",le="1"} 90
floodgate_upstream_target_latency_seconds_bucket{target="10.0.0.1:80",upstream="users",le="+Inf"} 100
floodgate_upstream_target_latency_seconds_sum{target="10.0.0.1:80",upstream="users"} 12.5
floodgate_upstream_target_latency_seconds_count{target="10.0.0.1:80",upstream="users"} 100
`
	names := []string{"floodgate_upstream_breaker_state", "floodgate_upstream_concurrency", "floodgate_upstream_queued",
		"floodgate_upstream_retries_total", "floodgate_upstream_retries_denied_total", "floodgate_upstream_target_ejections_total",
		"floodgate_upstream_target_state", "floodgate_upstream_target_latency_seconds"}
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{
		"floodgate_upstream_target_in_flight": 4, "floodgate_upstream_target_requests_total": 100,
		"floodgate_upstream_target_failures_total": 9, "floodgate_upstream_target_latency_ewma_seconds": 0.25,
		"floodgate_upstream_target_weight": 5,
	} {
		mfs, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			found = true
			got := mf.GetMetric()[0]
			val := got.GetGauge().GetValue() + got.GetCounter().GetValue()
			if len(mf.GetMetric()) != 1 || val != v {
				t.Errorf("%s = %v (%d series), want %v", name, val, len(mf.GetMetric()), v)
			}
		}
		if !found {
			t.Errorf("%s missing", name)
		}
	}
}
