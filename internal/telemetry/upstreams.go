package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// TargetStats is one upstream target's state as the metrics show it.
type TargetStats struct {
	Upstream, Target string
	State            string // healthy, half_open, ejected, unhealthy, draining
	Weight           int
	InFlight         int64
	Requests         uint64
	Failures         uint64
	Ejections        map[string]uint64 // by reason
	LatencyEWMA      float64           // seconds
	LatencyBuckets   map[float64]uint64
	LatencyCount     uint64
	LatencySum       float64
}

// PoolStats is one upstream's pool-wide state.
type PoolStats struct {
	Upstream string
	Breaker  string // closed, open, half_open; "" without a breaker
	Eligible int
	InUse    int64 // bulkhead slots held; -1 without a bulkhead
	Queued   int64
	Retries  uint64 // retries sent
	Denied   uint64 // retries the budget refused
}

// targetStates are the values of the state label, one-hot per target.
var targetStates = [...]string{"healthy", "half_open", "ejected", "unhealthy", "draining"}

// upstreamCollector reads the pools' live state at scrape time: the
// request path pays nothing, and series follow the current targets (no
// stale series for targets that discovery removed).
type upstreamCollector struct {
	snapshot func() ([]PoolStats, []TargetStats)

	state, inFlight, requests, failures, ejections, ewma, weight, latency *prometheus.Desc
	breaker, eligible, inUse, queued, retries, denied                     *prometheus.Desc
}

// RegisterUpstreams exports upstream and target metrics from snapshot.
func (m *Metrics) RegisterUpstreams(snapshot func() ([]PoolStats, []TargetStats)) {
	t := []string{"upstream", "target"}
	c := &upstreamCollector{
		snapshot:  snapshot,
		state:     prometheus.NewDesc("floodgate_upstream_target_state", "Target health, one series per state with value 1 for the current one.", append(t, "state"), nil),
		inFlight:  prometheus.NewDesc("floodgate_upstream_target_in_flight", "Requests in flight on the target.", t, nil),
		requests:  prometheus.NewDesc("floodgate_upstream_target_requests_total", "Exchanges started with the target.", t, nil),
		failures:  prometheus.NewDesc("floodgate_upstream_target_failures_total", "Exchanges with the target that failed (connect, timeout, reset, 5xx, slow).", t, nil),
		ejections: prometheus.NewDesc("floodgate_upstream_target_ejections_total", "Ejections of the target by reason (consecutive failures, failure rate, hang, probe, failed trial).", append(t, "reason"), nil),
		ewma:      prometheus.NewDesc("floodgate_upstream_target_latency_ewma_seconds", "Recent time to response head (EWMA) the balancer uses.", t, nil),
		weight:    prometheus.NewDesc("floodgate_upstream_target_weight", "Current balancing weight.", t, nil),
		latency:   prometheus.NewDesc("floodgate_upstream_target_latency_seconds", "Time to response head per target.", t, nil),
		breaker:   prometheus.NewDesc("floodgate_upstream_breaker_state", "Upstream circuit breaker, one series per state with value 1 for the current one.", []string{"upstream", "state"}, nil),
		eligible:  prometheus.NewDesc("floodgate_upstream_eligible_targets", "Targets new requests may go to.", []string{"upstream"}, nil),
		inUse:     prometheus.NewDesc("floodgate_upstream_concurrency", "Requests holding a bulkhead slot.", []string{"upstream"}, nil),
		queued:    prometheus.NewDesc("floodgate_upstream_queued", "Requests waiting for a bulkhead slot.", []string{"upstream"}, nil),
		retries:   prometheus.NewDesc("floodgate_upstream_retries_total", "Retries sent to the upstream.", []string{"upstream"}, nil),
		denied:    prometheus.NewDesc("floodgate_upstream_retries_denied_total", "Retries not sent because the retry budget was spent.", []string{"upstream"}, nil),
	}
	m.Registry.MustRegister(c)
}

func (c *upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.inFlight, c.requests, c.failures, c.ejections, c.ewma, c.weight, c.latency, c.breaker, c.eligible, c.inUse, c.queued, c.retries, c.denied} {
		ch <- d
	}
}

func (c *upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	pools, targets := c.snapshot()
	for _, p := range pools {
		ch <- prometheus.MustNewConstMetric(c.eligible, prometheus.GaugeValue, float64(p.Eligible), p.Upstream)
		ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(p.Retries), p.Upstream)
		ch <- prometheus.MustNewConstMetric(c.denied, prometheus.CounterValue, float64(p.Denied), p.Upstream)
		if p.Breaker != "" {
			for _, s := range [...]string{"closed", "open", "half_open"} {
				ch <- prometheus.MustNewConstMetric(c.breaker, prometheus.GaugeValue, b2f(s == p.Breaker), p.Upstream, s)
			}
		}
		if p.InUse >= 0 {
			ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(p.InUse), p.Upstream)
			ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(p.Queued), p.Upstream)
		}
	}
	for _, t := range targets {
		for _, s := range targetStates {
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, b2f(s == t.State), t.Upstream, t.Target, s)
		}
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(t.InFlight), t.Upstream, t.Target)
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(t.Requests), t.Upstream, t.Target)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(t.Failures), t.Upstream, t.Target)
		for reason, n := range t.Ejections {
			ch <- prometheus.MustNewConstMetric(c.ejections, prometheus.CounterValue, float64(n), t.Upstream, t.Target, reason)
		}
		ch <- prometheus.MustNewConstMetric(c.ewma, prometheus.GaugeValue, t.LatencyEWMA, t.Upstream, t.Target)
		ch <- prometheus.MustNewConstMetric(c.weight, prometheus.GaugeValue, float64(t.Weight), t.Upstream, t.Target)
		ch <- prometheus.MustNewConstHistogram(c.latency, t.LatencyCount, t.LatencySum, t.LatencyBuckets, t.Upstream, t.Target)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
